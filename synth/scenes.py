"""Scenes: lists of circles on a canvas, and the sampler that lays them out.

A scene is the source of truth of the whole study: images are rendered from
scenes, counterfactuals are edited scenes, and localisation metrics use the
scene's masks. Coordinates are in pixels with the origin at the top-left
corner of the canvas; pixel ``(row, col)`` covers ``[col, col+1) x [row,
row+1)`` so its centre is at ``(col + 0.5, row + 0.5)``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "Scene",
    "SceneSpec",
    "InfeasibleSceneError",
    "parse_range",
    "sample_scenes",
    "max_feasible_count",
    "max_feasible_radius",
    "PACKING_DENSITY_LIMIT",
    "auto_radius",
    "auto_gap",
    "fit_radius",
    "check_feasible",
    "MIN_RADIUS_PX",
]

# Random sequential placement of equal disks jams at a covered fraction of
# ~0.547 (Feder 1980); a spec that asks for more than this in the area
# available to the centres cannot be packed by our sampler, so it is rejected
# before any attempt. Hexagonal packing (0.9069) is the hard geometric limit.
PACKING_DENSITY_LIMIT = 0.5

# Smallest radius the auto-sizing will choose: below about a pixel a circle
# is a faint smudge after anti-aliasing, no longer a countable object.
MIN_RADIUS_PX = 1.0

# matplotlib's default "C0" blue on white, as in the post's figures.
DEFAULT_COLOR = (31, 119, 180)
DEFAULT_BACKGROUND = (255, 255, 255)


class InfeasibleSceneError(ValueError):
    """A scene spec whose circles cannot be packed onto its canvas."""


@dataclasses.dataclass(frozen=True)
class Scene:
    """Circles on a canvas.

    Attributes:
        width: canvas width in pixels.
        height: canvas height in pixels.
        centers: float array ``[K, 2]`` of ``(x, y)`` centres in pixels.
        radii: float array ``[K]`` of radii in pixels.
        colors: uint8 array ``[K, 3]`` of RGB fill colours.
        background: RGB background colour.
        field_area: area in px^2 of the region the centres were drawn from
            (the "field" of DeWind et al.; see ``synth.numerosity``).
    """

    width: int
    height: int
    centers: np.ndarray
    radii: np.ndarray
    colors: np.ndarray
    background: tuple[int, int, int] = DEFAULT_BACKGROUND
    field_area: float = 0.0

    def __post_init__(self) -> None:
        centers = np.asarray(self.centers, dtype=np.float64).reshape(-1, 2)
        radii = np.asarray(self.radii, dtype=np.float64).reshape(-1)
        colors = np.asarray(self.colors, dtype=np.uint8).reshape(-1, 3)
        if not (len(centers) == len(radii) == len(colors)):
            raise ValueError(
                f"scene arrays disagree: {len(centers)} centres, {len(radii)} radii, "
                f"{len(colors)} colours"
            )
        object.__setattr__(self, "centers", centers)
        object.__setattr__(self, "radii", radii)
        object.__setattr__(self, "colors", colors)
        object.__setattr__(self, "background", tuple(int(c) for c in self.background))

    @property
    def count(self) -> int:
        """Number of circles (the label)."""
        return int(len(self.radii))

    def to_dict(self) -> dict:
        """A JSON-ready dict; ``Scene.from_dict`` inverts it exactly."""
        return {
            "width": self.width,
            "height": self.height,
            "background": list(self.background),
            "field_area": self.field_area,
            "circles": [
                {"x": float(x), "y": float(y), "r": float(r), "color": [int(c) for c in col]}
                for (x, y), r, col in zip(self.centers, self.radii, self.colors)
            ],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Scene":
        circles = data["circles"]
        return cls(
            width=int(data["width"]),
            height=int(data["height"]),
            centers=np.array([[c["x"], c["y"]] for c in circles], dtype=np.float64).reshape(-1, 2),
            radii=np.array([c["r"] for c in circles], dtype=np.float64),
            colors=np.array([c["color"] for c in circles], dtype=np.uint8).reshape(-1, 3),
            background=tuple(data.get("background", DEFAULT_BACKGROUND)),
            field_area=float(data.get("field_area", 0.0)),
        )

    def replace(self, **changes) -> "Scene":
        return dataclasses.replace(self, **changes)


def parse_range(
    text: str | int | Sequence[int], name: str = "range", cast=int, minimum: float | None = 1
) -> tuple:
    """Parse ``"lo-hi"`` (or a single value, or a pair) into ``(lo, hi)``.

    Args:
        text: ``"lo-hi"``, ``"v"``, a number or a ``[lo, hi]`` pair.
        name: what the range is, for error messages (e.g. ``"--counts"``).
        cast: ``int`` for counts, ``float`` for radii.
        minimum: smallest allowed value; counts start at 1 (the default),
            ``None`` accepts any value.

    Raises:
        ValueError: naming ``name``, the bad text and what is expected.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        lo = hi = cast(text)
    elif isinstance(text, (list, tuple)):
        if len(text) != 2:
            raise ValueError(f"{name}: expected [lo, hi], got {list(text)!r}")
        lo, hi = cast(text[0]), cast(text[1])
    else:
        parts = str(text).strip().split("-")
        try:
            if len(parts) == 1:
                lo = hi = cast(parts[0])
            elif len(parts) == 2:
                lo, hi = cast(parts[0]), cast(parts[1])
            else:
                raise ValueError
        except ValueError:
            raise ValueError(f"{name}: expected 'lo-hi' such as '1-5', got {text!r}") from None
    if lo > hi:
        raise ValueError(f"{name}: lower bound {lo} exceeds upper bound {hi} in {text!r}")
    if minimum is not None and lo < minimum:
        raise ValueError(f"{name}: values must be at least {minimum:g}, got {lo} in {text!r}")
    return lo, hi


