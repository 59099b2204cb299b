"""Item shapes, colours, distractors and overlap: geometry, labels and sampling with known answers."""

import math

import numpy as np
import pytest

from synth.edit import is_valid
from synth.sampling import sample_scenes
from synth.scenes import (
    DEFAULT_COLOR,
    DISTRACTOR_COLOR,
    EXTENT_FACTORS,
    SHAPES,
    InfeasibleSceneError,
    Scene,
    SceneRecipe,
    extent_radii,
    place_circles,
    random_colours,
)


def test_extent_factors_are_the_circumradii_of_equal_area_shapes():
    circle, square, triangle = EXTENT_FACTORS
    assert circle == 1.0
    side = math.sqrt(math.pi)  # a square of area pi (r = 1)
    assert square == pytest.approx(side * math.sqrt(2) / 2)
    triangle_side = triangle * math.sqrt(3)  # circumradius R -> side R sqrt(3); its area must be pi
    assert math.sqrt(3) / 4 * triangle_side**2 == pytest.approx(math.pi)


def test_scene_defaults_count_and_extent_radii():
    scene = Scene(width=40, height=40, centers=[[10, 10], [30, 30], [10, 30]], radii=[2.0, 2.0, 3.0],
                  colors=[[0, 0, 0]] * 3, shapes=[0, 1, 2], targets=[True, False, True])
    assert scene.count == 2 and scene.n_items == 3
    assert extent_radii(scene) == pytest.approx([2.0, 2.0 * EXTENT_FACTORS[1], 3.0 * EXTENT_FACTORS[2]])
    plain = Scene(width=8, height=8, centers=[[4, 4]], radii=[1], colors=[[0, 0, 0]])
    assert plain.shapes.tolist() == [0] and plain.targets.tolist() == [True] and plain.count == 1


def test_bad_scene_arrays_are_refused():
    with pytest.raises(ValueError, match="1 shapes"):
        Scene(width=8, height=8, centers=[[4, 4], [2, 2]], radii=[1, 1], colors=[[0, 0, 0]] * 2, shapes=[1])
    with pytest.raises(ValueError, match="codes must be 0..2"):
        Scene(width=8, height=8, centers=[[4, 4]], radii=[1], colors=[[0, 0, 0]], shapes=[5])


def test_dict_round_trip_carries_shape_and_target_and_old_dicts_read_as_circles():
    scene = Scene(width=40, height=30, centers=[[10, 10], [30, 20]], radii=[2.0, 3.0], colors=[[1, 2, 3]] * 2,
                  shapes=[2, 1], targets=[False, True])
    data = scene.to_dict()
    assert [c["shape"] for c in data["circles"]] == ["triangle", "square"]
    again = Scene.from_dict(data)
    assert again.shapes.tolist() == [2, 1] and again.targets.tolist() == [False, True] and again.count == 1
    old = {"width": 8, "height": 8, "circles": [{"x": 4, "y": 4, "r": 1, "color": [0, 0, 0]}]}
    assert Scene.from_dict(old).shapes.tolist() == [0] and Scene.from_dict(old).count == 1
    data["circles"][0]["shape"] = "star"
    with pytest.raises(ValueError, match="unknown shape 'star'; valid: circle, square, triangle"):
        Scene.from_dict(data)


def test_rescaled_scales_geometry_uniformly():
    scene = Scene(width=32, height=24, centers=[[10, 12]], radii=[3.0], colors=[[0, 0, 0]], field_area=100.0,
                  shapes=[1], targets=[True])
    big = scene.rescaled(64, 48)
    assert (big.width, big.height) == (64, 48)
    assert big.centers.tolist() == [[20, 24]] and big.radii.tolist() == [6.0] and big.field_area == 400.0
    assert big.shapes.tolist() == [1]
    with pytest.raises(ValueError, match="not 32x24 scaled uniformly"):
        scene.rescaled(64, 64)


