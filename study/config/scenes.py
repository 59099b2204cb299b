"""A counting cell's scenes as configuration: the ``SceneRecipe`` its images are drawn from.

Pure geometry (``synth.scenes``, numpy; no torch), so a sweep can resolve the
auto radius and refuse a cell whose circles cannot be packed while it is
read, and ``study.data.tasks`` draws exactly these scenes when it builds the
data.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from study.config.spec import TrainSpec
from study.errors import ConfigError
from synth.scenes import (
    MIN_RADIUS_PX,
    InfeasibleSceneError,
    SceneRecipe,
    auto_gap,
    auto_radius,
    check_feasible,
    parse_range,
)

__all__ = ["DEWIND_RADIUS_SPREAD", "canvas_width", "dewind_scene_recipe", "rendered_scene_recipe", "scaled_scene_recipe",
           "scene_recipe"]

# Radii of varied-size and DeWind scenes: uniform on [(1 - s) r, (1 + s) r]
# around the cell's radius r (max/min = 3). DeWind's design holds Size
# independent of N only when max/min radius > (hi/lo)^(1/4): 1.50 for 1-5,
# 1.16 for 11-20, 1.03 for 45-50, so a ratio of 3 serves every range the
# presets use, and radii stay within half a radius of the training circles.
DEWIND_RADIUS_SPREAD = 0.5


def scene_recipe(spec: TrainSpec) -> SceneRecipe:
    """The ``SceneRecipe`` a counting cell's training scenes are drawn from (auto radius and gap resolved).

    Its canvas is the scene canvas: ``scene_size`` (times ``aspect`` in
    width) when set, else ``size``; ``rendered_scene_recipe`` is the same
    spec on the images' canvas.

    An explicit ``radius`` is used as given (at least ``MIN_RADIUS_PX``).
    The auto radius is ``synth.scenes.auto_radius`` (4% of the side, capped
    so the largest count covers at most 30% of the canvas), raised to
    ``MIN_RADIUS_PX`` when smaller; it is never shrunk further. Cheap enough
    to call at configuration time to refuse impossible cells.

    Raises:
        ConfigError: the training scenes cannot be packed (naming the largest
            feasible count at that radius and the largest feasible radius for
            the count), or, when ``n_test_dewind > 0``, the controlled test
            set cannot be built at this size (see ``dewind_scene_recipe``).
    """
    base = _training_scene_recipe(spec)
    if spec.n_test_dewind > 0:
        dewind_scene_recipe(spec, base)
    return base


def rendered_scene_recipe(spec: TrainSpec) -> SceneRecipe:
    """``scene_recipe`` scaled to the images' canvas (``size``): draw new scenes from this to show them
    to a trained model (it is ``scene_recipe`` itself when ``scene_size`` is 0)."""
    return scaled_scene_recipe(scene_recipe(spec), spec)


def scaled_scene_recipe(scenes_spec: SceneRecipe, spec: TrainSpec) -> SceneRecipe:
    """A scene spec with every length multiplied by ``spec.render_scale`` (canvas as the images')."""
    factor = spec.render_scale
    if factor == 1.0:
        return scenes_spec
    radius_range = scenes_spec.radius_range
    return dataclasses.replace(
        scenes_spec, width=canvas_width(spec, spec.size), height=spec.size, radius=scenes_spec.radius * factor,
        radius_range=(radius_range[0] * factor, radius_range[1] * factor) if radius_range else None,
        min_gap=scenes_spec.min_gap * factor, margin=scenes_spec.margin * factor,
    )


def canvas_width(spec: TrainSpec, side: int) -> int:
    """Width in px of a canvas ``side`` px high at the cell's ``aspect``."""
    return int(round(side * spec.aspect))


def _radius_range(radius: float) -> tuple[float, float]:
    """Varied radii around ``radius`` (``DEWIND_RADIUS_SPREAD``), never below ``MIN_RADIUS_PX``."""
    return max(MIN_RADIUS_PX, (1 - DEWIND_RADIUS_SPREAD) * radius), (1 + DEWIND_RADIUS_SPREAD) * radius


def _training_scene_recipe(spec: TrainSpec) -> SceneRecipe:
    lo, hi = parse_range(spec.counts, "counts")
    side = spec.scene_size or spec.size
    height, width = side, canvas_width(spec, side)
    gap = spec.min_gap or auto_gap(side)

    def make(radius: float) -> SceneRecipe:
        try:
            return SceneRecipe(
                counts=(lo, hi), width=width, height=height, radius=radius,
                radius_range=_radius_range(radius) if spec.sizes in ("varied", "dewind") else None,
                min_gap=gap, control="dewind" if spec.sizes == "dewind" else "none", **_stimulus(spec),
            )
        except ValueError as error:  # a combination synth cannot draw, e.g. overlap with sizes=dewind
            raise ConfigError(f"scenes of counts {spec.counts}: {error}") from None

    if spec.radius:
        if spec.radius < MIN_RADIUS_PX:
            raise ConfigError(f"radius: expected at least {MIN_RADIUS_PX:g} px (or 0 = auto), got {spec.radius:g}")
        return _checked(make(spec.radius), "radius")
    # The auto radius is capped so the largest count covers <= 30% of the canvas, well
    # inside the sampler's limit: when even that (or the 1 px floor) cannot pack, the
    # cell is impossible at this size, and shrinking further would only hide it.
    probe = make(MIN_RADIUS_PX)  # knows the most items per scene and the shapes' extent
    radius = max(MIN_RADIUS_PX, auto_radius(width, height, probe.max_items, gap, probe.extent_factor))
    return _checked(make(radius), "counts")


def _stimulus(spec: TrainSpec) -> dict[str, Any]:
    """The ``SceneRecipe`` options of a cell's items: shape, colour, distractors, overlap."""
    try:
        return {"shape": spec.shape, "colour": spec.colour, "distractor_kind": spec.distractor_kind,
                "distractors": parse_range(spec.distractors, "distractors", minimum=0), "overlap": spec.overlap}
    except ValueError as error:
        raise ConfigError(str(error)) from None


def _infeasibility(candidate: SceneRecipe) -> str | None:
    """Why the sampler cannot pack ``candidate`` (synth's message), or None when it can."""
    try:
        check_feasible(candidate)
        if candidate.control == "dewind":
            from synth.numerosity import dewind_ranges

            dewind_ranges(candidate)
    except InfeasibleSceneError as error:
        return str(error)
    return None


def _checked(candidate: SceneRecipe, field: str) -> SceneRecipe:
    problem = _infeasibility(candidate)
    if problem is not None:
        raise ConfigError(f"{field}: {problem}")
    return candidate


def dewind_scene_recipe(spec: TrainSpec, base: SceneRecipe | None = None) -> SceneRecipe:
    """The ``SceneRecipe`` of a counting cell's controlled (DeWind) test set.

    Same count range, canvas, gap and items as the training scenes (never
    overlapping: DeWind's descriptors assume items that do not occlude each
    other); radii vary
    around the cell's radius ``r`` on ``[max(1 px, 0.5 r), 1.5 r]``
    (``DEWIND_RADIUS_SPREAD``), which DeWind's design needs to hold Size
    independent of N. Count is then independent of Size (ISA x TSA) and
    Spacing (FA x Sparsity); it cannot be independent of TSA and ISA at once
    (log TSA - log ISA = log N), so for a narrow range such as 45-50 TSA is
    nearly uncorrelated with N, while for 1-5 a correlation of about 0.6
    remains (against exactly 1 in the fixed-radius i.i.d. test set).

    Args:
        spec: the counting cell.
        base: its training ``scene_recipe`` when already computed.

    Raises:
        ConfigError: this radius range cannot hold Size independent of N for
            the count range, or the largest count does not fit.
    """
    base = base or _training_scene_recipe(spec)
    # DeWind's size and spacing descriptors assume items that do not occlude each other, so
    # an overlap cell's controlled set is drawn without overlap (its items still fit the cell's).
    candidate = dataclasses.replace(base, radius_range=_radius_range(base.radius), control="dewind", overlap=False)
    return _checked(candidate, "n_test_dewind")