@dataclasses.dataclass(frozen=True)
class SceneSpec:
    """What scenes to sample.

    Attributes:
        counts: inclusive ``(lo, hi)`` range of circle counts; labels are exact.
        width, height: canvas in pixels (may be non-square, e.g. 4:3 as the
            post's matplotlib figures).
        radius: fixed radius in pixels, used when ``radius_range`` is None.
        radius_range: ``(lo, hi)`` radii drawn uniformly per circle
            ("varied sizes" of the follow-up post).
        min_gap: minimum distance in pixels between two circle edges.
        margin: minimum distance in pixels from a circle edge to the canvas
            border (circles always lie fully inside the canvas).
        control: ``"none"`` or ``"dewind"`` (count decorrelated from size
            and spacing cues; see ``synth.numerosity``).
        color, background: RGB colours.
    """

    counts: tuple[int, int] = (1, 5)
    width: int = 224
    height: int = 224
    radius: float = 8.0
    radius_range: tuple[float, float] | None = None
    min_gap: float = 2.0
    margin: float = 1.0
    control: str = "none"
    color: tuple[int, int, int] = DEFAULT_COLOR
    background: tuple[int, int, int] = DEFAULT_BACKGROUND

    CONTROLS = ("none", "dewind")

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", parse_range(self.counts, "counts"))
        if self.radius_range is not None:
            radius_range = parse_range(self.radius_range, "radius_range", float, minimum=None)
            object.__setattr__(self, "radius_range", radius_range)
        for name in ("width", "height"):
            if int(getattr(self, name)) < 4:
                raise ValueError(f"{name}: canvas must be at least 4 px, got {getattr(self, name)}")
        if self.min_radius <= 0:
            raise ValueError(f"radius: must be > 0, got {self.min_radius}")
        if self.min_gap < 0 or self.margin < 0:
            raise ValueError(f"min_gap and margin must be >= 0, got {self.min_gap}, {self.margin}")
        if self.control not in self.CONTROLS:
            raise ValueError(f"control: unknown {self.control!r}; valid: {', '.join(self.CONTROLS)}")

    @property
    def min_radius(self) -> float:
        return float(self.radius_range[0] if self.radius_range else self.radius)

    @property
    def max_radius(self) -> float:
        return float(self.radius_range[1] if self.radius_range else self.radius)

    def scene(self, centres: np.ndarray, radii: np.ndarray, field_area: float) -> Scene:
        """A scene on this spec's canvas, every circle in the spec's colour."""
        return Scene(
            width=self.width,
            height=self.height,
            centers=centres,
            radii=radii,
            colors=np.tile(np.array(self.color, dtype=np.uint8), (len(radii), 1)),
            background=self.background,
            field_area=field_area,
        )

    @property
    def packing_radius(self) -> float:
        """The fixed radius whose disks exclude the same mean area as this spec's.

        For radii uniform on [a, b] with gap g, the root mean square of
        ``r + g/2``, minus ``g/2``; for a fixed radius, that radius.
        """
        if not self.radius_range:
            return float(self.radius)
        a, b = (r + self.min_gap / 2 for r in self.radius_range)
        mean_square = (a * a + a * b + b * b) / 3  # E[x^2] for x uniform on [a, b]
        return math.sqrt(mean_square) - self.min_gap / 2

    def describe(self) -> str:
        size = (
            f"radius {self.radius_range[0]:g}-{self.radius_range[1]:g}"
            if self.radius_range
            else f"radius {self.radius:g}"
        )
        return (
            f"{self.counts[0]}-{self.counts[1]} circles, {size}, on {self.width}x{self.height} px "
            f"(min_gap {self.min_gap:g}, margin {self.margin:g}, control {self.control})"
        )


