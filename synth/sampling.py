"""``sample_scenes``: scenes drawn from a recipe, uncontrolled or under its numerosity control.

The one entry every caller uses to draw scenes. An uncontrolled recipe
(``control="none"``) is sampled here: counts cycle over the range, items are
placed uniformly on the canvas. A ``"dewind"`` recipe goes to
``synth.numerosity.sample_dewind_scenes``. This module sits above both
``synth.scenes`` (the scene, the recipe, packing) and ``synth.numerosity``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from synth.numerosity import sample_dewind_scenes
from synth.scenes import (EXTENT_FACTORS, InfeasibleSceneError, Scene, SceneRecipe, check_feasible, draw_items,
                          max_feasible_count, place_circles)

__all__ = ["sample_scenes"]


def sample_scenes(
    recipe: SceneRecipe, n: int, seed: int, timeout_s: float = 30.0, progress: Callable[[int], None] | None = None
) -> list[Scene]:
    """Sample ``n`` scenes, target counts spread evenly over the recipe's range.

    Counts cycle through the range (``lo, lo+1, ..., hi, lo, ...``) so every
    class gets ``n / (hi - lo + 1)`` images up to one; the scenes themselves
    are random. The same ``(recipe, n, seed)`` always gives the same scenes.

    Args:
        progress: called with the number of scenes just finished (e.g. a
            progress bar's ``update``).

    Raises:
        InfeasibleSceneError: before any sampling when the recipe cannot be
            packed, or when the sampler gets stuck (never hangs: bounded by
            restarts and ``timeout_s``).
    """
    if n < 0:
        raise ValueError(f"n: expected a non-negative number of images, got {n}")
    check_feasible(recipe)
    if recipe.control == "dewind":
        return sample_dewind_scenes(recipe, n, seed, timeout_s=timeout_s, progress=progress)
    rng = np.random.default_rng(seed)
    lo, hi = recipe.counts
    counts = lo + np.arange(n) % (hi - lo + 1)
    full_box = (0.0, 0.0, float(recipe.width), float(recipe.height))
    field_area = float(recipe.width * recipe.height)
    started = time.monotonic()
    scenes = []
    for count in counts:
        items = draw_items(recipe, int(count), rng)
        total = len(items.targets)
        if recipe.radius_range:
            radii = rng.uniform(recipe.radius_range[0], recipe.radius_range[1], size=total)
        else:
            radii = np.full(total, float(recipe.radius))
        extents = radii * np.asarray(EXTENT_FACTORS)[items.shapes]
        centres = place_circles(
            extents, full_box, (recipe.width, recipe.height), recipe.margin, recipe.min_gap, rng, overlap=recipe.overlap
        )
        if centres is None or time.monotonic() - started > timeout_s:
            raise InfeasibleSceneError(
                f"gave up packing {recipe.describe()}: {total} {recipe.item_noun} did not fit after repeated "
                f"restarts; lower the count (feasible bound {max_feasible_count(recipe)}) or the radius"
            )
        scenes.append(recipe.scene(centres, radii, field_area, items))
        if progress is not None:
            progress(1)
    return scenes
