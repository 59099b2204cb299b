import math

import numpy as np
import pytest

from synth.numerosity import (
    DESCRIPTOR_NAMES,
    HULL_TOLERANCE,
    constant_area_radii,
    describe_scene,
    describe_scenes,
    dewind_design_box,
    dewind_ranges,
    sample_constant_area_scenes,
    sample_constant_hull_scenes,
    sample_dewind_scenes,
)
from synth.sampling import sample_scenes
from synth.scenes import (
    DISTRACTOR_COLOR,
    SHAPES,
    InfeasibleSceneError,
    Scene,
    SceneRecipe,
    auto_gap,
    auto_radius,
    extent_radii,
)


def test_descriptors_by_hand():
    scene = Scene(width=100, height=100, centers=[[20, 20], [50, 20], [20, 60]], radii=[2, 2, 2],
                  colors=np.zeros((3, 3)), field_area=1200.0)
    d = describe_scene(scene)
    assert set(d) == set(DESCRIPTOR_NAMES)
    assert d["count"] == 3
    assert d["isa"] == pytest.approx(4 * math.pi)
    assert d["tsa"] == pytest.approx(12 * math.pi)
    assert d["field_area"] == 1200.0
    assert d["hull_area"] == pytest.approx(0.5 * 30 * 40)
    assert d["sparsity"] == pytest.approx(400.0)
    assert d["density"] == pytest.approx(3 / 1200)
    assert d["coverage"] == pytest.approx(12 * math.pi / 1200)
    assert d["mean_nn_distance"] == pytest.approx((30 + 30 + 40) / 3)


def log_table(scenes):
    rows = describe_scenes(scenes)
    return {key: np.log([row[key] for row in rows]) for key in ("count", "isa", "tsa", "field_area", "sparsity", "size", "spacing")}


def test_dewind_identities_hold_per_scene():
    recipe = SceneRecipe(counts=(5, 20), width=128, height=128, radius_range=(2.0, 5.0), control="dewind")
    logs = log_table(sample_scenes(recipe, 120, seed=0))
    assert np.allclose(logs["tsa"], logs["count"] + logs["isa"])
    assert np.allclose(logs["sparsity"], logs["field_area"] - logs["count"])
    assert np.allclose(logs["size"], logs["isa"] + logs["tsa"])
    assert np.allclose(logs["spacing"], logs["field_area"] + logs["sparsity"])


def correlation(a, b):
    return float(np.corrcoef(a, b)[0, 1])


def test_dewind_decorrelates_count_from_size_and_spacing():
    plain = SceneRecipe(counts=(5, 20), width=128, height=128, radius=3.0)
    dewind = SceneRecipe(counts=(5, 20), width=128, height=128, radius_range=(2.0, 5.0), control="dewind")
    plain_logs = log_table(sample_scenes(plain, 400, seed=1))
    dewind_logs = log_table(sample_scenes(dewind, 400, seed=1))
    assert correlation(plain_logs["count"], plain_logs["tsa"]) > 0.99
    assert abs(correlation(dewind_logs["count"], dewind_logs["size"])) < 0.15
    assert abs(correlation(dewind_logs["count"], dewind_logs["spacing"])) < 0.15
    # TSA keeps half of log N by construction (see synth.numerosity): far below plain's 1.0.
    assert abs(correlation(dewind_logs["count"], dewind_logs["tsa"])) < 0.7


def test_dewind_large_counts_decorrelate_total_area():
    recipe = SceneRecipe(counts=(45, 50), width=160, height=160, radius_range=(2.0, 4.0), control="dewind")
    logs = log_table(sample_scenes(recipe, 240, seed=2))
    assert abs(correlation(logs["count"], logs["tsa"])) < 0.2
    assert abs(correlation(logs["count"], logs["isa"])) < 0.2


def test_dewind_circles_lie_in_their_field():
    recipe = SceneRecipe(counts=(3, 9), width=96, height=96, radius_range=(2.0, 5.0), control="dewind")
    for scene in sample_scenes(recipe, 40, seed=3):
        field_radius = math.sqrt(scene.field_area / math.pi)
        assert (np.linalg.norm(scene.centers - 48, axis=1) <= field_radius + 1e-9).all()
        assert np.allclose(scene.radii, scene.radii[0])  # one ISA per scene