def auto_gap(size: int) -> float:
    """Default edge-to-edge gap: 1 px per 64 px of image size, at least 1 px.

    At least 1 px so anti-aliased edges of neighbours never merge (which
    would make connected components disagree with the label)."""
    return max(1.0, size / 64)


def auto_radius(width: int, height: int, max_count: int, gap: float | None = None) -> float:
    """Default radius: 4% of the image side, capped so the densest scene stays easy to pack.

    The cap keeps ``max_count * pi * (r + gap/2)^2 <= 0.3 * width * height``
    (well under the sampler's limit), so 45-50 circles fit at 64 px. The
    result is never below ``MIN_RADIUS_PX``; at that floor the spec may not
    pack, which ``fit_radius`` checks.

    Raises:
        ValueError: ``max_count`` below 1.
    """
    if max_count < 1:
        raise ValueError(f"max_count: counts start at 1, got {max_count}")
    gap = auto_gap(min(width, height)) if gap is None else gap
    cap = math.sqrt(0.3 * width * height / (max_count * math.pi)) - gap / 2
    return max(MIN_RADIUS_PX, min(0.04 * min(width, height), cap))


def fit_radius(
    width: int,
    height: int,
    max_count: int,
    gap: float | None = None,
    margin: float = 1.0,
    relative_range: tuple[float, float] | None = None,
) -> float:
    """The auto radius, checked: it packs ``max_count`` circles, or an error says what does.

    Args:
        width, height: canvas in pixels.
        max_count: the largest count the scenes will hold.
        gap: edge-to-edge gap (default ``auto_gap``).
        margin: edge-to-border gap, as ``SceneSpec.margin``.
        relative_range: ``(a, b)`` when radii are drawn from ``[a r, b r]``
            around the returned ``r`` (e.g. ``(0.5, 1.5)`` for varied sizes).

    Returns:
        ``auto_radius(width, height, max_count, gap)``, at least ``MIN_RADIUS_PX``.

    Raises:
        InfeasibleSceneError: even the floor radius cannot pack ``max_count``
            circles; the message gives the largest count that fits at that
            radius and the largest radius that fits that count.
    """
    gap = auto_gap(min(width, height)) if gap is None else gap
    radius = auto_radius(width, height, max_count, gap)
    radius_range = None if relative_range is None else (relative_range[0] * radius, relative_range[1] * radius)
    spec = SceneSpec(
        counts=(max_count, max_count), width=width, height=height, radius=radius,
        radius_range=radius_range, min_gap=gap, margin=margin,
    )
    check_feasible(spec)
    return radius


