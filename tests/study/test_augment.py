"""study.data.augment: registry, the homography against the pixels, reflections, count audit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from study.data import augment
from study.config.spec import TrainSpec
from study.data.tasks import build_task
from synth.render import render_scenes
from synth.sampling import sample_scenes
from synth.scenes import Scene, SceneRecipe


def one_circle(width: int, height: int, x: float, y: float, radius: float) -> Scene:
    return Scene(width=width, height=height, centers=[[x, y]], radii=[radius], colors=[[0, 0, 0]])


def ink_centroid(image: torch.Tensor) -> tuple[float, float, float]:
    """Centre of mass ``(x, y)`` and area of dark ink in a float ``[3, S, S]`` image (pixel-centre coordinates)."""
    ink = (1 - image).mean(0).double()  # [S, S]
    size = ink.shape[0]
    centres = torch.arange(size, dtype=torch.float64) + 0.5
    ys, xs = torch.meshgrid(centres, centres, indexing="ij")
    total = ink.sum()
    return float((ink * xs).sum() / total), float((ink * ys).sum() / total), float(total)


def test_registry_lists_every_policy_and_rejects_unknown_names():
    assert {"none", "fastai", "sensible"} <= set(augment.available())
    with pytest.raises(ValueError, match="valid: .*fastai"):
        augment.create("fastia")
    with pytest.raises(ValueError, match="unknown parameter 'max_rotation'"):
        augment.create("fastai", max_rotation=5)
    assert augment.create("fastai", max_rotate=30.0, size=48).max_rotate == 30.0


@pytest.mark.parametrize("name", augment.available())
def test_every_policy_gives_seeded_float_batches_at_size(name):
    images = torch.randint(0, 256, (4, 3, 24, 32), dtype=torch.uint8)
    policy = augment.create(name, size=20)
    first = policy(images, torch.Generator().manual_seed(1))
    second = policy(images, torch.Generator().manual_seed(1))
    assert first.shape == (4, 3, 20, 20) and first.dtype == torch.float32
    assert 0 <= float(first.min()) and float(first.max()) <= 1
    assert torch.equal(first, second)


def test_eval_transform_is_an_exact_centre_crop_or_a_squish_and_identity_at_size():
    images = torch.randint(0, 256, (2, 3, 32, 48), dtype=torch.uint8)
    # fastai: shorter side already 32, crop offset int((48 - 32 + 1) * 0.5) = 8
    cropped = augment.eval_transform(images, 32, resize="crop")
    assert torch.allclose(cropped * 255, images[..., 8:40].float(), atol=1e-3)
    squished = augment.eval_transform(images, 32)  # default squish: every column reaches the output
    expected = torch.nn.functional.interpolate(images.float(), size=(32, 32), mode="bilinear", align_corners=True)
    assert squished.shape == (2, 3, 32, 32)
    assert torch.allclose(squished[..., 0] * 255, images[..., 0].float(), atol=1e-3)  # first column kept
    assert torch.allclose(squished[..., -1] * 255, images[..., -1].float(), atol=1e-3)  # last column kept
    assert torch.allclose(squished * 255, expected, atol=1e-2)
    square = images[..., :32]
    assert torch.equal(augment.create("none", size=32)(square) * 255, square.float())


@pytest.mark.parametrize("eval_resize", ["squish", "crop"])
def test_every_policy_shares_one_eval_transform(eval_resize):
    images = torch.randint(0, 256, (3, 3, 48, 64), dtype=torch.uint8)  # a 4:3 canvas
    outputs = [augment.create(name, size=32, eval_resize=eval_resize).eval_transform(images)
               for name in augment.available()]
    assert all(torch.equal(outputs[0], output) for output in outputs[1:])
    assert torch.equal(outputs[0], augment.eval_transform(images, 32, resize=eval_resize))
    with pytest.raises(ValueError, match="eval_resize: unknown 'pad'; valid: crop, squish"):
        augment.create("fastai", eval_resize="pad")


@pytest.mark.parametrize("canvas_hw", [(64, 64), (48, 64)])
def test_matrix_maps_circle_centres_where_grid_sample_moves_the_pixels(canvas_hw):
    height, width = canvas_hw
    policy = augment.create("fastai", size=64, max_lighting=0.0)  # geometry only, so ink is exact
    generator = torch.Generator().manual_seed(3)
    rng = np.random.default_rng(3)
    checked = 0
    for _ in range(25):
        scene = one_circle(width, height, width / 2 + rng.uniform(-6, 6), height / 2 + rng.uniform(-6, 6), 3.0)
        params = policy.sample(1, canvas_hw, generator)
        output = policy.apply(render_scenes([scene]), params)[0]
        visible = augment.visible_circles(params.matrices[0].numpy(), scene, canvas_hw, 64)
        if not visible["whole"][visible["copy"] == 4].all() or (visible["whole"] | visible["partial"]).sum() != 1:
            continue  # only compare when exactly the original circle shows, whole
        x, y, area = ink_centroid(output)
        original = visible["copy"] == 4
        expected_x, expected_y = visible["centers"][original][0]
        assert abs(x - expected_x) < 0.2 and abs(y - expected_y) < 0.2
        assert area == pytest.approx(np.pi * visible["radii"][original][0] ** 2, rel=0.05)
        checked += 1
    assert checked >= 15


def test_reflection_padding_mirror_appears_where_predicted():
    # Shift the content 12 px right: output x maps to input x - 12, so the
    # left 12 output columns show the mirror image about x = 0.5 (align_corners).
    scene = one_circle(64, 64, 6.0, 32.0, 3.0)
    shift = torch.tensor([[[1.0, 0.0, -12.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]], dtype=torch.float64)
    params = augment.AugmentParams(shift, torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64))
    policy = augment.create("none", size=64)
    output = policy.apply(render_scenes([scene]), params)[0]
    visible = augment.visible_circles(shift[0].numpy(), scene, (64, 64), 64)
    shown = visible["whole"]
    assert shown.sum() == 2 and not visible["partial"].any()
    predicted = sorted(visible["centers"][shown][:, 0].tolist())
    assert predicted == pytest.approx([7.0, 18.0])  # mirror at 1 - 6 = -5 -> 7; original 6 -> 18
    left_x, _, _ = ink_centroid(torch.cat([output[:, :, :12], torch.ones(3, 64, 52)], 2))
    right_x, _, _ = ink_centroid(torch.cat([torch.ones(3, 64, 12), output[:, :, 12:]], 2))
    assert left_x == pytest.approx(7.0, abs=0.15) and right_x == pytest.approx(18.0, abs=0.15)


def counting_scenes(counts: str, size: int, aspect: float = 1.0) -> list[Scene]:
    spec = TrainSpec(counts=counts, size=size, n_train=120, n_test=0, n_test_dewind=0, aspect=aspect)
    return build_task(spec, "cpu").splits["train"].scenes


def test_sensible_preserves_every_count_and_fastai_changes_many_at_45_to_50():
    scenes = counting_scenes("45-50", 64)
    sensible = augment.count_audit(augment.create("sensible"), scenes, (64, 64), size=64, samples=300, seed=0)
    assert sensible["label_noise_rate"] == 0.0
    assert sensible["whole"] == sensible["labels"] and sum(sensible["partial"]) == 0
    fastai = augment.count_audit(augment.create("fastai"), scenes, (64, 64), size=64, samples=300, seed=0)
    assert fastai["label_noise_rate"] > 0.5  # crop/zoom/rotate/warp clip or mirror circles in most samples
    assert set(fastai["per_count"]) == {str(c) for c in range(45, 51)}
    assert all(0 <= row["label_noise_rate"] <= 1 for row in fastai["per_count"].values())


@pytest.mark.parametrize("counts, aspect, distractors", [("45-50", 1.0, "0"), ("1-5", 4 / 3, "1-3")])
def test_count_audit_counts_each_sample_as_visible_circles_does(counts, aspect, distractors):
    # count_audit maps every sample's circles at once, in chunks; per sample it must say what
    # visible_circles says of that one (scene, matrix) pair: the reference, one sample at a time.
    spec = TrainSpec(counts=counts, size=48, n_train=60, n_test=0, n_test_dewind=0, aspect=aspect,
                     distractors=distractors)
    scenes = build_task(spec, "cpu").splits["train"].scenes
    policy = augment.create("fastai", size=48)
    audit = augment.count_audit(policy, scenes, samples=600, seed=3)  # three chunks, the last one short
    generator = torch.Generator().manual_seed(3)
    chosen = torch.randint(len(scenes), (600,), generator=generator).numpy()
    canvas_hw = (scenes[0].height, scenes[0].width)
    matrices = policy.sample(600, canvas_hw, generator, train=True).matrices.numpy()
    whole, partial = [], []
    for index, matrix in zip(chosen, matrices):
        visible = augment.visible_circles(matrix, scenes[index], canvas_hw, 48)
        whole.append(int((visible["whole"] & visible["target"]).sum()))
        partial.append(int((visible["partial"] & visible["target"]).sum()))
    assert audit["whole"] == whole and audit["partial"] == partial
    assert audit["labels"] == [scenes[index].count for index in chosen]
    assert 0 < sum(partial) and 0 < audit["label_noise_rate"] < 1  # the case is not trivial


def test_centre_crop_of_a_wide_canvas_cuts_circles_but_squish_keeps_them():
    scenes = counting_scenes("3-5", 64, aspect=4 / 3)
    cropped = augment.count_audit(augment.create("none"), scenes, size=64, samples=200, seed=0)
    squished = augment.count_audit(augment.create("none", resize="squish"), scenes, size=64, samples=200, seed=0)
    assert cropped["label_noise_rate"] > 0.1
    assert squished["label_noise_rate"] == 0.0


def test_lighting_is_monotone_per_sample_and_keeps_geometry():
    images = torch.linspace(0, 255, 64).round().to(torch.uint8).view(1, 1, 1, 64).expand(2, 3, 64, 64).contiguous()
    policy = augment.create("sensible", size=64, dihedral_p=0.0, lighting_p=1.0)
    output = policy(images, torch.Generator().manual_seed(0))
    row = output[:, 0, 0]  # [2, 64]
    assert (row[:, 1:] >= row[:, :-1] - 1e-6).all()  # brightness/contrast keep the order of intensities
    assert not torch.allclose(output, images.float() / 255, atol=1e-3)


def test_count_audit_agrees_with_connected_components_of_the_augmented_pixels():
    from scipy import ndimage

    # Wide gaps so circles never merge into one blob; a non-square canvas so the crop matters.
    spec = TrainSpec(counts="1-5", size=64, n_train=200, n_test=0, n_test_dewind=0, radius=4.0, min_gap=6.0,
                     aspect=1.25)
    task = build_task(spec, "cpu")
    policy = augment.create("fastai", size=64)
    params = policy.sample(len(task.splits["train"].scenes), task.canvas_hw, torch.Generator().manual_seed(0))
    output = policy.apply(task.splits["train"].images, params)  # [N, 3, 64, 64]
    checked = 0
    for index, scene in enumerate(task.splits["train"].scenes):
        visible = augment.visible_circles(params.matrices[index].numpy(), scene, task.canvas_hw, 64)
        # Skip samples with any circle or mirror within 1.5 px of a frame line: there a
        # faint anti-aliased sliver decides, and the audit's local linearisation is not pixel exact.
        clearance = np.abs(visible["centers"][:, None, :] - np.array([0.0, 64.0])[None, :, None]).min(1)
        if (np.abs(clearance - visible["radii"][:, None]) < 1.5).any():
            continue
        labels, blobs = ndimage.label((1 - output[index]).mean(0).numpy() > 0.05)
        edges = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
        on_border = len(set(edges.tolist()) - {0})
        assert (blobs - on_border, on_border) == (visible["whole"].sum(), visible["partial"].sum()), index
        checked += 1
    assert checked >= 25


def whole_components(image: torch.Tensor, threshold: float) -> int:
    """Connected ink blobs of a float ``[3, S, S]`` image that do not touch the outermost pixels."""
    from scipy import ndimage

    labels, blobs = ndimage.label((1 - image).mean(0).numpy() > threshold)
    on_border = set(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]).tolist()) - {0}
    return blobs - len(on_border)


def whole_at_frame_edges(matrix: np.ndarray, scene: Scene, canvas_hw: tuple[int, int], size: int) -> int:
    """The audit's whole count with the bound it used to have: boxes inside ``[0, size]`` (frame edges)."""
    mirrored, _ = augment._reflections(scene.centers, *canvas_hw)
    centres, _, axes = augment.map_circles(matrix, mirrored.reshape(-1, 2), np.tile(scene.radii, 9))
    extent = np.linalg.norm(axes, axis=2)
    return int((((centres - extent) >= 0) & ((centres + extent) <= size)).all(1).sum())


