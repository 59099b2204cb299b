"""Rasterise scenes: a batched torch renderer (CPU and CUDA) and matplotlib.

The torch renderer draws every circle of a batch at once: each circle gets a
small square patch of pixels around it, the patch gets an analytic
anti-aliased coverage (a 1-px box filter of the disk edge, ``clamp(r - d +
0.5, 0, 1)``), and all patches are scattered into the batch with one
``scatter_reduce``. Cost is ``O(circles x patch area)``, not ``O(circles x
image area)``, so 50 circles cost about what 50 small stamps cost.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from synth.scenes import Scene

__all__ = ["render_scenes", "render_scenes_matplotlib", "circle_masks", "RENDERERS"]

RENDERERS = ("fast", "matplotlib")

# Bound on patch pixels per chunk, so 10k scenes of 50 circles do not need
# gigabytes at once; chunks are whole scenes.
_MAX_PATCH_PIXELS = 1 << 24


def _flatten(scenes: Sequence[Scene]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate circles: scene index ``[C]``, centres ``[C, 2]``, radii ``[C]``, colours ``[C, 3]``."""
    counts = np.fromiter((s.count for s in scenes), dtype=np.int64, count=len(scenes))
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


def _patches(
    centres: torch.Tensor, radii: torch.Tensor, height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Anti-aliased coverage of each circle on a square patch around it.

    Args:
        centres: ``[C, 2]`` float centres ``(x, y)``; radii: ``[C]``.

    Returns:
        coverage ``[C, P, P]`` in ``[0, 1]`` (zero outside the canvas), and
        the patches' pixel rows ``[C, P]`` and columns ``[C, P]`` clamped
        into the canvas.
    """
    device = centres.device
    pad = int(math.ceil(float(radii.max()))) + 1
    offsets = torch.arange(2 * pad + 1, device=device, dtype=torch.float32)  # [P]
    origin = torch.floor(centres) - pad  # [C, 2] top-left pixel of each patch
    xs = origin[:, 0:1] + offsets  # [C, P] pixel columns
    ys = origin[:, 1:2] + offsets  # [C, P] pixel rows
    dx = xs + 0.5 - centres[:, 0:1]  # [C, P]
    dy = ys + 0.5 - centres[:, 1:2]  # [C, P]
    dist = torch.sqrt(dy[:, :, None] ** 2 + dx[:, None, :] ** 2)  # [C, P, P]
    coverage = (radii[:, None, None] - dist + 0.5).clamp_(0.0, 1.0)  # [C, P, P]
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
        max_circles = max(1, max(s.count for s in scenes))
        max_radius = max((float(s.radii.max()) for s in scenes if s.count), default=1.0)
        patch = (2 * (math.ceil(max_radius) + 1) + 1) ** 2
        chunk_scenes = max(1, _MAX_PATCH_PIXELS // (max_circles * patch))
    for start in range(0, len(scenes), chunk_scenes):
        chunk = scenes[start : start + chunk_scenes]
        _draw_chunk(chunk, output[start : start + len(chunk)])
    return output


def _palette(scene_index: np.ndarray, colors: np.ndarray, scenes: Sequence[Scene]) -> tuple[np.ndarray, torch.Tensor]:
    """Blend lookup tables, one per distinct (circle colour, background) pair.

    Returns:
        palette id per circle ``[C]`` and uint8 tables ``[Q, 256, 3]`` with
        ``table[q, level] = round(bg + (colour - bg) * level / 255)``: the
        blend of every coverage level, computed once instead of per pixel.
    """
    backgrounds = np.array([s.background for s in scenes], dtype=np.int64)[scene_index]  # [C, 3]
    pairs = np.concatenate([colors.astype(np.int64), backgrounds], axis=1)  # [C, 6]
    unique, palette_id = np.unique(pairs, axis=0, return_inverse=True)
    fill = torch.as_tensor(unique[:, None, :3], dtype=torch.float32)  # [Q, 1, 3]
    base = torch.as_tensor(unique[:, None, 3:], dtype=torch.float32)  # [Q, 1, 3]
    level = torch.arange(256, dtype=torch.float32)[None, :, None] / 255  # [1, 256, 1]
    tables = (base + (fill - base) * level).round_().clamp_(0, 255).to(torch.uint8)  # [Q, 256, 3]
    return palette_id.reshape(-1), tables


def _draw_chunk(scenes: Sequence[Scene], output: torch.Tensor) -> None:
    """Draw one chunk's circles into ``output`` ``[S, 3, H, W]`` (uint8, background already filled).

    Only pixels under a patch are touched; the rest of the canvas stays as
    filled, which is what makes the renderer fast at 224 px.
    """
    num_scenes, _, height, width = output.shape
    plane = height * width
    device = output.device
    scene_index, centres, radii, colors = _flatten(scenes)
    if len(radii) == 0:
        return
    palette_id, tables = _palette(scene_index, colors, scenes)
    scene_index = torch.as_tensor(scene_index, device=device)
    coverage, rows, cols = _patches(
        torch.as_tensor(centres, dtype=torch.float32, device=device),
        torch.as_tensor(radii, dtype=torch.float32, device=device),
        height,
        width,
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


def circle_masks(scene: Scene, device: str | torch.device = "cpu") -> torch.Tensor:
    """Per-circle coverage masks of one scene.

    Returns:
        float tensor ``[K, H, W]`` in ``[0, 1]``; mask ``k`` is circle ``k``'s
        anti-aliased coverage (the same one the renderer uses).
    """
    device = torch.device(device)
    height, width = scene.height, scene.width
    masks = torch.zeros((scene.count, height * width), device=device)
    if scene.count == 0:
        return masks.view(0, height, width)
    coverage, rows, cols = _patches(
        torch.as_tensor(scene.centers, dtype=torch.float32, device=device),
        torch.as_tensor(scene.radii, dtype=torch.float32, device=device),
        height,
        width,
    )
    pixel = rows[:, :, None] * width + cols[:, None, :]  # [K, P, P]
    masks.scatter_reduce_(1, pixel.flatten(1), coverage.flatten(1), reduce="amax")
    return masks.view(scene.count, height, width)


def render_scenes_matplotlib(scenes: Sequence[Scene], dpi: int = 100) -> torch.Tensor:
    """Render with matplotlib patches, as the original post drew its circles.

    One Agg figure is reused and only its patches change, which is the
    fastest in-memory use of matplotlib (a fair speed baseline).

    Returns:
        uint8 tensor ``[N, 3, H, W]`` on the CPU.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle

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
        for (x, y), r, color in zip(scene.centers, scene.radii, scene.colors):
            axes.add_patch(Circle((x, y), r, facecolor=color / 255, edgecolor="none", antialiased=True))
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())  # [H, W, 4]
        output[index] = rgba[..., :3].transpose(2, 0, 1)
    return torch.from_numpy(output)
