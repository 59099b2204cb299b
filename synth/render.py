"""Rasterise scenes: a batched torch renderer (CPU and CUDA) and matplotlib.

The torch renderer draws every item of a batch at once: each item gets a
small square patch of pixels around it (its extent circle's bounding box),
the patch gets an analytic anti-aliased coverage, and all patches are
scattered into the batch at once. Cost is ``O(items x patch area)``, not
``O(items x image area)``. Coverage per shape:

- circle: a 1-px box filter of the disk edge, ``clamp(r - d + 0.5, 0, 1)``;
- square (axis-aligned): the exact area of pixel and square, the product of
  the two 1-D overlaps;
- triangle (apex up): the exact area of pixel and triangle, integrating
  each row slice's overlap ``clamp(.)`` in closed form (``_triangle_coverage``).

Items are composited by the strongest-item rule below, except in scenes
whose items overlap (``SceneRecipe.overlap``) and are not all circles of one
colour: those are drawn in item order, each over the ones before
(``_draw_layers``), so occlusion follows the scene's order.

Two paths share that coverage. The general one computes it per item and
keeps each pixel's strongest item (any shapes, radii, colours, clipping). The
stamp path, for a batch with one radius and one colour on one background
(what ``python -m synth`` samples), precomputes the coloured patch of each
shape for each 1/128-px sub-pixel offset of the centre once, then only copies stamps and
reduces them into the image with ``scatter_reduce``; it agrees with the
general path to 2 levels of 255 and is several times faster with 50 circles.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import torch

from synth.scenes import EXTENT_FACTORS, SHAPES, Scene, extent_radii

__all__ = ["render_scenes", "render_scenes_matplotlib", "circle_masks", "item_masks", "RENDERERS"]

RENDERERS = ("fast", "matplotlib")

# Bound on patch pixels per chunk, so 10k scenes of 50 circles do not need
# gigabytes at once; chunks are whole scenes.
_MAX_PATCH_PIXELS = 1 << 24


def _flatten(scenes: Sequence[Scene]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate items: scene index ``[C]``, centres ``[C, 2]``, radii ``[C]``, colours ``[C, 3]``."""
    counts = np.fromiter((s.n_items for s in scenes), dtype=np.int64, count=len(scenes))
    scene_index = np.repeat(np.arange(len(scenes)), counts)
    if counts.sum() == 0:
        return scene_index, np.zeros((0, 2)), np.zeros(0), np.zeros((0, 3), dtype=np.uint8)
    centres = np.concatenate([s.centers for s in scenes])
    radii = np.concatenate([s.radii for s in scenes])
    colors = np.concatenate([s.colors for s in scenes])
    return scene_index, centres, radii, colors


def _check_canvas(scenes: Sequence[Scene]) -> tuple[int, int]:
    if not scenes:
        raise ValueError("render: expected at least one scene, got none")
    height, width = scenes[0].height, scenes[0].width
    for index, scene in enumerate(scenes):
        if (scene.height, scene.width) != (height, width):
            raise ValueError(
                f"render: scenes in one batch must share a canvas; scene 0 is {width}x{height}, "
                f"scene {index} is {scene.width}x{scene.height}"
            )
    return height, width


def _patch_pad(radius: float) -> int:
    """Patch half-width: pixel centres within ``radius + 0.5`` of a circle centre, all the ink.

    A column ``x`` is inked when ``|x + 0.5 - cx| < r + 0.5``, so it lies in
    ``floor(cx) - ceil(r) .. floor(cx) + ceil(r)``.
    """
    return int(math.ceil(radius))


def _flat_shapes(scenes: Sequence[Scene]) -> np.ndarray:
    """Shape codes of every item of ``scenes`` in ``_flatten`` order, ``[C]`` int8."""
    return np.concatenate([s.shapes for s in scenes]) if scenes else np.zeros(0, np.int8)


def _clamp01(t: torch.Tensor) -> torch.Tensor:
    return t.clamp(0.0, 1.0)


