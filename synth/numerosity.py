"""Numerosity descriptors and the samplers that control them: DeWind et al. (2015) and Nasr et al. (2019).

``describe_scene`` gives a scene's descriptors (``DESCRIPTOR_NAMES``: count,
ISA, TSA, field and hull area, sparsity, density, coverage, log Size, log
Spacing, ...), of its *targets* only. ``sample_dewind_scenes`` draws log N,
log Size (ISA x TSA) and log Spacing (FA x Sparsity) independently over a
stratified design (``dewind_design_box``); ``sample_constant_area_scenes`` and
``sample_constant_hull_scenes`` are Nasr et al.'s controls 1 and 2. Radii are
equal-area radii, packing uses extent radii; distractors share the scene's
item size and field. docs/STIMULI.md ("What the DeWind control holds
independent of count") and docs/INSTRUMENTS.md, section 2, give the design,
its limits and the references.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

import numpy as np

from synth.scenes import (EXTENT_FACTORS, InfeasibleSceneError, Scene, SceneRecipe, check_feasible, draw_items,
                          max_feasible_radius, place_circles)

__all__ = [
    "describe_scene",
    "describe_scenes",
    "DESCRIPTOR_NAMES",
    "sample_dewind_scenes",
    "dewind_ranges",
    "dewind_design_box",
    "constant_area_radii",
    "sample_constant_area_scenes",
    "sample_constant_hull_scenes",
    "HULL_TOLERANCE",
]

HULL_TOLERANCE = 0.1  # constant-hull scenes: each hull area within 10% of the target

DESCRIPTOR_NAMES = (
    "count",
    "isa",
    "tsa",
    "field_area",
    "hull_area",
    "sparsity",
    "density",
    "coverage",
    "size",
    "spacing",
    "mean_radius",
    "mean_nn_distance",
)


def _hull_area(points: np.ndarray) -> float:
    if len(points) < 3:
        return 0.0
    from scipy.spatial import ConvexHull, QhullError

    try:
        return float(ConvexHull(points).volume)  # in 2-D, "volume" is the area
    except QhullError:  # collinear centres
        return 0.0


def describe_scene(scene: Scene) -> dict[str, float]:
    """DeWind descriptors of one scene's targets (areas in px^2, distances in px; distractors ignored).

    Returns:
        dict with ``DESCRIPTOR_NAMES``: count N; isa (mean item area); tsa
        (total surface area, sum of disc areas); field_area (FA, the
        sampling field; the canvas for uncontrolled scenes); hull_area
        (convex hull of the centres); sparsity = FA / N; density = N / FA;
        coverage = TSA / FA; size = ISA x TSA; spacing = FA x sparsity;
        mean_radius; mean_nn_distance (centre to nearest centre; 0 if N = 1).
    """
    if not scene.targets.all():
        scene = scene.select(scene.targets)
    count = scene.count
    areas = math.pi * scene.radii**2
    tsa = float(areas.sum())
    isa = tsa / count if count else 0.0
    field = float(scene.field_area or scene.width * scene.height)
    sparsity = field / count if count else 0.0
    if count > 1:
        distance = np.linalg.norm(scene.centers[:, None] - scene.centers[None], axis=-1)
        np.fill_diagonal(distance, np.inf)
        nearest = float(distance.min(axis=1).mean())
    else:
        nearest = 0.0
    return {
        "count": count,
        "isa": isa,
        "tsa": tsa,
        "field_area": field,
        "hull_area": _hull_area(scene.centers),
        "sparsity": sparsity,
        "density": count / field,
        "coverage": tsa / field,
        "size": isa * tsa,
        "spacing": field * sparsity,
        "mean_radius": float(scene.radii.mean()) if count else 0.0,
        "mean_nn_distance": nearest,
    }


def describe_scenes(scenes: list[Scene]) -> list[dict[str, float]]:
    """``describe_scene`` for each scene."""
    return [describe_scene(scene) for scene in scenes]


def dewind_ranges(recipe: SceneRecipe) -> dict[str, tuple[float, float]]:
    """Ranges of log Size and log Spacing that every count of the recipe can reach.

    Item area ranges over the recipe's radii; the field is a centred disc whose
    area ranges from ``1 / max(4, 2 sqrt(hi/lo))`` of the largest disc that keeps every
    circle inside the canvas. For Size = N x ISA^2 to be independent of N,
    each Size must be reachable at every N: Size in [hi x ISA_min^2,
    lo x ISA_max^2] (and likewise Spacing = FA^2 / N in [hi x FA_min^2 ...]).

    Raises:
        InfeasibleSceneError: when the radius (or field) range is too narrow
            for the count range, naming the ratio needed.
    """
    lo, hi = recipe.counts
    r_min, r_max = recipe.min_radius, recipe.max_radius
    if recipe.radius_range is None:  # a fixed radius gives no Size range: span 0.6x..1.4x around it
        r_min, r_max = 0.6 * recipe.radius, 1.4 * recipe.radius
    isa_min, isa_max = math.pi * r_min**2, math.pi * r_max**2
    field_radius_max = min(recipe.width, recipe.height) / 2 - r_max * recipe.extent_factor - recipe.margin
    if field_radius_max <= 0:
        raise InfeasibleSceneError(f"dewind: radius {r_max:g} leaves no field on a {recipe.width}x{recipe.height} canvas")
    fa_max = math.pi * field_radius_max**2
    # Spacing = FA^2 / N must be reachable at every N: FA_max / FA_min > sqrt(hi / lo).
    fa_min = fa_max / max(4.0, 2.0 * math.sqrt(hi / lo))
    size = (math.log(hi * isa_min**2), math.log(lo * isa_max**2))
    # Spacing = FA^2 / N: reachable at every N when in [FA_min^2 / lo, FA_max^2 / hi]
    spacing = (math.log(fa_min**2 / lo), math.log(fa_max**2 / hi))
    if size[0] >= size[1]:
        need = (hi / lo) ** 0.25
        raise InfeasibleSceneError(
            f"dewind: radius range {r_min:g}-{r_max:g} is too narrow for counts {lo}-{hi}: "
            f"Size can only be held independent of N if max/min radius > {need:.2f}; widen --radius-range"
        )
    if spacing[0] >= spacing[1]:
        raise InfeasibleSceneError(
            f"dewind: counts {lo}-{hi} span more than the field-area range allows"
        )
    return {"log_size": size, "log_spacing": spacing, "radius": (r_min, r_max)}


# Coverage of the field disc (N disks of radius r + gap/2 over a disc of
# radius R + r + gap/2) that the design allows. Random sequential placement
# jams near 0.55; staying below it keeps placement failures rare, and a
# failure is retried in the same design cell, so failures cannot bend the
# design. 0.45 rather than lower because the box shrinks fast with it at
# 45-50 circles on 64 px.
DESIGN_COVERAGE = 0.45

# The design grid: BINS x BINS cells over (log Size, log Spacing).
BINS = 5


def _field_fits(recipe: SceneRecipe, log_size: float, log_spacing: float, coverage: float = DESIGN_COVERAGE) -> bool:
    """Whether every count of the recipe (plus the most distractors) packs at this (Size, Spacing) with room to spare."""
    for count in range(recipe.counts[0], recipe.counts[1] + 1):
        radius, field_radius = _radius_and_field(count, log_size, log_spacing)
        effective = radius * recipe.extent_factor + recipe.min_gap / 2
        items = count + recipe.distractors[1]
        if items > 1 and items * effective**2 > coverage * (field_radius + effective) ** 2:
            return False
    return True


def _radius_and_field(count: int, log_size: float, log_spacing: float) -> tuple[float, float]:
    """Equal-area item radius and field-disc radius of a scene with this N, Size and Spacing.

    ISA = sqrt(Size / N) and FA = sqrt(Spacing x N) invert Size = N ISA^2 and
    Spacing = FA^2 / N.
    """
    isa = math.sqrt(math.exp(log_size) / count)
    field_area = math.sqrt(math.exp(log_spacing) * count)
    return math.sqrt(isa / math.pi), math.sqrt(field_area / math.pi)


def dewind_design_box(recipe: SceneRecipe) -> dict[str, tuple[float, float]]:
    """The largest rectangle of (log Size, log Spacing) where every count packs.

    Large items in a small field do not pack, so the reachable region of
    ``dewind_ranges`` loses a corner. Sampling that region and rejecting
    what does not pack would tie Size to Spacing; sampling a rectangle
    inside it keeps all three axes independent. Packing gets harder as Size
    grows and as Spacing shrinks, so for each candidate top of the Size range
    the bottom of the Spacing range is found by bisection, and the pair with
    the largest area (in log units) wins.

    Returns:
        ``{"log_size": (lo, hi), "log_spacing": (lo, hi)}``.

    Raises:
        InfeasibleSceneError: not even the smallest items in the largest
            field pack at every count.
    """
    ranges = dewind_ranges(recipe)
    (size_lo, size_hi), (spacing_lo, spacing_hi) = ranges["log_size"], ranges["log_spacing"]
    best = None
    for size_top in np.linspace(size_lo, size_hi, 41)[1:]:
        if not _field_fits(recipe, size_top, spacing_hi):
            continue
        low, high = spacing_lo, spacing_hi  # invariant: high fits
        if _field_fits(recipe, size_top, low):
            high = low
        for _ in range(30):
            if high - low < 1e-3:
                break
            middle = (low + high) / 2
            low, high = (low, middle) if _field_fits(recipe, size_top, middle) else (middle, high)
        area = (size_top - size_lo) * (spacing_hi - high)
        if best is None or area > best[0]:
            best = (area, size_top, high)
    if best is None or best[0] <= 0:
        raise InfeasibleSceneError(
            f"dewind: {recipe.max_items} {recipe.item_noun} of radius {ranges['radius'][0]:g}-{ranges['radius'][1]:g} "
            f"cannot be packed on a {recipe.width}x{recipe.height} canvas at any Size and Spacing; "
            f"use a smaller radius or a larger canvas"
        )
    return {"log_size": (size_lo, best[1]), "log_spacing": (best[2], spacing_hi)}


def _design(counts: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Size and Spacing bins per scene, balanced within each count.

    Each count walks through the ``BINS x BINS`` cells in a fresh random
    order per pass, so every full pass gives that count every (Size,
    Spacing) cell once: count, Size bin and Spacing bin are a full factorial
    up to the last, partial pass.

    Returns:
        size bin ``[n]`` and spacing bin ``[n]`` in ``0..BINS-1``.
    """
    cells = np.empty(len(counts), dtype=np.int64)
    for count in np.unique(counts):
        where = np.flatnonzero(counts == count)
        passes = -(-len(where) // (BINS * BINS))
        order = np.concatenate([rng.permutation(BINS * BINS) for _ in range(passes)])
        cells[where] = order[: len(where)]
    return cells // BINS, cells % BINS


def sample_dewind_scenes(
    recipe: SceneRecipe, n: int, seed: int, timeout_s: float = 30.0, progress: Callable[[int], None] | None = None
) -> list[Scene]:
    """Sample scenes with log N, log Size and log Spacing independent of each other.

    Counts cycle over the range as in ``sample_scenes``. (log Size, log
    Spacing) come from a stratified design over ``dewind_design_box``: each
    count visits every cell of a ``BINS x BINS`` grid equally often (see
    ``_design``), and within a cell the point is uniform. That gives ISA =
    sqrt(Size / N) and FA = sqrt(Spacing x N); all circles of a scene share
    that ISA (DeWind's stimuli), centres are uniform in a centred disc of
    area FA. Distractors (if any) take the same ISA and field. The box leaves room to spare, so a placement that fails is
    retried in the same cell rather than moved elsewhere, and the design
    stays balanced.

    Args:
        progress: called with the number of scenes just finished.

    Raises:
        InfeasibleSceneError: no box packs, or a cell fails 50 times in a row.
    """
    box = dewind_design_box(recipe)
    rng = np.random.default_rng(seed)
    lo, hi = recipe.counts
    counts = lo + np.arange(n) % (hi - lo + 1)
    size_bins, spacing_bins = _design(counts, rng)
    centre = (recipe.width / 2, recipe.height / 2)
    canvas_box = (0.0, 0.0, float(recipe.width), float(recipe.height))
    started = time.monotonic()
    scenes = []
    for count, size_bin, spacing_bin in zip(counts, size_bins, spacing_bins):
        items = draw_items(recipe, int(count), rng)
        factors = np.asarray(EXTENT_FACTORS)[items.shapes]  # [K] extent / equal-area radius
        for _attempt in range(50):
            log_size = _in_bin(box["log_size"], size_bin, rng.uniform())
            log_spacing = _in_bin(box["log_spacing"], spacing_bin, rng.uniform())
            radius, field_radius = _radius_and_field(int(count), log_size, log_spacing)
            radii = np.full(len(factors), radius)
            centres = place_circles(
                radii * factors, canvas_box, (recipe.width, recipe.height), recipe.margin, recipe.min_gap, rng,
                max_restarts=4, field_disc=(centre[0], centre[1], field_radius),
            )
            if centres is not None or time.monotonic() - started > timeout_s:
                break
        if centres is None:
            raise InfeasibleSceneError(
                f"dewind: could not pack {len(factors)} {recipe.item_noun} for {recipe.describe()}; use a smaller radius "
                f"range or a larger canvas"
            )
        scenes.append(recipe.scene(centres, radii, math.pi * field_radius**2, items))
        if progress is not None:
            progress(1)
    return scenes


def _in_bin(bounds: tuple[float, float], index: int, fraction: float) -> float:
    """The point ``fraction`` of the way through bin ``index`` of ``BINS`` equal bins of ``bounds``."""
    return bounds[0] + (index + fraction) * (bounds[1] - bounds[0]) / BINS


# ------------------------------------------------------------------ Nasr et al.'s control sets


def constant_area_radii(recipe: SceneRecipe) -> dict[int, float]:
    """Per count of the recipe's range, the equal-area radius that gives every scene the same TSA.

    ``radius(N) = sqrt(TSA / (N pi))`` with ``TSA = hi pi recipe.radius^2`` (the recipe's radius at its
    largest count), lowered when the smallest count's larger items would not pack.

    Raises:
        InfeasibleSceneError: no TSA packs every count.
    """
    lo, hi = recipe.counts
    single = dataclasses.replace(recipe, counts=(lo, lo), radius_range=None)
    largest = max_feasible_radius(single)  # the smallest count's items are the largest
    tsa = min(hi * math.pi * recipe.radius**2, lo * math.pi * largest**2)
    radii = {count: math.sqrt(tsa / (count * math.pi)) for count in range(lo, hi + 1)}
    for count, radius in radii.items():
        check_feasible(dataclasses.replace(recipe, counts=(count, count), radius=radius, radius_range=None))
    return radii


def sample_constant_area_scenes(recipe: SceneRecipe, n: int, seed: int, timeout_s: float = 30.0) -> list[Scene]:
    """Scenes whose targets' total surface area is the same (Nasr et al.'s control 1).

    Counts cycle over the range as in ``sample_scenes``; every item of a scene of N
    targets gets the radius ``constant_area_radii(recipe)[N]`` (distractors too, uncounted);
    centres are uniform on the canvas, as in ``sample_scenes`` (field area: the canvas).

    Raises:
        InfeasibleSceneError: no TSA packs every count, or the sampler gets stuck.
    """
    radii_of = constant_area_radii(recipe)
    rng = np.random.default_rng(seed)
    lo, hi = recipe.counts
    full_box = (0.0, 0.0, float(recipe.width), float(recipe.height))
    started, scenes = time.monotonic(), []
    for count in lo + np.arange(n) % (hi - lo + 1):
        items = draw_items(recipe, int(count), rng)
        radii = np.full(len(items.targets), radii_of[int(count)])
        centres = place_circles(radii * np.asarray(EXTENT_FACTORS)[items.shapes], full_box,
                                (recipe.width, recipe.height), recipe.margin, recipe.min_gap, rng)
        if centres is None or time.monotonic() - started > timeout_s:
            raise InfeasibleSceneError(f"constant area: could not pack {count} {recipe.item_noun} of radius "
                                       f"{radii_of[int(count)]:.2f} for {recipe.describe()}")
        scenes.append(recipe.scene(centres, radii, float(recipe.width * recipe.height), items))
    return scenes


def sample_constant_hull_scenes(recipe: SceneRecipe, n: int, seed: int, timeout_s: float = 30.0,
                                tolerance: float = HULL_TOLERANCE) -> list[Scene]:
    """Scenes whose centres' convex hull has the same area (Nasr et al.'s control 2).

    The target hull area is what the largest count needs at the recipe's radius (its items at packing
    density 0.45, less the half-spacing band round the centres), at least 6% of the largest field
    disc that keeps items inside the canvas (``pi R^2``), and at most what the fewest items (3 or
    more) span as often as not (twice their mean hull in that disc, ``_mean_hull_fraction``). Items
    keep the recipe's radius unless their count does not pack in that hull: those counts get the
    largest radius that does (item size then falls with N for them, as in the constant-area set).
    Centres are drawn in a disc round the canvas centre; after each draw whose hull misses the
    target by more than ``tolerance`` the disc is rescaled towards it (a hull scales with the square
    of the disc's radius) and the scene is drawn again. One or two centres have no hull (area 0):
    those scenes use the disc the three-item scenes settle on. ``field_area`` records the disc used.

    Raises:
        InfeasibleSceneError: an item would be under half a pixel in radius, or a scene misses the
            target in every attempt.
    """
    check_feasible(dataclasses.replace(recipe, radius_range=None))
    rng = np.random.default_rng(seed)
    lo, hi = recipe.counts
    largest_disc = min(recipe.width, recipe.height) / 2 - recipe.radius * recipe.extent_factor - recipe.margin

    def needed(count: int, radius: float) -> float:  # hull of `count` centres packed at density 0.45
        spacing = 2 * radius * recipe.extent_factor + recipe.min_gap
        return max(0.0, math.sqrt(count * math.pi * (spacing / 2) ** 2 / 0.45) - spacing) ** 2

    reach = min(0.7, 2 * _mean_hull_fraction(max(lo, 3))) * math.pi * largest_disc**2
    target = min(max(0.06 * math.pi * largest_disc**2, needed(hi, recipe.radius)), reach)
    radius_of = {}
    for count in range(lo, hi + 1):
        radius = float(recipe.radius)
        if needed(count, radius) > target:  # solve needed(count, r) = target for the spacing, then r
            spacing = math.sqrt(target) / (math.sqrt(count * math.pi / 1.8) - 1)
            radius = (spacing - recipe.min_gap) / (2 * recipe.extent_factor)
        if largest_disc <= 0 or radius < 0.5:
            raise InfeasibleSceneError(f"constant hull: {count} {recipe.item_noun} do not fit a hull of "
                                       f"{target:.0f} px^2 at a radius of half a pixel or more on {recipe.describe()}")
        radius_of[count] = radius
    centre = (recipe.width / 2, recipe.height / 2)
    canvas_box = (0.0, 0.0, float(recipe.width), float(recipe.height))
    disc = {}  # count -> the disc radius that last met the target (the next scene of that count starts there)
    started, scenes = time.monotonic(), []
    for count in lo + np.arange(n) % (hi - lo + 1):
        count = int(count)
        items = draw_items(recipe, count, rng)
        radius = radius_of[count]
        extents = np.full(len(items.targets), radius) * np.asarray(EXTENT_FACTORS)[items.shapes]
        field = disc.get(max(count, 3), math.sqrt(target / 0.4) / math.sqrt(math.pi))
        centres = None
        for _attempt in range(1000):
            if time.monotonic() - started > timeout_s:
                break
            field = min(field, largest_disc)
            placed = place_circles(extents, canvas_box, (recipe.width, recipe.height), recipe.margin, recipe.min_gap, rng,
                                   max_restarts=4, field_disc=(centre[0], centre[1], field))
            if placed is None:
                field *= 1.1  # too tight to pack: widen
                continue
            hull = _hull_area(placed[items.targets])
            if count < 3 or abs(hull / target - 1) <= tolerance:
                centres, disc[count] = placed, field
                break
            field *= math.sqrt(target / max(hull, 1e-9)) ** 0.5  # half a step: hulls vary a lot between draws
        if centres is None:
            raise InfeasibleSceneError(f"constant hull: could not place {count} {recipe.item_noun} with a hull of "
                                       f"{target:.0f} px^2 (+-{tolerance:.0%}) for {recipe.describe()}")
        scenes.append(recipe.scene(centres, np.full(len(extents), radius), math.pi * field**2, items))
    return scenes


def _mean_hull_fraction(count: int, draws: int = 400) -> float:
    """Mean convex-hull area of ``count`` points uniform in a disc, as a fraction of the disc (0.074 for 3)."""
    rng = np.random.default_rng(0)
    angle = rng.uniform(0, 2 * math.pi, (draws, count))
    distance = np.sqrt(rng.uniform(0, 1, (draws, count)))
    points = np.stack([distance * np.cos(angle), distance * np.sin(angle)], axis=-1)  # [draws, count, 2]
    return float(np.mean([_hull_area(p) for p in points]) / math.pi)
