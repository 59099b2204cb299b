import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from synth.render import circle_masks, render_scenes, render_scenes_matplotlib
from synth.sampling import sample_scenes
from synth.scenes import Scene, SceneRecipe, auto_radius


def count_components(image: torch.Tensor, background: tuple[int, int, int]) -> int:
    """Connected components of pixels at least half-way from the background colour."""
    distance = (image.float() - torch.tensor(background, dtype=torch.float32)[:, None, None]).abs().sum(0)
    _, components = ndimage.label((distance > distance.max() / 2).numpy())
    return components


@pytest.mark.parametrize(
    "counts, size, radius_range",
    [((1, 5), 64, None), ((45, 50), 96, None), ((1, 30), 96, (1.5, 5.0)), ((10, 20), 48, None)],
)
def test_connected_components_equal_the_label(counts, size, radius_range):
    recipe = SceneRecipe(
        counts=counts, width=size, height=size, radius=auto_radius(size, size, counts[1]),
        radius_range=radius_range, min_gap=1.0,
    )
    scenes = sample_scenes(recipe, 60, seed=3)
    images = render_scenes(scenes)
    assert images.shape == (60, 3, size, size) and images.dtype == torch.uint8
    assert [count_components(image, recipe.background) for image in images] == [s.count for s in scenes]


def test_ink_area_matches_total_surface_area():
    recipe = SceneRecipe(counts=(1, 10), width=96, height=96, radius_range=(2.0, 8.0))
    scenes = sample_scenes(recipe, 20, seed=0)
    images = render_scenes(scenes).float()
    # Red channel: white background 255, circle colour 31; ink fraction is linear in coverage.
    ink = ((255 - images[:, 0]) / (255 - 31)).sum(dim=(1, 2))
    tsa = torch.tensor([math.pi * (s.radii**2).sum() for s in scenes], dtype=torch.float32)
    assert torch.allclose(ink, tsa, rtol=0.02, atol=2.0)


def test_anti_aliased_edges_and_exact_interior():
    scene = Scene(width=21, height=21, centers=[[10.5, 10.5]], radii=[6.0], colors=[[0, 0, 0]])
    image = render_scenes([scene])[0, 0]
    assert image[10, 10] == 0 and image[0, 0] == 255  # centre inked, corner blank
    levels = set(image.unique().tolist())
    assert len(levels - {0, 255}) > 3  # intermediate levels on the edge


def test_matches_matplotlib_within_anti_aliasing():
    recipe = SceneRecipe(counts=(1, 5), width=64, height=48, radius=5)
    scenes = sample_scenes(recipe, 8, seed=0)
    ours, reference = render_scenes(scenes).float(), render_scenes_matplotlib(scenes).float()
    assert ours.shape == reference.shape == (8, 3, 48, 64)
    assert (ours - reference).abs().mean() < 1.0  # mean over pixels, 0-255 scale
    assert ((ours - reference).abs() > 128).float().mean() < 0.001  # no structural difference


def test_chunking_does_not_change_pixels():
    scenes = sample_scenes(SceneRecipe(counts=(1, 8), width=40, height=40, radius=3), 23, seed=5)
    assert torch.equal(render_scenes(scenes), render_scenes(scenes, chunk_scenes=4))


def test_circle_masks_sum_to_the_rendered_alpha():
    scene = sample_scenes(SceneRecipe(counts=(6, 6), width=48, height=48, radius=4), 1, seed=1)[0]
    masks = circle_masks(scene)
    assert masks.shape == (6, 48, 48)
    assert torch.allclose(masks.sum(dim=(1, 2)), torch.full((6,), math.pi * 16), rtol=0.03)
    rendered = render_scenes([scene])[0, 0].float()
    alpha = (255 - rendered) / (255 - 31)
    assert (alpha - masks.sum(0)).abs().max() < 0.01


def test_empty_scene_renders_background():
    scene = Scene(width=8, height=8, centers=np.zeros((0, 2)), radii=[], colors=np.zeros((0, 3)), background=(1, 2, 3))
    image = render_scenes([scene])[0]
    assert image[:, 0, 0].tolist() == [1, 2, 3] and (image == image[:, :1, :1]).all()


def test_mixed_canvas_sizes_are_an_error():
    a = Scene(width=8, height=8, centers=[[4, 4]], radii=[2], colors=[[0, 0, 0]])
    b = Scene(width=9, height=8, centers=[[4, 4]], radii=[2], colors=[[0, 0, 0]])
    with pytest.raises(ValueError, match="share a canvas"):
        render_scenes([a, b])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    scenes = sample_scenes(SceneRecipe(counts=(1, 20), width=64, height=64, radius=3), 50, seed=0)
    difference = (render_scenes(scenes, "cuda").cpu().int() - render_scenes(scenes).int()).abs()
    assert difference.max() <= 1


def render_general_path(scenes):
    """Render through the general patch path only (any radii and colours), for comparison."""
    from synth import render

    height, width = scenes[0].height, scenes[0].width
    output = torch.empty((len(scenes), 3, height, width), dtype=torch.uint8)
    output[:] = torch.tensor(scenes[0].background, dtype=torch.uint8)[:, None, None]
    scene_index, centres, radii, colors = render._flatten(scenes)
    palette_id, tables = render._palette(scene_index, colors, scenes)
    render._draw_patches(scene_index, centres, radii, palette_id, tables, output)
    return output


def test_stamp_path_matches_the_general_path(monkeypatch):
    from synth import render

    scenes = sample_scenes(SceneRecipe(counts=(5, 15), width=64, height=48, radius=3.7, min_gap=1.0), 20, seed=4)
    overlapping = Scene(width=64, height=48, centers=[[20.3, 20.8], [25.1, 22.4]], radii=[3.7, 3.7],
                        colors=[[31, 119, 180]] * 2)
    scenes.append(overlapping)
    reference = render_general_path(scenes).int()
    monkeypatch.setattr(render, "_draw_patches", lambda *args: pytest.fail("expected the stamp path"))
    stamped = render_scenes(scenes).int()
    # Centres snap to 1/128 px: an edge moves by < 0.006 px, at most 2 levels of 255, rarely 1.
    assert (stamped - reference).abs().max() <= 2
    assert (stamped - reference).abs().float().mean() < 0.05


def test_stamp_path_ink_matches_total_surface_area():
    recipe = SceneRecipe(counts=(1, 10), width=96, height=96, radius=5.3)
    scenes = sample_scenes(recipe, 20, seed=0)
    ink = ((255 - render_scenes(scenes)[:, 0].float()) / (255 - 31)).sum(dim=(1, 2))
    tsa = torch.tensor([math.pi * (s.radii**2).sum() for s in scenes], dtype=torch.float32)
    assert torch.allclose(ink, tsa, rtol=0.02, atol=2.0)


def test_circle_leaving_the_canvas_is_clipped():
    scene = Scene(width=16, height=16, centers=[[1.0, 8.0]], radii=[4.0], colors=[[0, 0, 0]])
    image = render_scenes([scene])[0, 0]
    # Pixel (8, x) has its centre at (x + 0.5, 8.5): distance 0.7 at x = 0 and 2.5 at x = 3 (fully inside),
    # 4.5 at x = 5 (outside); the part left of x = 0 is simply not drawn.
    assert image[8, 0] == 0 and image[8, 3] == 0 and image[8, 5] == 255
