"""Counterfactual edits of scenes: remove, add, move, resize, spread.

Each edit returns a new ``Scene`` (scenes are immutable) that can be
re-rendered with ``synth.render.render_scenes``. Edits that would break the
scene's placement rules (overlap, leaving the canvas) raise
``InfeasibleSceneError`` instead of silently producing a different count.
"""

from __future__ import annotations

import numpy as np

from synth.scenes import InfeasibleSceneError, Scene

__all__ = ["remove_circle", "add_circle", "move_circle", "scale_radii", "spread", "is_valid"]


def is_valid(scene: Scene, min_gap: float = 0.0, margin: float = 0.0) -> bool:
    """Whether every circle lies inside the canvas (with margin) and no two are closer than ``min_gap``."""
    x, y, r = scene.centers[:, 0], scene.centers[:, 1], scene.radii
    inside = (x - r >= margin) & (x + r <= scene.width - margin) & (y - r >= margin) & (y + r <= scene.height - margin)
    if not inside.all():
        return False
    if scene.count < 2:
        return True
    distance = np.linalg.norm(scene.centers[:, None] - scene.centers[None], axis=-1)  # [K, K]
    gaps = distance - r[:, None] - r[None, :]
    np.fill_diagonal(gaps, np.inf)
    return bool((gaps >= min_gap - 1e-9).all())


def remove_circle(scene: Scene, index: int) -> Scene:
    """The scene without circle ``index`` (N - 1 circles)."""
    if not 0 <= index < scene.count:
        raise IndexError(f"remove_circle: index {index} out of range for a scene of {scene.count} circles")
    keep = np.arange(scene.count) != index
    return scene.replace(centers=scene.centers[keep], radii=scene.radii[keep], colors=scene.colors[keep])


def add_circle(
    scene: Scene,
    rng: np.random.Generator,
    radius: float | None = None,
    min_gap: float = 2.0,
    margin: float = 1.0,
    attempts: int = 2000,
) -> Scene:
    """The scene plus one circle at a random free spot (N + 1 circles).

    Args:
        radius: the new circle's radius; default the scene's mean radius.
    """
    radius = float(scene.radii.mean()) if radius is None else float(radius)
    color = scene.colors[0] if scene.count else np.array([31, 119, 180], dtype=np.uint8)
    low = np.array([radius + margin, radius + margin])
    high = np.array([scene.width - radius - margin, scene.height - radius - margin])
    if (high < low).any():
        raise InfeasibleSceneError(f"add_circle: radius {radius:g} does not fit a {scene.width}x{scene.height} canvas")
    trial = rng.uniform(low, high, size=(attempts, 2))  # [A, 2]
    if scene.count:
        gaps = np.linalg.norm(trial[:, None] - scene.centers[None], axis=-1) - scene.radii[None] - radius  # [A, K]
        free = np.flatnonzero((gaps >= min_gap).all(axis=1))
    else:
        free = np.arange(attempts)
    if len(free) == 0:
        raise InfeasibleSceneError(f"add_circle: no free spot for a circle of radius {radius:g} in {attempts} tries")
    return scene.replace(
        centers=np.vstack([scene.centers, trial[free[0]]]),
        radii=np.append(scene.radii, radius),
        colors=np.vstack([scene.colors, color]),
    )


def move_circle(
    scene: Scene, index: int, rng: np.random.Generator, min_gap: float = 2.0, margin: float = 1.0
) -> Scene:
    """The scene with circle ``index`` moved to a random free spot (same N)."""
    removed = remove_circle(scene, index)
    moved = add_circle(removed, rng, radius=scene.radii[index], min_gap=min_gap, margin=margin)
    order = np.insert(np.arange(scene.count - 1), index, scene.count - 1)  # put it back at `index`
    return moved.replace(centers=moved.centers[order], radii=moved.radii[order], colors=moved.colors[order])


def scale_radii(scene: Scene, factor: float, min_gap: float = 0.0, margin: float = 0.0) -> Scene:
    """Every radius times ``factor``, centres fixed (same N, more or less ink).

    Raises:
        InfeasibleSceneError: if the scaled circles touch or leave the canvas.
    """
    edited = scene.replace(radii=scene.radii * factor)
    if not is_valid(edited, min_gap, margin):
        raise InfeasibleSceneError(f"scale_radii: factor {factor:g} makes circles overlap or leave the canvas")
    return edited


def spread(scene: Scene, factor: float, min_gap: float = 0.0, margin: float = 0.0) -> Scene:
    """Centres moved away from (factor > 1) or towards their centroid, radii fixed (same N, other spacing).

    Raises:
        InfeasibleSceneError: if the result overlaps or leaves the canvas.
    """
    centroid = scene.centers.mean(axis=0, keepdims=True)  # [1, 2]
    edited = scene.replace(centers=centroid + (scene.centers - centroid) * factor)
    if not is_valid(edited, min_gap, margin):
        raise InfeasibleSceneError(f"spread: factor {factor:g} makes circles overlap or leave the canvas")
    return edited