def test_dewind_too_narrow_radius_range_is_explained():
    recipe = SceneRecipe(counts=(1, 100), width=128, height=128, radius_range=(3.0, 3.5), control="dewind")
    with pytest.raises(InfeasibleSceneError, match="radius range .* too narrow"):
        dewind_ranges(recipe)


def stratified_recipe(counts, size):
    return SceneRecipe(counts=counts, width=size, height=size, radius=auto_radius(size, size, counts[1]),
                     min_gap=auto_gap(size), control="dewind")


@pytest.mark.parametrize("size", [64, 224])
@pytest.mark.parametrize("counts", [(1, 5), (6, 10), (11, 20), (21, 30), (45, 50)])
def test_dewind_axes_are_mutually_decorrelated(counts, size):
    # Packing rejection used to tie Size to Spacing (corr ~0.5 at 45-50); the stratified box must not.
    logs = log_table(sample_scenes(stratified_recipe(counts, size), 500, seed=0))
    assert abs(correlation(logs["count"], logs["size"])) < 0.1
    assert abs(correlation(logs["count"], logs["spacing"])) < 0.1
    assert abs(correlation(logs["size"], logs["spacing"])) < 0.1
    # And the axes really vary: at least a factor e in Size and in Spacing, not a collapsed box.
    assert np.ptp(logs["size"]) > 1.0 and np.ptp(logs["spacing"]) > 0.8


def test_dewind_design_box_lies_inside_the_reachable_ranges():
    recipe = stratified_recipe((45, 50), 64)
    box, ranges = dewind_design_box(recipe), dewind_ranges(recipe)
    assert ranges["log_size"][0] <= box["log_size"][0] < box["log_size"][1] <= ranges["log_size"][1]
    assert ranges["log_spacing"][0] <= box["log_spacing"][0] < box["log_spacing"][1] <= ranges["log_spacing"][1]


def test_dewind_is_deterministic_per_seed():
    recipe = stratified_recipe((6, 10), 64)
    first, again, other = (sample_scenes(recipe, 30, seed) for seed in (7, 7, 8))
    assert [s.to_dict() for s in first] == [s.to_dict() for s in again]
    assert [s.to_dict() for s in first] != [s.to_dict() for s in other]


@pytest.mark.parametrize("shape", ["square", "triangle", "mixed"])
def test_dewind_with_shapes_decorrelates_count_from_size_and_spacing(shape):
    recipe = SceneRecipe(counts=(1, 8), width=64, height=64, radius_range=(2.0, 6.0), min_gap=1, control="dewind",
                     shape=shape)
    scenes = sample_dewind_scenes(recipe, 500, seed=0)
    rows = describe_scenes(scenes)
    log_n, log_size, log_spacing = (np.log([row[key] for row in rows]) for key in ("count", "size", "spacing"))
    assert abs(np.corrcoef(log_n, log_size)[0, 1]) < 0.1
    assert abs(np.corrcoef(log_n, log_spacing)[0, 1]) < 0.1
    for scene in scenes[:50]:  # packed by extent: every item inside the canvas
        extents = extent_radii(scene)
        assert (scene.centers - extents[:, None] >= recipe.margin - 1e-9).all()
        assert (scene.centers + extents[:, None] <= 64 - recipe.margin + 1e-9).all()
    if shape != "mixed":
        assert all((s.shapes == SHAPES.index(shape)).all() for s in scenes)


def test_descriptors_describe_targets_only():
    targets = Scene(width=40, height=40, centers=[[10, 10], [30, 10]], radii=[2.0, 3.0], colors=[[0, 0, 0]] * 2)
    with_distractor = Scene(width=40, height=40, centers=[[10, 10], [30, 10], [20, 30]], radii=[2.0, 3.0, 5.0],
                            colors=[[0, 0, 0]] * 3, targets=[True, True, False], shapes=[1, 2, 0])
    assert describe_scene(with_distractor) == describe_scene(targets)
    assert describe_scene(targets)["tsa"] == pytest.approx(math.pi * 13)