@pytest.mark.parametrize("shape", ["circle", "square", "triangle", "mixed"])
def test_items_keep_their_extent_gap_and_margin(shape):
    recipe = SceneRecipe(counts=(8, 12), width=96, height=80, radius_range=(2.0, 4.0), min_gap=1.5, margin=2.0,
                     shape=shape, distractors=(0, 3))
    scenes = sample_scenes(recipe, 30, seed=1)
    for scene in scenes:
        assert is_valid(scene, min_gap=1.5, margin=2.0)  # is_valid measures extent circles
        assert set(SHAPES[code] for code in scene.shapes[scene.targets]) <= set(recipe.target_shapes)
    if shape == "mixed":
        assert {code for s in scenes for code in s.shapes} == {0, 1, 2}


def test_labels_count_targets_only_and_distractors_follow_their_range():
    recipe = SceneRecipe(counts=(2, 5), width=96, height=96, radius=3, distractors=(1, 3))
    scenes = sample_scenes(recipe, 40, seed=0)
    assert [s.count for s in scenes] == [2 + i % 4 for i in range(40)]
    extras = [s.n_items - s.count for s in scenes]
    assert min(extras) == 1 and max(extras) == 3
    assert all(s.count == int(s.targets.sum()) for s in scenes)


def test_colour_distractors_are_orange_and_shaped_like_targets():
    recipe = SceneRecipe(counts=(3, 3), width=96, height=96, radius=3, shape="square", distractors=(2, 2))
    for scene in sample_scenes(recipe, 10, seed=0):
        assert (scene.colors[~scene.targets] == DISTRACTOR_COLOR).all()
        assert (scene.colors[scene.targets] == DEFAULT_COLOR).all()
        assert (scene.shapes == SHAPES.index("square")).all()


@pytest.mark.parametrize("shape, other", [("circle", "square"), ("square", "circle"), ("triangle", "circle")])
def test_shape_distractors_take_the_other_shape(shape, other):
    recipe = SceneRecipe(counts=(3, 3), width=96, height=96, radius=3, shape=shape, distractors=(2, 2),
                     distractor_kind="shape")
    for scene in sample_scenes(recipe, 10, seed=0):
        assert (scene.shapes[scene.targets] == SHAPES.index(shape)).all()
        assert (scene.shapes[~scene.targets] == SHAPES.index(other)).all()
        assert (scene.colors == DEFAULT_COLOR).all()


def test_distractors_are_not_always_last():
    recipe = SceneRecipe(counts=(3, 3), width=96, height=96, radius=3, distractors=(2, 2))
    positions = {int(np.flatnonzero(~s.targets)[0]) for s in sample_scenes(recipe, 20, seed=0)}
    assert len(positions) > 1  # order carries no label (it decides who is drawn on top)


def test_random_colours_vary_in_hue_and_stay_away_from_the_background():
    rng = np.random.default_rng(0)
    for background in ((255, 255, 255), (0, 0, 0), (128, 128, 128), (200, 60, 60)):
        colours = random_colours(400, background, rng).astype(float)
        assert np.linalg.norm(colours - background, axis=1).min() >= 96
        assert len({tuple(c) for c in colours}) > 100
    recipe = SceneRecipe(counts=(4, 4), width=64, height=64, radius=3, colour="random")
    scene = sample_scenes(recipe, 1, seed=0)[0]
    assert len({tuple(c) for c in scene.colors}) == 4