def _circle_coverage(dx: torch.Tensor, dy: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """Box-filtered disk edge: ``dx [C, P]``, ``dy [C, P]`` pixel centre minus item centre -> ``[C, P, P]`` (rows, cols)."""
    dist = torch.sqrt(dy[:, :, None] ** 2 + dx[:, None, :] ** 2)  # [C, P, P]
    return (radii[:, None, None] - dist + 0.5).clamp_(0.0, 1.0)


def _square_coverage(dx: torch.Tensor, dy: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """Exact area of each pixel inside an axis-aligned square of area ``pi r^2``.

    The pixel's left edge is at ``u = dx - 0.5`` from the centre; the overlap
    of ``[u, u + 1]`` with ``[-h, h]`` is ``clamp(h - u) - clamp(-h - u)``.
    """
    half = (radii * math.sqrt(math.pi) / 2)[:, None]  # [C, 1]
    u, v = dx - 0.5, dy - 0.5  # [C, P] left / top pixel edges
    overlap_x = _clamp01(half - u) - _clamp01(-half - u)  # [C, P]
    overlap_y = _clamp01(half - v) - _clamp01(-half - v)  # [C, P]
    return overlap_y[:, :, None] * overlap_x[:, None, :]


def _ramp_integral(t: torch.Tensor) -> torch.Tensor:
    """Antiderivative of ``clamp(t, 0, 1)``: 0, then ``t^2 / 2``, then ``t - 1/2``."""
    return 0.5 * _clamp01(t) ** 2 + (t - 1.0).clamp(min=0.0)


def _triangle_coverage(dx: torch.Tensor, dy: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """Exact area of each pixel inside an equilateral triangle (apex up) of area ``pi r^2``.

    With circumradius ``R`` the triangle spans rows ``y in [-R, R/2]`` (from
    its centroid) and at row ``y`` the columns ``|x| <= s (y + R)``,
    ``s = 1 / sqrt(3)``. A pixel ``[u, u+1] x [v, v+1]`` covers, at row
    ``y``, ``clamp(s (y + R) - u) - clamp(-s (y + R) - u)`` of its width;
    both terms are ``clamp`` of a line in ``y``, integrated exactly over
    ``[v, v+1]`` cut to the triangle's rows with ``_ramp_integral``.
    """
    slope = 1.0 / math.sqrt(3.0)
    extent = (radii * EXTENT_FACTORS[SHAPES.index("triangle")])[:, None]  # [C, 1]
    u = (dx - 0.5)[:, None, :]  # [C, 1, P] pixel left edges
    v = dy - 0.5  # [C, P] pixel top edges
    y0 = torch.minimum(torch.maximum(v, -extent), extent / 2)[:, :, None] + extent[:, :, None]  # [C, P, 1]
    y1 = torch.minimum(torch.maximum(v + 1, -extent), extent / 2)[:, :, None] + extent[:, :, None]
    right = _ramp_integral(slope * y1 - u) - _ramp_integral(slope * y0 - u)  # [C, P, P]
    left = _ramp_integral(-slope * y0 - u) - _ramp_integral(-slope * y1 - u)
    return ((right - left) / slope).clamp_(0.0, 1.0)


_COVERAGE = {"circle": _circle_coverage, "square": _square_coverage, "triangle": _triangle_coverage}


def _patches(
    centres: torch.Tensor, radii: torch.Tensor, height: int, width: int, pad: int | None = None,
    shapes: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Anti-aliased coverage of each item on a square patch around it.

    Args:
        centres: ``[C, 2]`` float centres ``(x, y)``; radii: ``[C]`` equal-area radii.
        pad: patch half-width (default: enough for the largest extent radius).
        shapes: ``[C]`` codes into ``SHAPES`` (default: all circles).

    Returns:
        coverage ``[C, P, P]`` in ``[0, 1]`` (zero outside the canvas), and
        the patches' pixel rows ``[C, P]`` and columns ``[C, P]`` clamped
        into the canvas.
    """
    device = centres.device
    if shapes is not None and not bool(shapes.any()):
        shapes = None  # all circles: the original arithmetic, bit for bit
    if pad is None:
        factors = 1.0 if shapes is None else torch.as_tensor(EXTENT_FACTORS, device=device)[shapes.long()]
        pad = _patch_pad(float((radii * factors).max()))
    offsets = torch.arange(2 * pad + 1, device=device, dtype=torch.float32)  # [P]
    origin = torch.floor(centres) - pad  # [C, 2] top-left pixel of each patch
    xs = origin[:, 0:1] + offsets  # [C, P] pixel columns
    ys = origin[:, 1:2] + offsets  # [C, P] pixel rows
    dx = xs + 0.5 - centres[:, 0:1]  # [C, P]
    dy = ys + 0.5 - centres[:, 1:2]  # [C, P]
    if shapes is None:
        coverage = _circle_coverage(dx, dy, radii)  # [C, P, P]
    else:
        coverage = torch.empty((len(radii), len(offsets), len(offsets)), device=device)
        for code, name in enumerate(SHAPES):
            chosen = shapes == code
            if bool(chosen.any()):
                coverage[chosen] = _COVERAGE[name](dx[chosen], dy[chosen], radii[chosen])
    rows_inside = (ys >= 0) & (ys < height)  # [C, P]
    cols_inside = (xs >= 0) & (xs < width)  # [C, P]
    coverage = coverage * (rows_inside[:, :, None] & cols_inside[:, None, :])
    return coverage, ys.clamp(0, height - 1).long(), xs.clamp(0, width - 1).long()


def _alpha_map(
    scene_index: torch.Tensor,
    coverage: torch.Tensor,
    rows: torch.Tensor,
    cols: torch.Tensor,
    num_scenes: int,
    height: int,
    width: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel max coverage over circles, quantised to uint8 levels.

    uint8 because the output is uint8 anyway, and a quarter of the bytes to
    clear is most of the renderer's cost at 224 px.

    Returns:
        alpha ``[S * H * W]`` uint8 and the flat pixel index ``s*H*W + y*W + x``
        of every patch pixel ``[C, P, P]``.
    """
    pixel = scene_index[:, None, None] * (height * width) + rows[:, :, None] * width + cols[:, None, :]
    alpha = torch.zeros(num_scenes * height * width, dtype=torch.uint8, device=coverage.device)
    alpha.scatter_reduce_(0, pixel.reshape(-1), coverage.reshape(-1), reduce="amax")
    return alpha, pixel


def render_scenes(
    scenes: Sequence[Scene], device: str | torch.device = "cpu", chunk_scenes: int | None = None
) -> torch.Tensor:
    """Render scenes that share a canvas to an anti-aliased uint8 batch.

    Args:
        scenes: ``N`` scenes of the same ``width x height``.
        device: where to render (and where the result lives).
        chunk_scenes: scenes per chunk (default: bounded by patch memory).

    Returns:
        uint8 tensor ``[N, 3, H, W]`` on ``device``.
    """
    height, width = _check_canvas(scenes)
    device = torch.device(device)
    output = torch.empty((len(scenes), 3, height, width), dtype=torch.uint8, device=device)
    backgrounds = {s.background for s in scenes}
    if len(backgrounds) == 1:  # the usual case: three plane fills, no broadcast copy
        for channel, value in enumerate(next(iter(backgrounds))):
            output[:, channel].fill_(value)
    else:
        output.copy_(torch.tensor([s.background for s in scenes], dtype=torch.uint8)[:, :, None, None])
    if chunk_scenes is None:
        max_circles = max(1, max(s.n_items for s in scenes))
        max_radius = max((float(extent_radii(s).max()) for s in scenes if s.n_items), default=1.0)
        patch = (2 * _patch_pad(max_radius) + 1) ** 2
        chunk_scenes = max(1, _MAX_PATCH_PIXELS // (max_circles * patch))
    for start in range(0, len(scenes), chunk_scenes):
        chunk = scenes[start : start + chunk_scenes]
        _draw_mixed_chunk(chunk, output[start : start + len(chunk)])
    return output


def needs_layers(scene: Scene) -> bool:
    """Whether a scene must be drawn in item order: some items' extent circles overlap.

    Scenes of circles of one colour never need it: the strongest-item rule
    draws the same union (and keeps their pixels as they always were).
    """
    if scene.n_items < 2 or (scene.circles_only and (scene.colors == scene.colors[:1]).all()):
        return False
    extents = extent_radii(scene)
    distance = np.linalg.norm(scene.centers[:, None] - scene.centers[None], axis=-1)  # [K, K]
    touching = distance < extents[:, None] + extents[None, :]
    np.fill_diagonal(touching, False)
    return bool(touching.any())


def _draw_mixed_chunk(scenes: Sequence[Scene], output: torch.Tensor) -> None:
    """Draw a chunk: overlapping scenes in item order (``_draw_layers``), the rest with ``_draw_chunk``."""
    layered = [index for index, scene in enumerate(scenes) if needs_layers(scene)]
    if not layered:
        _draw_chunk(scenes, output)
        return
    # The other scenes take the path the whole chunk would take, so their pixels do not depend on their neighbours.
    stamps = _stamps_apply(scenes, *output.shape[2:])
    layered_set = set(layered)
    rest = [index for index in range(len(scenes)) if index not in layered_set]
    for indices, draw in ((rest, lambda part_scenes, part: _draw_chunk(part_scenes, part, stamps)), (layered, _draw_layers)):
        if indices:
            where = torch.as_tensor(indices, device=output.device)
            part = output.index_select(0, where)
            draw([scenes[i] for i in indices], part)
            output.index_copy_(0, where, part)


def _palette(scene_index: np.ndarray, colors: np.ndarray, scenes: Sequence[Scene]) -> tuple[np.ndarray, torch.Tensor]:
    """Blend lookup tables, one per distinct (circle colour, background) pair.

    Returns:
        palette id per circle ``[C]`` and uint8 tables ``[Q, 256, 3]`` with
        ``table[q, level] = round(bg + (colour - bg) * level / 255)``: the
        blend of every coverage level, computed once instead of per pixel.
    """
    backgrounds = np.array([s.background for s in scenes], dtype=np.int64)[scene_index]  # [C, 3]
    pairs = np.concatenate([colors.astype(np.int64), backgrounds], axis=1)  # [C, 6]
    if (pairs == pairs[:1]).all():  # the usual case; np.unique's row sort costs more than drawing
        unique, palette_id = pairs[:1], np.zeros(len(pairs), dtype=np.int64)
    else:
        unique, palette_id = np.unique(pairs, axis=0, return_inverse=True)
    fill = torch.as_tensor(unique[:, None, :3], dtype=torch.float32)  # [Q, 1, 3]
    base = torch.as_tensor(unique[:, None, 3:], dtype=torch.float32)  # [Q, 1, 3]
    level = torch.arange(256, dtype=torch.float32)[None, :, None] / 255  # [1, 256, 1]
    tables = (base + (fill - base) * level).round_().clamp_(0, 255).to(torch.uint8)  # [Q, 256, 3]
    return palette_id.reshape(-1), tables


def _stamps_apply(scenes: Sequence[Scene], height: int, width: int) -> bool:
    """Whether the stamp path can draw these scenes: items of one radius and one colour on one
    background (any shapes), every patch inside the canvas."""
    scene_index, centres, radii, colors = _flatten(scenes)
    shapes = _flat_shapes(scenes)
    if len(radii) == 0 or radii.min() != radii.max():
        return False
    backgrounds = np.array([s.background for s in scenes])[scene_index]
    if not ((colors == colors[:1]).all() and (backgrounds == backgrounds[:1]).all()):
        return False
    pads = np.array([_patch_pad(float(radii[0]) * factor) for factor in EXTENT_FACTORS])[shapes][:, None]  # [C, 1]
    whole = np.floor(centres)
    return bool((whole - pads >= 0).all() and (whole + pads < [width, height]).all())


def _draw_chunk(scenes: Sequence[Scene], output: torch.Tensor, stamps: bool | None = None) -> None:
    """Draw one chunk's circles into ``output`` ``[S, 3, H, W]`` (uint8, background already filled).

    Only pixels under a patch are touched; the rest of the canvas stays as
    filled, which is what makes the renderer fast at 224 px. Chunks whose
    items share one radius and one colour on one background (every scene
    ``python -m synth`` samples with a fixed radius, fixed colour and no
    colour distractors) take the stamp path, one pass per shape.

    Args:
        stamps: take (or skip) the stamp path; default ``_stamps_apply`` of these scenes.
    """
    height, width = output.shape[2:]
    scene_index, centres, radii, colors = _flatten(scenes)
    if len(radii) == 0:
        return
    shapes = _flat_shapes(scenes)
    palette_id, tables = _palette(scene_index, colors, scenes)
    if _stamps_apply(scenes, height, width) if stamps is None else stamps:
        # amax / amin reduces do not depend on order, so shapes can be pasted one after the other.
        for shape in np.unique(shapes):
            chosen = shapes == shape
            _draw_stamps(scene_index[chosen], centres[chosen], float(radii[0]), tables[0], output, shape=int(shape))
    else:
        _draw_patches(scene_index, centres, radii, palette_id, tables, output, shapes=shapes)


def _draw_patches(
    scene_index: np.ndarray, centres: np.ndarray, radii: np.ndarray, palette_id: np.ndarray,
    tables: torch.Tensor, output: torch.Tensor, shapes: np.ndarray | None = None,
) -> None:
    """The general path: any shapes, radii, colours and backgrounds; items may leave the canvas.

    Args:
        scene_index ``[C]``, centres ``[C, 2]``, radii ``[C]``, palette_id ``[C]``
        and tables ``[Q, 256, 3]`` as from ``_flatten`` and ``_palette``;
        shapes ``[C]`` codes into ``SHAPES`` (default: all circles).
    """
    num_scenes, _, height, width = output.shape
    plane = height * width
    device = output.device
    scene_index = torch.as_tensor(scene_index, device=device)
    coverage, rows, cols = _patches(
        torch.as_tensor(centres, dtype=torch.float32, device=device),
        torch.as_tensor(radii, dtype=torch.float32, device=device),
        height,
        width,
        shapes=None if shapes is None else torch.as_tensor(shapes, device=device),
    )
    level = (coverage * 255).round_().to(torch.uint8)  # [C, P, P]
    alpha, pixel = _alpha_map(scene_index, level, rows, cols, num_scenes, height, width)
    # 1. Keep each pixel's strongest circle: exact for non-overlapping circles;
    #    where circles overlap, the one covering the pixel most wins.
    keep = ((level > 0) & (level == alpha[pixel])).view(-1).nonzero().squeeze(1)  # [M]
    circle = keep // level[0].numel()  # [M]
    # 2. Colour by table lookup, then scatter each channel: pixel s*HW + p of
    #    channel c lives at (3s + c)*HW + p. Per channel keeps every index [M].
    entry = level.view(-1)[keep].long()  # [M] coverage level
    if len(tables) > 1:
        entry += torch.as_tensor(palette_id, device=device)[circle] * 256
    first_channel = pixel.view(-1)[keep] + scene_index[circle] * (2 * plane)  # [M] index in channel 0
    flat_output, flat_tables = output.view(-1), tables.to(device).permute(2, 0, 1).reshape(3, -1)  # [3, Q*256]
    for channel in range(3):
        flat_output[first_channel + channel * plane] = flat_tables[channel][entry]


def _draw_layers(scenes: Sequence[Scene], output: torch.Tensor) -> None:
    """Painter's order: item ``k`` of every scene is blended over items ``0..k-1``.

    Pass ``k`` draws the ``k``-th item of all scenes at once (one item per
    scene, so no pixel is written twice in a pass). Coverage is quantised to
    255 levels as in the other paths, so a pixel under one item gets the
    same colour as ``_palette``'s tables give it.

    Args:
        output: ``[S, 3, H, W]`` uint8, background already filled.
    """
    num_scenes, _, height, width = output.shape
    plane = height * width
    device = output.device
    scene_index, centres, radii, colors = _flatten(scenes)
    if len(radii) == 0:
        return
    shapes = torch.as_tensor(_flat_shapes(scenes), device=device)
    coverage, rows, cols = _patches(
        torch.as_tensor(centres, dtype=torch.float32, device=device),
        torch.as_tensor(radii, dtype=torch.float32, device=device), height, width, shapes=shapes,
    )
    alpha = (coverage * 255).round_() / 255  # [C, P, P]
    scene_index = torch.as_tensor(scene_index, device=device)
    pixel = scene_index[:, None, None] * (3 * plane) + rows[:, :, None] * width + cols[:, None, :]  # [C, P, P]
    rank = torch.as_tensor(np.concatenate([np.arange(s.n_items) for s in scenes]), device=device)  # [C]
    colours = torch.as_tensor(colors, dtype=torch.float32, device=device)  # [C, 3]
    image = output.float().view(-1)
    for layer in range(int(rank.max()) + 1):
        items = (rank == layer).nonzero().squeeze(1)
        weight = alpha[items]  # [I, P, P]
        inked = weight > 0  # outside-canvas pixels have zero coverage, so kept indices are unique
        where, a = pixel[items][inked], weight[inked]  # [M]
        item = items[:, None, None].expand_as(weight)[inked]  # [M]
        for channel in range(3):
            target = where + channel * plane
            image[target] = image[target] * (1 - a) + colours[item, channel] * a
    output.copy_(image.round_().clamp_(0, 255).view_as(output).to(torch.uint8))


# Sub-pixel resolution of the stamp path: a centre is snapped to the nearest
# 1/STAMP_STEPS px, which moves an item's edge by at most sqrt(2)/(2*256) px,
# i.e. at most 0.6% coverage: under one level of 255 in most pixels.
STAMP_STEPS = 128


@functools.lru_cache(maxsize=8)
def _stamps(
    radius: float, pad: int, table: tuple[tuple[int, int, int], ...], device: str, shape: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Colour stamps of one item for every sub-pixel offset of its centre.

    Args:
        radius: equal-area radius in px; pad: patch half-width (``_patch_pad`` of the extent radius).
        table: 256 RGB colours, one per coverage level (``_palette``).
        shape: the item's code in ``SHAPES``.

    Returns:
        uint8 stamps ``[3, STAMP_STEPS**2, K]`` (channel, offset ``fy * STEPS +
        fx``, patch pixel): the same analytic coverage as ``_patches``,
        coloured; and ``support`` ``[K]``, the patch pixels (``row * P + col``)
        that some offset inks.
    """
    steps = (torch.arange(STAMP_STEPS, dtype=torch.float32) + 0.5) / STAMP_STEPS  # [T] offset in the pixel
    fx = steps.repeat(STAMP_STEPS)  # [T*T]
    fy = steps.repeat_interleave(STAMP_STEPS)  # [T*T]
    centres = torch.stack([fx + pad, fy + pad], dim=1)  # [T*T, 2] in a patch whose origin is pixel 0
    radii = torch.full((len(centres),), radius)
    shapes = torch.full((len(centres),), shape, dtype=torch.int8)
    coverage, _, _ = _patches(centres, radii, 2 * pad + 1, 2 * pad + 1, pad=pad, shapes=shapes)  # [T*T, P, P]
    level = (coverage * 255).round_().long().flatten(1)  # [T*T, P*P]
    # Patch pixels no offset ever inks (the corners, ~30% of the square) are dropped.
    support = (level > 0).any(dim=0).nonzero().squeeze(1)  # [K]
    colours = torch.tensor(table, dtype=torch.uint8).T  # [3, 256]
    stamps = torch.stack([colours[channel][level[:, support]] for channel in range(3)])  # [3, T*T, K]
    return stamps.to(device), support.to(device)


def _draw_stamps(
    scene_index: np.ndarray, centres: np.ndarray, radius: float, table: torch.Tensor, output: torch.Tensor,
    shape: int = 0,
) -> None:
    """One shape, one radius, one colour, one background, every patch inside the canvas: paste stamps.

    Each circle's coloured patch is a row of ``_stamps`` (a copy, no
    per-pixel arithmetic), reduced into each output channel with ``amax``
    where the circle colour is above the background in that channel and
    ``amin`` where below. Blending is monotone in coverage, so the reduce
    keeps each pixel's strongest circle, as the general path does, and a
    patch's blank corners (background colour) never paint over a neighbour.

    Args:
        scene_index ``[C]``, centres ``[C, 2]``; table ``[256, 3]`` uint8; shape: code in ``SHAPES``.
    """
    num_scenes, _, height, width = output.shape
    plane = height * width
    device = output.device
    pad = _patch_pad(radius * EXTENT_FACTORS[shape])
    size = 2 * pad + 1
    stamps, support = _stamps(radius, pad, tuple(map(tuple, table.tolist())), str(device), shape)  # [3, T*T, K], [K]
    whole = np.floor(centres)
    step = np.minimum((centres - whole) * STAMP_STEPS, STAMP_STEPS - 1).astype(np.int64)  # [C, 2]
    offset = torch.as_tensor(step[:, 1] * STAMP_STEPS + step[:, 0], device=device)  # [C]
    corner = (whole - pad).astype(np.int64)  # [C, 2] patch origin (x, y)
    base = torch.as_tensor(scene_index * (3 * plane) + corner[:, 1] * width + corner[:, 0], device=device)  # [C]
    patch = torch.arange(size, device=device)
    within = (patch[:, None] * width + patch[None, :]).view(-1)[support]  # [K] offset of each patch pixel
    pixel = base[:, None] + within  # [C, K] index in channel 0 of the flat output
    flat = output.view(-1)
    for channel in range(3):
        darker = int(table[255, channel]) < int(table[0, channel])
        colours = stamps[channel].index_select(0, offset)  # [C, K]
        flat[channel * plane :].scatter_reduce_(0, pixel.view(-1), colours.view(-1), "amin" if darker else "amax")


def circle_masks(scene: Scene, device: str | torch.device = "cpu") -> torch.Tensor:
    """Per-item coverage masks of one scene (every item, targets and distractors, in scene order).

    Returns:
        float tensor ``[K, H, W]`` in ``[0, 1]`` with ``K = scene.n_items``;
        mask ``k`` is item ``k``'s anti-aliased coverage of its own shape
        (the same one the renderer uses), ignoring occlusion by other items.
    """
    device = torch.device(device)
    height, width = scene.height, scene.width
    masks = torch.zeros((scene.n_items, height * width), device=device)
    if scene.n_items == 0:
        return masks.view(0, height, width)
    coverage, rows, cols = _patches(
        torch.as_tensor(scene.centers, dtype=torch.float32, device=device),
        torch.as_tensor(scene.radii, dtype=torch.float32, device=device),
        height,
        width,
        shapes=torch.as_tensor(scene.shapes, device=device),
    )
    pixel = rows[:, :, None] * width + cols[:, None, :]  # [K, P, P]
    masks.scatter_reduce_(1, pixel.flatten(1), coverage.flatten(1), reduce="amax")
    return masks.view(scene.n_items, height, width)


# The masks cover every shape; the name says so for new code.
item_masks = circle_masks


def render_scenes_matplotlib(scenes: Sequence[Scene], dpi: int = 100) -> torch.Tensor:
    """Render with matplotlib patches, as the original post drew its circles (any shape, in item order).

    One Agg figure is reused and only its patches change, which is the
    fastest in-memory use of matplotlib (a fair speed baseline).

    Returns:
        uint8 tensor ``[N, 3, H, W]`` on the CPU.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    height, width = _check_canvas(scenes)
    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    output = np.empty((len(scenes), 3, height, width), dtype=np.uint8)
    for index, scene in enumerate(scenes):
        axes.clear()
        axes.set_axis_off()
        axes.set_xlim(0, width)
        axes.set_ylim(height, 0)
        figure.set_facecolor(np.array(scene.background) / 255)
        for (x, y), r, color, shape in zip(scene.centers, scene.radii, scene.colors, scene.shapes):
            axes.add_patch(_matplotlib_patch(SHAPES[shape], x, y, r, color / 255))
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())  # [H, W, 4]
        output[index] = rgba[..., :3].transpose(2, 0, 1)
    return torch.from_numpy(output)


def _matplotlib_patch(shape: str, x: float, y: float, radius: float, color: np.ndarray):
    """The matplotlib patch of one item (y grows downwards, as the axes are flipped)."""
    from matplotlib.patches import Circle, Polygon

    style = {"facecolor": color, "edgecolor": "none", "antialiased": True}
    if shape != "circle":
        style["snap"] = False  # Agg snaps rectilinear paths to whole pixels otherwise
    if shape == "circle":
        return Circle((x, y), radius, **style)
    if shape == "square":
        half = radius * math.sqrt(math.pi) / 2
        corners = [(x - half, y - half), (x + half, y - half), (x + half, y + half), (x - half, y + half)]
        return Polygon(corners, closed=True, **style)
    extent = radius * EXTENT_FACTORS[SHAPES.index("triangle")]
    half_side = extent * math.sqrt(3) / 2
    return Polygon([(x, y - extent), (x + half_side, y + extent / 2), (x - half_side, y + extent / 2)], closed=True, **style)