def test_dewind_with_distractors_keeps_labels_and_packs_them_in_the_field():
    recipe = SceneRecipe(counts=(1, 6), width=64, height=64, radius_range=(2.0, 5.0), min_gap=1, control="dewind",
                     shape="square", distractors=(1, 2))
    scenes = sample_dewind_scenes(recipe, 60, seed=0)
    assert [s.count for s in scenes] == [1 + i % 6 for i in range(60)]
    assert all(1 <= s.n_items - s.count <= 2 for s in scenes)
    assert all((s.colors[~s.targets] == DISTRACTOR_COLOR).all() for s in scenes)
    assert all(np.allclose(s.radii, s.radii[0]) for s in scenes)  # distractors share the scene's item size


# ---------------------------------------------------------------- Nasr et al.'s control sets

CONTROL_SPECS = [SceneRecipe(counts=(1, 5), width=32, height=32, radius=1.28, min_gap=1.0),
                 SceneRecipe(counts=(1, 12), width=64, height=64, radius=2.56, min_gap=1.0),
                 SceneRecipe(counts=(45, 50), width=224, height=224, radius=8.0, min_gap=3.5)]


@pytest.mark.parametrize("recipe", CONTROL_SPECS, ids=lambda s: f"{s.counts[0]}-{s.counts[1]}@{s.width}")
def test_constant_area_scenes_hold_total_area_and_exact_counts(recipe):
    scenes = sample_constant_area_scenes(recipe, 2 * (recipe.counts[1] - recipe.counts[0] + 1), seed=0)
    described = describe_scenes(scenes)
    counts = [d["count"] for d in described]
    assert counts == [recipe.counts[0] + i % (recipe.counts[1] - recipe.counts[0] + 1) for i in range(len(scenes))]
    assert all(scene.n_items == scene.count for scene in scenes)
    tsa = np.array([d["tsa"] for d in described])
    assert np.ptp(tsa) / tsa.mean() < 1e-9  # the same total area to rounding
    radii = constant_area_radii(recipe)
    assert radii[recipe.counts[0]] > radii[recipe.counts[1]]  # fewer items, larger ones
    for scene in scenes:  # inside the canvas, no two items closer than the gap
        assert np.all(scene.centers - scene.radii[:, None] >= recipe.margin - 1e-9)
        assert np.all(scene.centers + scene.radii[:, None] <= np.array([recipe.width, recipe.height]) - recipe.margin + 1e-9)
        distance = np.linalg.norm(scene.centers[:, None] - scene.centers[None], axis=-1)
        gaps = distance - scene.radii[:, None] - scene.radii
        assert np.all(gaps[~np.eye(scene.count, dtype=bool)] >= recipe.min_gap - 1e-9)


@pytest.mark.parametrize("recipe", CONTROL_SPECS, ids=lambda s: f"{s.counts[0]}-{s.counts[1]}@{s.width}")
def test_constant_hull_scenes_hold_the_hull_within_tolerance_and_exact_counts(recipe):
    scenes = sample_constant_hull_scenes(recipe, 2 * (recipe.counts[1] - recipe.counts[0] + 1), seed=0)
    described = describe_scenes(scenes)
    assert [d["count"] for d in described] == [s.count for s in scenes]
    assert sorted({d["count"] for d in described}) == list(range(recipe.counts[0], recipe.counts[1] + 1))
    hull = np.array([d["hull_area"] for d in described if d["count"] >= 3])
    assert hull.max() / hull.min() <= (1 + HULL_TOLERANCE) / (1 - HULL_TOLERANCE) + 1e-9
    if recipe.counts[0] == 1:  # on small ranges the fixed-radius scenes' hulls spread far wider
        fixed = np.array([d["hull_area"] for d in describe_scenes(sample_scenes(recipe, len(scenes), seed=0))
                          if d["count"] >= 3])
        assert fixed.max() / fixed.min() > 3


def test_control_sets_refuse_what_cannot_be_drawn():
    with pytest.raises(InfeasibleSceneError, match="constant hull"):
        sample_constant_hull_scenes(SceneRecipe(counts=(1, 15), width=16, height=16, radius=1.0, min_gap=1.0), 4, 0)
    with pytest.raises(InfeasibleSceneError):
        sample_constant_area_scenes(SceneRecipe(counts=(1, 60), width=16, height=16, radius=1.0, min_gap=1.0), 4, 0)