def _free_extent(spec: SceneSpec, radius: float) -> tuple[float, float]:
    """Width and height of the box that centres of radius ``radius`` may use."""
    inset = 2 * (radius + spec.margin)
    return spec.width - inset, spec.height - inset


def _packing_ok(count: int, radius: float, box_w: float, box_h: float, gap: float) -> bool:
    """Whether ``count`` disks fit with our sampler's density limit.

    Each disk of radius ``r`` with gap ``g`` excludes a disk of radius
    ``r + g/2`` around it; the centres' box grows by that radius on each side.
    """
    if box_w < 0 or box_h < 0:
        return False
    if count == 1:
        return True
    effective = radius + gap / 2
    available = (box_w + 2 * effective) * (box_h + 2 * effective)
    return count * math.pi * effective**2 <= PACKING_DENSITY_LIMIT * available


def max_feasible_count(spec: SceneSpec) -> int:
    """Largest count the sampler can pack at the spec's radii (0 if not even one fits)."""
    box_w, box_h = _free_extent(spec, spec.max_radius)
    if box_w < 0 or box_h < 0:
        return 0
    count = 1
    while _packing_ok(count + 1, spec.packing_radius, box_w, box_h, spec.min_gap):
        count += 1
    return count


def max_feasible_radius(spec: SceneSpec) -> float:
    """Largest fixed radius at which the spec's largest count can be packed."""
    lo, hi = 0.0, min(spec.width, spec.height) / 2
    for _ in range(40):  # bisection to well under a pixel
        mid = (lo + hi) / 2
        box_w, box_h = _free_extent(spec, mid)
        if _packing_ok(spec.counts[1], mid, box_w, box_h, spec.min_gap):
            lo = mid
        else:
            hi = mid
    return lo


def check_feasible(spec: SceneSpec) -> None:
    """Raise ``InfeasibleSceneError`` naming the spec and the feasible limits."""
    box_w, box_h = _free_extent(spec, spec.max_radius)
    if _packing_ok(spec.counts[1], spec.packing_radius, box_w, box_h, spec.min_gap):
        return
    size = f"radius {spec.max_radius:g}" if not spec.radius_range else f"radii {spec.min_radius:g}-{spec.max_radius:g}"
    raise InfeasibleSceneError(
        f"cannot pack {spec.describe()}: at most {max_feasible_count(spec)} circles of {size} "
        f"fit, or a fixed radius at most {max_feasible_radius(spec):.2f} for "
        f"{spec.counts[1]} circles (sampler density limit {PACKING_DENSITY_LIMIT:g})"
    )


def place_circles(
    radii: np.ndarray,
    box: tuple[float, float, float, float],
    canvas: tuple[float, float],
    margin: float,
    gap: float,
    rng: np.random.Generator,
    candidates: int = 64,
    max_restarts: int = 50,
    field_disc: tuple[float, float, float] | None = None,
) -> np.ndarray | None:
    """Place disks one by one at random, without overlap.

    Biggest disks go first (they are the hardest to fit). For each disk a
    batch of candidate centres is drawn and the first that clears every
    placed disk is kept, so the inner loop is vectorised numpy.

    Args:
        radii: ``[K]`` radii.
        box: ``(x0, y0, x1, y1)`` region the centres are drawn from, further
            clipped per disk so the disk lies inside the canvas minus margin.
        canvas: ``(width, height)``.
        margin, gap: edge-to-border and edge-to-edge minimum distances.
        field_disc: optional ``(cx, cy, R)``: centres are drawn uniformly in
            this disc instead of the box (DeWind's field).

    Returns:
        ``[K, 2]`` centres in the original order of ``radii``, or None when
        ``max_restarts`` attempts all got stuck.
    """
    order = np.argsort(-radii, kind="stable")
    count = len(radii)
    for _ in range(max_restarts):
        centres = np.empty((count, 2))
        ok = True
        for placed, index in enumerate(order):
            r = radii[index]
            x0 = max(box[0], r + margin)
            y0 = max(box[1], r + margin)
            x1 = min(box[2], canvas[0] - r - margin)
            y1 = min(box[3], canvas[1] - r - margin)
            if x1 < x0 or y1 < y0:
                return None
            found = False
            for _attempt in range(20):
                trial = _candidates(rng, candidates, (x0, y0, x1, y1), field_disc)  # [C, 2]
                if len(trial) == 0:
                    continue
                if placed == 0:
                    centres[0] = trial[0]
                    found = True
                    break
                previous = centres[:placed]  # [P, 2]
                min_dist = radii[order[:placed]] + r + gap  # [P]
                dist = np.linalg.norm(trial[:, None, :] - previous[None, :, :], axis=-1)  # [C, P]
                valid = np.flatnonzero((dist >= min_dist).all(axis=1))
                if len(valid):
                    centres[placed] = trial[valid[0]]
                    found = True
                    break
            if not found:
                ok = False
                break
        if ok:
            result = np.empty_like(centres)
            result[order] = centres
            return result
    return None


