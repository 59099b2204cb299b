"""Numerosity descriptors and DeWind-controlled sampling.

DeWind, Adams, Platt & Brannon (2015), "Modeling the approximate number
system to quantify the contribution of visual stimulus features", Cognition
142. Every dot array is a point in a 3-D log space spanned by

    log N,
    log Size    = log ISA + log TSA     (item and total surface area),
    log Spacing = log FA  + log Sparsity (field area and field area per item),

with TSA = N x ISA and Sparsity = FA / N. Sampling log N, log Size and
log Spacing independently makes count orthogonal to the two non-numerical
axes, which is what lets the confound regression in ``analysis`` separate
them. Note what cannot be done: since log TSA - log ISA = log N, count can
never be decorrelated from TSA and ISA at once; DeWind's design puts each at
half-weight on log N (corr(log N, log TSA) = sqrt(var N / (var N + var Size))
falls as the Size range widens).

Field area (FA) here is the area of the disc the centres are drawn from
(the *field*), as in DeWind's stimuli; ``hull_area`` (convex hull of the
centres) is recorded beside it as the area the viewer can see.
"""

from __future__ import annotations

import math
import time

import numpy as np

from synth.scenes import InfeasibleSceneError, Scene, SceneSpec, place_circles

__all__ = ["describe_scene", "describe_scenes", "DESCRIPTOR_NAMES", "sample_dewind_scenes", "dewind_ranges"]

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
    """DeWind descriptors of one scene (areas in px^2, distances in px).

    Returns:
        dict with ``DESCRIPTOR_NAMES``: count N; isa (mean item area); tsa
        (total surface area, sum of disc areas); field_area (FA, the
        sampling field; the canvas for uncontrolled scenes); hull_area
        (convex hull of the centres); sparsity = FA / N; density = N / FA;
        coverage = TSA / FA; size = ISA x TSA; spacing = FA x sparsity;
        mean_radius; mean_nn_distance (centre to nearest centre; 0 if N = 1).
    """
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


def dewind_ranges(spec: SceneSpec) -> dict[str, tuple[float, float]]:
    """Ranges of log Size and log Spacing that every count of the spec can reach.

    Item area ranges over the spec's radii; the field is a centred disc whose
    area ranges from ``1 / max(4, 2 sqrt(hi/lo))`` of the largest disc that keeps every
    circle inside the canvas. For Size = N x ISA^2 to be independent of N,
    each Size must be reachable at every N: Size in [hi x ISA_min^2,
    lo x ISA_max^2] (and likewise Spacing = FA^2 / N in [hi x FA_min^2 ...]).

    Raises:
        InfeasibleSceneError: when the radius (or field) range is too narrow
            for the count range, naming the ratio needed.
    """
    lo, hi = spec.counts
    r_min, r_max = spec.min_radius, spec.max_radius
    if spec.radius_range is None:  # a fixed radius gives no Size range: span 0.6x..1.4x around it
        r_min, r_max = 0.6 * spec.radius, 1.4 * spec.radius
    isa_min, isa_max = math.pi * r_min**2, math.pi * r_max**2
    field_radius_max = min(spec.width, spec.height) / 2 - r_max - spec.margin
    if field_radius_max <= 0:
        raise InfeasibleSceneError(f"dewind: radius {r_max:g} leaves no field on a {spec.width}x{spec.height} canvas")
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


def sample_dewind_scenes(spec: SceneSpec, n: int, seed: int, timeout_s: float = 30.0) -> list[Scene]:
    """Sample scenes with log N, log Size, log Spacing drawn independently.

    Counts cycle over the range as in ``sample_scenes``; for each scene a
    (Size, Spacing) pair is drawn uniformly in log space from
    ``dewind_ranges``, giving ISA = sqrt(Size / N) and FA = sqrt(Spacing x
    N); all circles of a scene share that ISA (DeWind's stimuli). Draws
    whose circles the sampler cannot pack are redrawn (at most 200 times per
    scene, then an error): a small bias towards sparse layouts at the
    largest counts, which the test of decorrelation measures.
    """
    ranges = dewind_ranges(spec)
    rng = np.random.default_rng(seed)
    lo, hi = spec.counts
    counts = lo + np.arange(n) % (hi - lo + 1)
    centre = (spec.width / 2, spec.height / 2)
    started = time.monotonic()
    scenes = []
    for count in counts:
        for _attempt in range(200):
            log_size = rng.uniform(*ranges["log_size"])
            log_spacing = rng.uniform(*ranges["log_spacing"])
            isa = math.sqrt(math.exp(log_size) / count)
            field_area = math.sqrt(math.exp(log_spacing) * count)
            radius = math.sqrt(isa / math.pi)
            field_radius = math.sqrt(field_area / math.pi)
            radii = np.full(count, radius)
            centres = None
            effective = radius + spec.min_gap / 2
            # Skip draws whose disks cannot fit the field (excluded area over half the field).
            if count * effective**2 <= 0.5 * (field_radius + effective) ** 2:
                centres = place_circles(
                    radii,
                    (0.0, 0.0, float(spec.width), float(spec.height)),
                    (spec.width, spec.height),
                    spec.margin,
                    spec.min_gap,
                    rng,
                    max_restarts=4,
                    field_disc=(centre[0], centre[1], field_radius),
                )
            if centres is not None:
                break
            if time.monotonic() - started > timeout_s:
                break
        else:
            centres = None
        if centres is None:
            raise InfeasibleSceneError(
                f"dewind: could not pack {count} circles for {spec.describe()}; use a smaller radius "
                f"range or a larger canvas"
            )
        scenes.append(spec.scene(centres, radii, field_area))
    return scenes