@pytest.mark.parametrize("counts, floor", [("1-5", 0.95), ("45-50", 0.8)])
def test_whole_count_agrees_with_connected_components_of_the_warped_pixels(counts, floor):
    # Every sample, near the frame or not: the audit's whole count against the blobs of the
    # pixels grid_sample actually produced. Lighting off so the ink threshold means one thing:
    # half the ink of a circle's colour, so anti-aliased rims of 1 px gaps do not bridge.
    task = build_task(TrainSpec(counts=counts, size=64, n_train=250, n_test=0, n_test_dewind=0), "cpu")
    scenes = task.splits["train"].scenes  # 200
    policy = augment.create("fastai", size=64, max_lighting=0.0)
    params = policy.sample(len(scenes), task.canvas_hw, torch.Generator().manual_seed(0))
    output = policy.apply(task.splits["train"].images, params)  # [200, 3, 64, 64]
    threshold = 0.5 * (1 - np.mean(scenes[0].colors[0]) / 255)
    fixed = old = 0
    for index, scene in enumerate(scenes):
        matrix = params.matrices[index].numpy()
        blobs = whole_components(output[index], threshold)
        fixed += blobs == augment.visible_circles(matrix, scene, task.canvas_hw, 64)["whole"].sum()
        old += blobs == whole_at_frame_edges(matrix, scene, task.canvas_hw, 64)
    assert fixed / len(scenes) >= floor
    assert fixed > old  # the pixel-centre bound beats the frame-edge bound it replaced