def test_overlap_gives_overlapping_pairs_visible_centres_and_exact_labels():
    recipe = SceneRecipe(counts=(10, 14), width=64, height=64, radius=5, shape="square", overlap=True, distractors=(0, 2))
    scenes = sample_scenes(recipe, 30, seed=0)
    overlapping = 0
    for scene in scenes:
        extents = extent_radii(scene)
        distance = np.linalg.norm(scene.centers[:, None] - scene.centers[None], axis=-1)
        np.fill_diagonal(distance, np.inf)
        overlapping += int((distance < extents[:, None] + extents[None]).sum()) // 2
        assert (distance >= np.maximum(extents[:, None], extents[None]) - 1e-9).all()  # no centre is covered
        assert all(is_valid(scene.select([k]), margin=recipe.margin) for k in range(scene.n_items))
    assert overlapping > 30
    assert [s.count for s in scenes] == [10 + i % 5 for i in range(30)]


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"shape": "hexagon"}, "shape: unknown 'hexagon'; valid: circle, square, triangle, mixed"),
        ({"colour": "pink"}, "colour: unknown 'pink'; valid: fixed, random"),
        ({"distractor_kind": "size"}, "distractor_kind: unknown 'size'; valid: colour, shape"),
        ({"distractors": (3, 1)}, "distractors: lower bound 3 exceeds upper bound 1"),
        ({"distractors": (-1, 2)}, "distractors: values must be at least 0"),
        ({"shape": "mixed", "distractors": (1, 2), "distractor_kind": "shape"}, "shape 'mixed'"),
        ({"colour": "random", "distractors": (1, 2)}, "colour 'random'"),
        ({"color": DISTRACTOR_COLOR, "distractors": (1, 1)}, "distractor colour"),
        ({"overlap": True, "control": "dewind"}, "overlap with control 'dewind'"),
    ],
)
def test_bad_stimulus_specs_name_the_setting(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        SceneRecipe(**kwargs)


def test_combinations_without_distractors_are_fine():
    SceneRecipe(shape="mixed", distractor_kind="shape")
    SceneRecipe(colour="random", distractor_kind="colour")


def test_feasibility_uses_extents_and_counts_distractors():
    # 64 px, radius 6, gap 2, margin 1: one circle's centre box is 50 px; a triangle's (extent 9.33) is 43.3 px.
    circles = SceneRecipe(counts=(12, 12), width=64, height=64, radius=6)
    sample_scenes(circles, 1, seed=0)
    with pytest.raises(InfeasibleSceneError) as error:
        sample_scenes(SceneRecipe(counts=(12, 12), width=64, height=64, radius=6, shape="triangle"), 1, seed=0)
    assert "12-12 triangles" in str(error.value) and "extent radius up to 9.33" in str(error.value)
    with pytest.raises(InfeasibleSceneError, match=r"for 24 circles \(targets plus distractors\)"):
        sample_scenes(SceneRecipe(counts=(12, 12), width=64, height=64, radius=6, distractors=(12, 12)), 1, seed=0)


def test_plain_specs_draw_nothing_extra_from_the_generator():
    # Circles, fixed colour, no distractors: radii then placement, as the sampler always drew them,
    # so existing seeds keep their scenes.
    recipe = SceneRecipe(counts=(1, 6), width=64, height=64, radius_range=(2.0, 4.0))
    rng = np.random.default_rng(2)
    expected = []
    for count in [1, 2, 3, 4, 5, 6]:
        radii = rng.uniform(2.0, 4.0, size=count)
        expected.append(place_circles(radii, (0.0, 0.0, 64.0, 64.0), (64, 64), recipe.margin, recipe.min_gap, rng))
    scenes = sample_scenes(recipe, 6, seed=2)
    assert all(np.array_equal(scene.centers, centres) for scene, centres in zip(scenes, expected))


def test_replace_with_fewer_items_works_for_plain_scenes_and_refuses_ambiguity():
    plain = Scene(width=40, height=40, centers=[[10, 10], [30, 30]], radii=[2.0, 3.0], colors=[[0, 0, 0]] * 2)
    fewer = plain.replace(centers=plain.centers[:1], radii=plain.radii[:1], colors=plain.colors[:1])
    assert fewer.count == fewer.n_items == 1
    shaped = plain.replace(shapes=[1, 0], targets=[True, False])
    with pytest.raises(ValueError, match="use Scene.select"):
        shaped.replace(centers=plain.centers[:1], radii=plain.radii[:1], colors=plain.colors[:1])
    assert shaped.select([0]).shapes.tolist() == [1] and shaped.select([0]).count == 1
