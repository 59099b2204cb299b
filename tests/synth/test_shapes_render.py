"""Rendering of squares, triangles, distractors and overlapping items, with known answers."""

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from synth.render import circle_masks, needs_layers, render_scenes, render_scenes_matplotlib
from synth.sampling import sample_scenes
from synth.scenes import DISTRACTOR_COLOR, SHAPES, Scene, SceneRecipe


def components(image: torch.Tensor, background=(255, 255, 255)) -> int:
    """Connected components of pixels at least half-way from the background colour."""
    distance = (image.float() - torch.tensor(background, dtype=torch.float32)[:, None, None]).abs().sum(0)
    return ndimage.label((distance > distance.max() / 2).numpy())[1]


def ink(images: torch.Tensor, colour=(0, 0, 0)) -> torch.Tensor:
    """Coverage summed per image, from the red channel on white: ``[N]``."""
    return ((255 - images[:, 0].float()) / (255 - colour[0])).sum(dim=(1, 2))


@pytest.mark.parametrize(
    "shape, distractor_kind",
    [("circle", "colour"), ("square", "colour"), ("triangle", "colour"), ("mixed", "colour"),
     ("circle", "shape"), ("square", "shape"), ("triangle", "shape")],
)
def test_connected_components_equal_the_number_of_items(shape, distractor_kind):
    recipe = SceneRecipe(counts=(1, 9), width=80, height=80, radius_range=(2.0, 4.0), min_gap=1.0, shape=shape,
                     distractors=(0, 3), distractor_kind=distractor_kind)
    scenes = sample_scenes(recipe, 40, seed=3)
    images = render_scenes(scenes)
    assert [components(image) for image in images] == [s.n_items for s in scenes]


@pytest.mark.parametrize("shape", ["square", "triangle"])
@pytest.mark.parametrize("radius", [6.0, 7.3, 11.0])
def test_ink_of_one_item_is_pi_r_squared(shape, radius):
    rng = np.random.default_rng(0)
    centres = 20 + rng.uniform(0, 1, size=(8, 2))  # sub-pixel positions
    scenes = [Scene(width=40, height=40, centers=[c], radii=[radius], colors=[[0, 0, 0]],
                    shapes=[SHAPES.index(shape)]) for c in centres]
    area = ink(render_scenes(scenes))
    assert torch.allclose(area, torch.full((8,), math.pi * radius**2), rtol=0.02)


def test_small_shapes_keep_their_area_too():
    # The coverage is exact, so the 2% holds well below 6 px (up to the 1/255 quantisation).
    scenes = [Scene(width=16, height=16, centers=[[8.3, 7.9]], radii=[2.5], colors=[[0, 0, 0]], shapes=[s])
              for s in (1, 2)]
    assert torch.allclose(ink(render_scenes(scenes)), torch.full((2,), math.pi * 2.5**2), rtol=0.02)


def test_square_and_triangle_pixels_match_the_geometry():
    # Square of side 8 (r = 8 / sqrt(pi)) on pixel boundaries: exactly 64 full pixels, nothing else.
    square = Scene(width=16, height=16, centers=[[8.0, 8.0]], radii=[8 / math.sqrt(math.pi)], colors=[[0, 0, 0]],
                   shapes=[1])
    mask = circle_masks(square)[0]  # the exact coverage
    assert (mask[4:12, 4:12] == 1).all() and mask.sum().item() == pytest.approx(64, abs=1e-4)
    rendered = 1 - render_scenes([square])[0, 0].float() / 255  # the stamp path snaps centres to 1/128 px
    assert (rendered - mask).abs().max() <= 2 / 255
    # Triangle apex up: the top inked row is narrow, the base row wide; exactly left-right symmetric.
    triangle = Scene(width=32, height=32, centers=[[16.0, 16.0]], radii=[6.0], colors=[[0, 0, 0]], shapes=[2])
    mask = circle_masks(triangle)[0]
    row_ink = mask.sum(1)
    rows = row_ink.nonzero().squeeze(1)
    assert row_ink[rows[0]] < 1 and row_ink[rows[-2]] > 10
    assert torch.allclose(mask, mask.flip(1), atol=1e-5)
    extent = 6.0 * 1.5551  # apex at y = 16 - R, base at y = 16 + R / 2
    assert rows[0].item() == math.floor(16 - extent) and rows[-1].item() == math.floor(16 + extent / 2)


@pytest.mark.parametrize("shape", ["square", "triangle", "mixed"])
def test_shapes_match_matplotlib_within_anti_aliasing(shape):
    recipe = SceneRecipe(counts=(1, 6), width=64, height=48, radius=4, shape=shape, distractors=(0, 2))
    scenes = sample_scenes(recipe, 6, seed=0)
    ours, reference = render_scenes(scenes).float(), render_scenes_matplotlib(scenes).float()
    assert (ours - reference).abs().mean() < 0.5
    assert ((ours - reference).abs() > 16).float().mean() < 0.001