def _candidates(
    rng: np.random.Generator,
    number: int,
    box: tuple[float, float, float, float],
    field_disc: tuple[float, float, float] | None,
) -> np.ndarray:
    """``[<=number, 2]`` uniform candidate centres in the box (and the disc, if given)."""
    if field_disc is None:
        return rng.uniform(box[:2], box[2:], size=(number, 2))
    cx, cy, radius = field_disc
    angle = rng.uniform(0.0, 2 * math.pi, number)
    distance = radius * np.sqrt(rng.uniform(0.0, 1.0, number))  # sqrt: uniform over the area
    trial = np.stack([cx + distance * np.cos(angle), cy + distance * np.sin(angle)], axis=1)
    in_box = (trial[:, 0] >= box[0]) & (trial[:, 0] <= box[2]) & (trial[:, 1] >= box[1]) & (trial[:, 1] <= box[3])
    return trial[in_box]


def sample_scenes(
    spec: SceneSpec, n: int, seed: int, timeout_s: float = 30.0, progress: Callable[[int], None] | None = None
) -> list[Scene]:
    """Sample ``n`` scenes, counts spread evenly over the spec's range.

    Counts cycle through the range (``lo, lo+1, ..., hi, lo, ...``) so every
    class gets ``n / (hi - lo + 1)`` images up to one; the scenes themselves
    are random. The same ``(spec, n, seed)`` always gives the same scenes.

    Args:
        progress: called with the number of scenes just finished (e.g. a
            progress bar's ``update``).

    Raises:
        InfeasibleSceneError: before any sampling when the spec cannot be
            packed, or when the sampler gets stuck (never hangs: bounded by
            restarts and ``timeout_s``).
    """
    if n < 0:
        raise ValueError(f"n: expected a non-negative number of images, got {n}")
    check_feasible(spec)
    if spec.control == "dewind":
        from synth.numerosity import sample_dewind_scenes  # one-way: numerosity builds on scenes

        return sample_dewind_scenes(spec, n, seed, timeout_s=timeout_s, progress=progress)
    rng = np.random.default_rng(seed)
    lo, hi = spec.counts
    counts = lo + np.arange(n) % (hi - lo + 1)
    full_box = (0.0, 0.0, float(spec.width), float(spec.height))
    field_area = float(spec.width * spec.height)
    started = time.monotonic()
    scenes = []
    for count in counts:
        if spec.radius_range:
            radii = rng.uniform(spec.radius_range[0], spec.radius_range[1], size=count)
        else:
            radii = np.full(count, float(spec.radius))
        centres = place_circles(radii, full_box, (spec.width, spec.height), spec.margin, spec.min_gap, rng)
        if centres is None or time.monotonic() - started > timeout_s:
            raise InfeasibleSceneError(
                f"gave up packing {spec.describe()}: {count} circles did not fit after repeated "
                f"restarts; lower the count (feasible bound {max_feasible_count(spec)}) or the radius"
            )
        scenes.append(spec.scene(centres, radii, field_area))
        if progress is not None:
            progress(1)
    return scenes
