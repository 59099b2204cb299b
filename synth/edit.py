"""Counterfactual edits of scenes: remove, add, move, resize, spread.

Each edit returns a new ``Scene`` (scenes are immutable) that can be
re-rendered with ``synth.render.render_scenes``. Edits that would break the
scene's placement rules (overlap, leaving the canvas) raise
``InfeasibleSceneError`` instead of silently producing a different count.
Items keep their shapes, colours and target flags; distances use extent
radii (``synth.scenes.extent_radii``), so every shape keeps its gap.
Removing a distractor leaves the label (``Scene.count``) unchanged; adding
adds a target.
"""

from __future__ import annotations

import numpy as np

from synth.scenes import DEFAULT_COLOR, EXTENT_FACTORS, SHAPES, InfeasibleSceneError, Scene, extent_radii

__all__ = ["remove_circle", "add_circle", "move_circle", "scale_radii", "spread", "is_valid"]


def is_valid(scene: Scene, min_gap: float = 0.0, margin: float = 0.0) -> bool:
    """Whether every item's extent circle lies inside the canvas (with margin) and no two are closer than ``min_gap``."""
    x, y, r = scene.centers[:, 0], scene.centers[:, 1], extent_radii(scene)
    inside = (x - r >= margin) & (x + r <= scene.width - margin) & (y - r >= margin) & (y + r <= scene.height - margin)
    if not inside.all():
        return False
    if scene.n_items < 2:
        return True
    distance = np.linalg.norm(scene.centers[:, None] - scene.centers[None], axis=-1)  # [K, K]
    gaps = distance - r[:, None] - r[None, :]
    np.fill_diagonal(gaps, np.inf)
    return bool((gaps >= min_gap - 1e-9).all())


def remove_circle(scene: Scene, index: int) -> Scene:
    """The scene without item ``index`` (N - 1 targets if it was a target, N if a distractor)."""
    if not 0 <= index < scene.n_items:
        raise IndexError(f"remove_circle: index {index} out of range for a scene of {scene.n_items} items")
    return scene.select(np.arange(scene.n_items) != index)


def add_circle(
    scene: Scene,
    rng: np.random.Generator,
    radius: float | None = None,
    min_gap: float = 2.0,
    margin: float = 1.0,
    attempts: int = 2000,
    shape: int | None = None,
    color: np.ndarray | None = None,
    target: bool = True,
) -> Scene:
    """The scene plus one item at a random free spot (N + 1 targets).

    Args:
        radius: the new item's equal-area radius; default the scene's mean radius.
        shape: its code in ``SHAPES``; default the shape of a random target
            (the scene's target shape), a circle when there is none.
        color: its RGB colour; default the colour of that same target.
        target: whether it is counted (``move_circle`` re-adds distractors).
    """
    radius = float(scene.radii.mean()) if radius is None else float(radius)
    targets = np.flatnonzero(scene.targets)
    model = None
    if len(targets) and (shape is None or color is None):
        kinds = np.unique(np.column_stack([scene.shapes[targets], scene.colors[targets]]), axis=0)
        # One kind of target (the usual case) draws nothing from rng, so plain scenes edit as they always did.
        model = int(targets[0]) if len(kinds) == 1 else int(rng.choice(targets))
    if shape is None:
        shape = int(scene.shapes[model]) if model is not None else SHAPES.index("circle")
    if color is None:
        color = scene.colors[model] if model is not None else np.array(DEFAULT_COLOR, dtype=np.uint8)
    extent = radius * EXTENT_FACTORS[shape]
    low = np.array([extent + margin, extent + margin])
    high = np.array([scene.width - extent - margin, scene.height - extent - margin])
    if (high < low).any():
        raise InfeasibleSceneError(
            f"add_circle: a {SHAPES[shape]} of radius {radius:g} does not fit a {scene.width}x{scene.height} canvas"
        )
    trial = rng.uniform(low, high, size=(attempts, 2))  # [A, 2]
    if scene.n_items:
        distance = np.linalg.norm(trial[:, None] - scene.centers[None], axis=-1)  # [A, K]
        free = np.flatnonzero((distance - extent_radii(scene)[None] - extent >= min_gap).all(axis=1))
    else:
        free = np.arange(attempts)
    if len(free) == 0:
        raise InfeasibleSceneError(
            f"add_circle: no free spot for a {SHAPES[shape]} of radius {radius:g} in {attempts} tries"
        )
    return scene.replace(
        centers=np.vstack([scene.centers, trial[free[0]]]),
        radii=np.append(scene.radii, radius),
        colors=np.vstack([scene.colors, color]),
        shapes=np.append(scene.shapes, np.int8(shape)),
        targets=np.append(scene.targets, bool(target)),
    )


def move_circle(
    scene: Scene, index: int, rng: np.random.Generator, min_gap: float = 2.0, margin: float = 1.0
) -> Scene:
    """The scene with item ``index`` moved to a random free spot (same N, same shape, colour and role)."""
    removed = remove_circle(scene, index)
    moved = add_circle(
        removed, rng, radius=scene.radii[index], min_gap=min_gap, margin=margin,
        shape=int(scene.shapes[index]), color=scene.colors[index], target=bool(scene.targets[index]),
    )
    order = np.insert(np.arange(scene.n_items - 1), index, scene.n_items - 1)  # put it back at `index`
    return moved.select(order)


def scale_radii(scene: Scene, factor: float, min_gap: float = 0.0, margin: float = 0.0) -> Scene:
    """Every radius times ``factor``, centres fixed (same N, more or less ink; shapes kept).

    Raises:
        InfeasibleSceneError: if the scaled circles touch or leave the canvas.
    """
    edited = scene.replace(radii=scene.radii * factor)
    if not is_valid(edited, min_gap, margin):
        raise InfeasibleSceneError(f"scale_radii: factor {factor:g} makes items overlap or leave the canvas")
    return edited


def spread(scene: Scene, factor: float, min_gap: float = 0.0, margin: float = 0.0) -> Scene:
    """Centres moved away from (factor > 1) or towards their centroid, radii fixed (same N, other spacing).

    Raises:
        InfeasibleSceneError: if the result overlaps or leaves the canvas.
    """
    centroid = scene.centers.mean(axis=0, keepdims=True)  # [1, 2]
    edited = scene.replace(centers=centroid + (scene.centers - centroid) * factor)
    if not is_valid(edited, min_gap, margin):
        raise InfeasibleSceneError(f"spread: factor {factor:g} makes items overlap or leave the canvas")
    return edited