def test_count_audit_of_square_scenes_without_augmentation_is_exact():
    spec = SceneRecipe(counts=(3, 12), width=64, height=64, radius=3, min_gap=1, margin=1, shape="square",
                     distractors=(0, 3))
    scenes = sample_scenes(spec, 40, seed=0)
    audit = augment.count_audit(augment.create("none"), scenes, (64, 64), size=64, samples=200, seed=0)
    assert audit["label_noise_rate"] == 0.0 and sum(audit["partial"]) == 0
    assert audit["whole"] == audit["labels"]  # targets only: distractors are never counted
    assert all(3 <= label <= 12 for label in audit["labels"])


def test_visible_items_use_extent_radii_and_flag_targets():
    # A square of radius 4 (half-side 3.54, extent 5.01) centred 5.5 px from the left edge: its circle of
    # equal area (radius 4) would be whole in the [0.5, 63.5] frame; its extent circle is not.
    scene = Scene(width=64, height=64, centers=[[5.5, 32.0], [32.0, 32.0]], radii=[4.0, 4.0], colors=[[0, 0, 0]] * 2,
                  shapes=[1, 1], targets=[False, True])
    visible = augment.visible_circles(np.eye(3), scene, (64, 64), 64)
    original = visible["copy"] == 4
    assert visible["target"][original].tolist() == [False, True]
    assert visible["partial"][original].tolist() == [True, False]
    assert visible["radii"][original].tolist() == pytest.approx([4.0, 4.0])  # equal-area radii, unscaled
    circles = augment.visible_circles(np.eye(3), scene.replace(shapes=[0, 0]), (64, 64), 64)
    assert circles["whole"][circles["copy"] == 4].tolist() == [True, True]


def test_a_clipped_distractor_is_not_label_noise():
    # Identity policy; the distractor's extent circle crosses the frame, the target is whole: no label changes.
    scene = Scene(width=64, height=64, centers=[[5.5, 32.0], [32.0, 32.0]], radii=[4.0, 4.0], colors=[[0, 0, 0]] * 2,
                  shapes=[1, 1], targets=[False, True])
    audit = augment.count_audit(augment.create("none"), [scene], (64, 64), size=64, samples=5, seed=0)
    assert audit["label_noise_rate"] == 0.0 and audit["labels"] == [1] * 5 and audit["whole"] == [1] * 5
    flipped = scene.replace(targets=[True, False])
    assert augment.count_audit(augment.create("none"), [flipped], (64, 64), size=64, samples=5, seed=0)[
        "label_noise_rate"] == 1.0