def test_colour_distractors_are_drawn_in_the_distractor_colour():
    scene = Scene(width=32, height=16, centers=[[8, 8], [24, 8]], radii=[4, 4],
                  colors=[[31, 119, 180], DISTRACTOR_COLOR], shapes=[1, 1], targets=[True, False])
    image = render_scenes([scene])[0]
    assert image[:, 8, 24].tolist() == list(DISTRACTOR_COLOR) and image[:, 8, 8].tolist() == [31, 119, 180]


def test_overlapping_items_are_drawn_in_order_later_on_top():
    red, green = [255, 0, 0], [0, 255, 0]
    first = Scene(width=32, height=32, centers=[[12, 16], [20, 16]], radii=[6, 6], colors=[red, green], shapes=[1, 2])
    second = first.select([1, 0])
    assert needs_layers(first)
    a, b = render_scenes([first, second])
    overlap = (slice(None), 17, 16)  # inside both items
    assert a[overlap].tolist() == green and b[overlap].tolist() == red
    assert a[:, 16, 8].tolist() == red and b[:, 16, 24].tolist() == green  # the rest of each item is untouched


def test_layered_items_with_one_owner_per_pixel_match_the_general_path():
    # A layered scene next to one that is not: an item alone over a pixel gets the same colour either way.
    red, blue = [255, 0, 0], [0, 0, 255]
    layered = Scene(width=40, height=40, centers=[[10, 10], [16, 10], [30, 30]], radii=[4, 4, 5],
                    colors=[red, blue, red], shapes=[1, 2, 2])
    alone = layered.select([2])
    a, b = render_scenes([layered, alone])
    assert torch.equal(a[:, 20:, 20:], b[:, 20:, 20:])


def test_overlapping_scenes_show_every_item():
    # No item's centre lies under another item, so every item keeps pixels of its own colour.
    recipe = SceneRecipe(counts=(8, 10), width=64, height=64, radius=5, shape="triangle", overlap=True, distractors=(2, 3),
                     distractor_kind="shape", colour="random")
    scenes = sample_scenes(recipe, 10, seed=1)
    for scene, image in zip(scenes, render_scenes(scenes)):
        shown = {tuple(pixel) for pixel in image.flatten(1).T.tolist()}
        assert all(tuple(colour) in shown for colour in scene.colors.tolist())


def test_rescaled_scene_has_four_times_the_ink():
    recipe = SceneRecipe(counts=(3, 6), width=48, height=48, radius=3, shape="mixed", color=(0, 0, 0))
    scenes = sample_scenes(recipe, 10, seed=0)
    small, large = ink(render_scenes(scenes)), ink(render_scenes([s.rescaled(96, 96) for s in scenes]))
    assert torch.allclose(large / small, torch.full((10,), 4.0), rtol=0.03)


@pytest.mark.parametrize("shape", [1, 2])
def test_item_masks_have_the_shape_area(shape):
    scene = Scene(width=48, height=48, centers=[[12.2, 12.7], [33.5, 30.1]], radii=[6.0, 7.0],
                  colors=[[0, 0, 0]] * 2, shapes=[shape, shape], targets=[True, False])
    masks = circle_masks(scene)
    assert masks.shape == (2, 48, 48)
    assert masks.sum(dim=(1, 2)).tolist() == pytest.approx([math.pi * 36, math.pi * 49], rel=1e-3)


def test_circle_scenes_keep_the_stamp_path(monkeypatch):
    from synth import render

    scenes = sample_scenes(SceneRecipe(counts=(3, 6), width=48, height=48, radius=3), 5, seed=0)
    monkeypatch.setattr(render, "_draw_patches", lambda *args, **kwargs: pytest.fail("expected the stamp path"))
    monkeypatch.setattr(render, "_draw_layers", lambda *args, **kwargs: pytest.fail("expected the stamp path"))
    render_scenes(scenes)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu_for_shapes_and_overlap():
    recipe = SceneRecipe(counts=(4, 12), width=64, height=64, radius=4, shape="mixed", overlap=True, distractors=(0, 3))
    scenes = sample_scenes(recipe, 40, seed=0)
    difference = (render_scenes(scenes, "cuda").cpu().int() - render_scenes(scenes).int()).abs()
    assert difference.max() <= 1


@pytest.mark.parametrize("shape", ["square", "triangle", "mixed"])
def test_stamp_path_matches_the_general_path_for_shapes(shape, monkeypatch):
    from synth import render

    recipe = SceneRecipe(counts=(5, 12), width=64, height=48, radius=3.3, min_gap=1.0, shape=shape)
    scenes = sample_scenes(recipe, 20, seed=4)
    height, width = 48, 64
    reference = torch.full((len(scenes), 3, height, width), 255, dtype=torch.uint8)
    scene_index, centres, radii, colors = render._flatten(scenes)
    palette_id, tables = render._palette(scene_index, colors, scenes)
    render._draw_patches(scene_index, centres, radii, palette_id, tables, reference, shapes=render._flat_shapes(scenes))
    monkeypatch.setattr(render, "_draw_patches", lambda *args, **kwargs: pytest.fail("expected the stamp path"))
    stamped = render_scenes(scenes).int()
    assert (stamped - reference.int()).abs().max() <= 2
    assert (stamped - reference.int()).abs().float().mean() < 0.05
