"""Scenes: items (circles, squares, triangles) on a canvas, and the sampler that lays them out.

A scene is the source of truth of the whole study: images are rendered from
scenes, counterfactuals are edited scenes, and localisation metrics use the
scene's masks. Coordinates are in pixels with the origin at the top-left
corner of the canvas; pixel ``(row, col)`` covers ``[col, col+1) x [row,
row+1)`` so its centre is at ``(col + 0.5, row + 0.5)``.

Items. Every item has a shape (``SHAPES``) and is a target (counted) or a
distractor (drawn, never counted). ``radii`` are *equal-area* radii: an
item of radius ``r`` has area ``pi r^2`` whatever its shape, so the
numerosity descriptors (ISA, TSA) keep their circle formulas. A square is
axis-aligned with side ``r sqrt(pi)``; a triangle is equilateral, apex up,
centred on its centroid, with side ``r sqrt(4 pi / sqrt(3))``. Packing,
gaps, margins and clipping use the *extent* (circumscribed) radius,
``extent_radii``, so items of any shape never touch unless overlap is asked for.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "SHAPES",
    "EXTENT_FACTORS",
    "DISTRACTOR_COLOR",
    "extent_radii",
    "Scene",
    "SceneRecipe",
    "InfeasibleSceneError",
    "parse_range",
    "max_feasible_count",
    "max_feasible_radius",
    "PACKING_DENSITY_LIMIT",
    "auto_radius",
    "auto_gap",
    "fit_radius",
    "check_feasible",
    "MIN_RADIUS_PX",
    "ItemKinds",
    "draw_items",
    "random_colours",
]

# Random sequential placement of equal disks jams at a covered fraction of
# ~0.547 (Feder 1980); a recipe that asks for more than this in the area
# available to the centres cannot be packed by our sampler, so it is rejected
# before any attempt. Hexagonal packing (0.9069) is the hard geometric limit.
PACKING_DENSITY_LIMIT = 0.5

# Smallest radius the auto-sizing will choose: below about a pixel a circle
# is a faint smudge after anti-aliasing, no longer a countable object.
MIN_RADIUS_PX = 1.0

# matplotlib's default "C0" blue on white, as in the post's figures.
DEFAULT_COLOR = (31, 119, 180)
DEFAULT_BACKGROUND = (255, 255, 255)

# matplotlib's "C1" orange: the colour of colour distractors.
DISTRACTOR_COLOR = (255, 127, 14)

# Item shapes; a scene stores each item's index into this tuple (int8).
SHAPES = ("circle", "square", "triangle")

# Circumradius / equal-area radius per shape: a circle 1; a square of area
# pi r^2 has half-diagonal r sqrt(pi / 2); an equilateral triangle of area
# pi r^2 has side a = r sqrt(4 pi / sqrt(3)) and circumradius a / sqrt(3).
EXTENT_FACTORS = (1.0, math.sqrt(math.pi / 2), math.sqrt(4 * math.pi / math.sqrt(3)) / math.sqrt(3))

# Shape of shape-distractors for each target shape.
_OTHER_SHAPE = {"circle": "square", "square": "circle", "triangle": "circle"}

# Random target colours: this saturation and value, hue uniform; a hue whose
# colour lies closer than _MIN_CONTRAST (RGB distance) to the background is redrawn.
_RANDOM_SATURATION = 0.85
_MIN_CONTRAST = 96.0


class InfeasibleSceneError(ValueError):
    """A recipe whose items cannot be packed onto its canvas."""


@dataclasses.dataclass(frozen=True)
class Scene:
    """Items on a canvas.

    Attributes:
        width: canvas width in pixels.
        height: canvas height in pixels.
        centers: float array ``[K, 2]`` of ``(x, y)`` centres in pixels.
        radii: float array ``[K]`` of equal-area radii in pixels (area ``pi r^2``).
        colors: uint8 array ``[K, 3]`` of RGB fill colours.
        background: RGB background colour.
        field_area: area in px^2 of the region the centres were drawn from
            (the "field" of DeWind et al.; see ``synth.numerosity``).
        shapes: int8 array ``[K]`` of indices into ``SHAPES`` (default: all circles).
        targets: bool array ``[K]``, True for counted items (default: all).
    """

    width: int
    height: int
    centers: np.ndarray
    radii: np.ndarray
    colors: np.ndarray
    background: tuple[int, int, int] = DEFAULT_BACKGROUND
    field_area: float = 0.0
    shapes: np.ndarray | None = None
    targets: np.ndarray | None = None

    def __post_init__(self) -> None:
        centers = np.asarray(self.centers, dtype=np.float64).reshape(-1, 2)
        radii = np.asarray(self.radii, dtype=np.float64).reshape(-1)
        colors = np.asarray(self.colors, dtype=np.uint8).reshape(-1, 3)
        count = len(radii)
        shapes = np.zeros(count, np.int8) if self.shapes is None else np.asarray(self.shapes).reshape(-1)
        targets = np.ones(count, bool) if self.targets is None else np.asarray(self.targets, dtype=bool).reshape(-1)
        if not (len(centers) == count == len(colors) == len(shapes) == len(targets)):
            raise ValueError(
                f"scene arrays disagree: {len(centers)} centres, {count} radii, {len(colors)} colours, "
                f"{len(shapes)} shapes, {len(targets)} target flags"
            )
        if count and (shapes.min() < 0 or shapes.max() >= len(SHAPES)):
            raise ValueError(f"scene shapes: codes must be 0..{len(SHAPES) - 1} ({', '.join(SHAPES)}), "
                             f"got {sorted(set(shapes.tolist()))}")
        object.__setattr__(self, "centers", centers)
        object.__setattr__(self, "radii", radii)
        object.__setattr__(self, "colors", colors)
        object.__setattr__(self, "shapes", shapes.astype(np.int8))
        object.__setattr__(self, "targets", targets)
        object.__setattr__(self, "background", tuple(int(c) for c in self.background))

    @property
    def count(self) -> int:
        """Number of targets (the label)."""
        return int(self.targets.sum())

    @property
    def n_items(self) -> int:
        """Number of items drawn, targets and distractors."""
        return int(len(self.radii))

    @property
    def circles_only(self) -> bool:
        """Whether every item is a circle (the renderer's original, bit-stable case)."""
        return not self.shapes.any()

    def to_dict(self) -> dict:
        """A JSON-ready dict; ``Scene.from_dict`` inverts it exactly."""
        return {
            "width": self.width,
            "height": self.height,
            "background": list(self.background),
            "field_area": self.field_area,
            "circles": [
                {"x": float(x), "y": float(y), "r": float(r), "color": [int(c) for c in col],
                 "shape": SHAPES[int(shape)], "target": bool(target)}
                for (x, y), r, col, shape, target in zip(self.centers, self.radii, self.colors, self.shapes, self.targets)
            ],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Scene":
        """Inverse of ``to_dict``; items without ``shape`` / ``target`` are circles / targets.

        Raises:
            ValueError: an unknown shape name.
        """
        circles = data["circles"]
        names = [c.get("shape", "circle") for c in circles]
        unknown = sorted(set(names) - set(SHAPES))
        if unknown:
            raise ValueError(f"scene: unknown shape {unknown[0]!r}; valid: {', '.join(SHAPES)}")
        return cls(
            width=int(data["width"]),
            height=int(data["height"]),
            centers=np.array([[c["x"], c["y"]] for c in circles], dtype=np.float64).reshape(-1, 2),
            radii=np.array([c["r"] for c in circles], dtype=np.float64),
            colors=np.array([c["color"] for c in circles], dtype=np.uint8).reshape(-1, 3),
            background=tuple(data.get("background", DEFAULT_BACKGROUND)),
            field_area=float(data.get("field_area", 0.0)),
            shapes=np.array([SHAPES.index(name) for name in names], dtype=np.int8),
            targets=np.array([c.get("target", True) for c in circles], dtype=bool),
        )

    def replace(self, **changes) -> "Scene":
        """A copy with ``changes``; to drop or reorder items, prefer ``select``.

        Changing the number of items through ``centers``/``radii``/``colors``
        alone is allowed for scenes of target circles (their shapes and flags
        are the defaults again); in a scene with other shapes or distractors it
        would lose track of which item is which, so it is refused.

        Raises:
            ValueError: the item count changes, ``shapes``/``targets`` are not
                given, and the scene has other shapes or distractors.
        """
        widths = {"centers": 2, "radii": 1, "colors": 3}
        resized = any(np.asarray(changes[name]).size // width != self.n_items
                      for name, width in widths.items() if name in changes)
        if resized and "shapes" not in changes and "targets" not in changes:
            if not (self.circles_only and self.targets.all()):
                raise ValueError("Scene.replace: changing the number of items of a scene with shapes or distractors "
                                 "needs shapes= and targets= too; use Scene.select(keep) to drop items")
            changes = {**changes, "shapes": None, "targets": None}
        return dataclasses.replace(self, **changes)

    def select(self, keep: np.ndarray) -> "Scene":
        """The scene with only the items ``keep`` (a bool mask ``[K]`` or an index array)."""
        return self.replace(
            centers=self.centers[keep], radii=self.radii[keep], colors=self.colors[keep],
            shapes=self.shapes[keep], targets=self.targets[keep],
        )

    def rescaled(self, width: int, height: int) -> "Scene":
        """The same scene on a ``width x height`` canvas: centres, radii and field area scaled by ``width / self.width``.

        Raises:
            ValueError: ``height`` is not the scaled height (to a pixel), i.e. the aspect ratio would change.
        """
        factor = width / self.width
        if width < 1 or abs(height - self.height * factor) > 1.0:
            raise ValueError(
                f"rescaled: {width}x{height} is not {self.width}x{self.height} scaled uniformly "
                f"(expected height {self.height * factor:.1f} for width {width})"
            )
        return self.replace(
            width=int(width), height=int(height), centers=self.centers * factor, radii=self.radii * factor,
            field_area=self.field_area * factor**2,
        )


def extent_radii(scene: Scene) -> np.ndarray:
    """Circumradius of each item, ``[K]`` px: what packing, gaps, margins and clipping use."""
    return scene.radii * np.asarray(EXTENT_FACTORS)[scene.shapes]


def random_colours(count: int, background: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """``[count, 3]`` uint8 colours of uniform hue, saturated, never close to ``background``.

    The value is dark on light backgrounds and bright on dark ones; a hue
    that still lands within ``_MIN_CONTRAST`` of the background is redrawn.
    """
    bg = np.asarray(background, dtype=np.float64)
    value = 0.75 if bg.mean() > 127.5 else 1.0
    colours = np.zeros((count, 3))
    pending = np.arange(count)
    for _ in range(100):
        if len(pending) == 0:
            break
        hue = rng.uniform(0.0, 1.0, len(pending))
        rgb = 255 * _hsv_to_rgb(hue, _RANDOM_SATURATION, value)  # [P, 3]
        colours[pending] = rgb
        pending = pending[np.linalg.norm(np.round(rgb) - bg, axis=1) < _MIN_CONTRAST]
    if len(pending):
        raise ValueError(f"colour 'random': no hue contrasts with background {tuple(background)}")
    return np.round(colours).astype(np.uint8)


def _hsv_to_rgb(hue: np.ndarray, saturation: float, value: float) -> np.ndarray:
    """Vectorised HSV -> RGB in [0, 1]: ``[N]`` hues -> ``[N, 3]``."""
    k = (np.array([5.0, 3.0, 1.0])[None, :] + hue[:, None] * 6) % 6  # [N, 3]
    return value - value * saturation * np.clip(np.minimum(k, 4 - k), 0, 1)


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
class SceneRecipe:
    """The recipe scenes are drawn from: counts, canvas, item sizes and spacing, looks, numerosity control.

    Not a scene itself: ``synth.sampling.sample_scenes(recipe, n, seed)`` draws
    scenes from it, and the same recipe, ``n`` and seed always give the same scenes.

    Attributes:
        counts: inclusive ``(lo, hi)`` range of target counts; labels are exact.
        width, height: canvas in pixels (may be non-square, e.g. 4:3 as the
            post's matplotlib figures).
        radius: fixed equal-area radius in pixels, used when ``radius_range`` is None.
        radius_range: ``(lo, hi)`` radii drawn uniformly per item
            ("varied sizes" of the follow-up post).
        min_gap: minimum distance in pixels between two items' extent circles.
        margin: minimum distance in pixels from an item's extent circle to the
            canvas border (items always lie fully inside the canvas).
        control: ``"none"`` or ``"dewind"`` (count decorrelated from size
            and spacing cues; see ``synth.numerosity``).
        color, background: RGB colours (``color``: the targets' colour when ``colour="fixed"``).
        shape: the targets' shape, one of ``SHAPES``, or ``"mixed"`` (each
            item's shape drawn uniformly from ``SHAPES``).
        colour: ``"fixed"`` (every target in ``color``) or ``"random"`` (a
            random hue per item, see ``random_colours``).
        distractors: inclusive ``(lo, hi)`` range of distractors per scene,
            drawn uniformly and independently of the count; never counted.
        distractor_kind: ``"colour"`` (the targets' shapes in
            ``DISTRACTOR_COLOR``) or ``"shape"`` (the other shape: circle <->
            square, triangle -> circle, in the targets' colouring).
        overlap: items may overlap (later items are drawn over earlier ones);
            no item's centre is covered by another's extent circle, so every
            item stays visible. The margin still holds.
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
    shape: str = "circle"
    colour: str = "fixed"
    distractors: tuple[int, int] = (0, 0)
    distractor_kind: str = "colour"
    overlap: bool = False

    CONTROLS = ("none", "dewind")
    SHAPE_CHOICES = (*SHAPES, "mixed")
    COLOUR_CHOICES = ("fixed", "random")
    DISTRACTOR_KINDS = ("colour", "shape")

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", parse_range(self.counts, "counts"))
        object.__setattr__(self, "distractors", parse_range(self.distractors, "distractors", minimum=0))
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
        for name, valid in (("control", self.CONTROLS), ("shape", self.SHAPE_CHOICES),
                            ("colour", self.COLOUR_CHOICES), ("distractor_kind", self.DISTRACTOR_KINDS)):
            if getattr(self, name) not in valid:
                raise ValueError(f"{name}: unknown {getattr(self, name)!r}; valid: {', '.join(valid)}")
        self._check_combination()

    def _check_combination(self) -> None:
        """Refuse stimulus combinations that cannot be drawn, naming both settings."""
        if self.has_distractors and self.distractor_kind == "shape" and self.shape == "mixed":
            raise ValueError("distractor_kind 'shape' needs one target shape, but shape 'mixed' uses them all; "
                             "use distractor_kind 'colour' or a single shape")
        if self.has_distractors and self.distractor_kind == "colour" and self.colour == "random":
            raise ValueError("distractor_kind 'colour' needs one target colour, but colour 'random' uses them all; "
                             "use distractor_kind 'shape' or colour 'fixed'")
        if self.has_distractors and self.distractor_kind == "colour" and tuple(self.color) == DISTRACTOR_COLOR:
            raise ValueError(f"color {tuple(self.color)} is the distractor colour; colour distractors need "
                             f"targets of another colour")
        if self.overlap and self.control == "dewind":
            raise ValueError("overlap with control 'dewind' is not supported: DeWind's size and spacing "
                             "descriptors assume items that do not occlude each other")

    @property
    def min_radius(self) -> float:
        return float(self.radius_range[0] if self.radius_range else self.radius)

    @property
    def max_radius(self) -> float:
        return float(self.radius_range[1] if self.radius_range else self.radius)

    @property
    def has_distractors(self) -> bool:
        return self.distractors[1] > 0

    @property
    def max_items(self) -> int:
        """Most items one scene can hold: the largest count plus the most distractors."""
        return self.counts[1] + self.distractors[1]

    @property
    def target_shapes(self) -> tuple[str, ...]:
        """Shapes a target may take."""
        return SHAPES if self.shape == "mixed" else (self.shape,)

    @property
    def distractor_shapes(self) -> tuple[str, ...]:
        """Shapes a distractor may take (empty without distractors)."""
        if not self.has_distractors:
            return ()
        return (_OTHER_SHAPE[self.shape],) if self.distractor_kind == "shape" else self.target_shapes

    @property
    def extent_factor(self) -> float:
        """Largest circumradius / equal-area radius over the shapes the recipe draws."""
        return max(EXTENT_FACTORS[SHAPES.index(s)] for s in (*self.target_shapes, *self.distractor_shapes))

    def scene(self, centres: np.ndarray, radii: np.ndarray, field_area: float, items: "ItemKinds | None" = None) -> Scene:
        """A scene on this recipe's canvas; without ``items``, every item a target circle in the recipe's colour."""
        if items is None:
            colours = np.tile(np.array(self.color, dtype=np.uint8), (len(radii), 1))
            return Scene(self.width, self.height, centres, radii, colours, self.background, field_area)
        return Scene(
            self.width, self.height, centres, radii, items.colours, self.background, field_area,
            shapes=items.shapes, targets=items.targets,
        )

    @property
    def packing_radius(self) -> float:
        """The fixed radius whose disks exclude the same mean area as this recipe's.

        For radii uniform on [a, b] with gap g, the root mean square of
        ``r + g/2``, minus ``g/2``; for a fixed radius, that radius.
        """
        if not self.radius_range:
            return float(self.radius)
        a, b = (r + self.min_gap / 2 for r in self.radius_range)
        mean_square = (a * a + a * b + b * b) / 3  # E[x^2] for x uniform on [a, b]
        return math.sqrt(mean_square) - self.min_gap / 2

    @property
    def item_noun(self) -> str:
        """What the items are called in messages: ``circles``, ``squares``, ``triangles`` or ``items``."""
        shapes = {*self.target_shapes, *self.distractor_shapes}
        return f"{shapes.pop()}s" if len(shapes) == 1 else "items"

    def describe(self) -> str:
        size = (
            f"radius {self.radius_range[0]:g}-{self.radius_range[1]:g}"
            if self.radius_range
            else f"radius {self.radius:g}"
        )
        noun = "circles" if self.shape == "circle" else ("items of mixed shape" if self.shape == "mixed" else f"{self.shape}s")
        extras = "".join([
            f" with {self.distractors[0]}-{self.distractors[1]} {self.distractor_kind} distractors"
            if self.has_distractors else "",
            ", random colours" if self.colour == "random" else "",
        ])
        return (
            f"{self.counts[0]}-{self.counts[1]} {noun}{extras}, {size}, on {self.width}x{self.height} px "
            f"(min_gap {self.min_gap:g}, margin {self.margin:g}, control {self.control}"
            f"{', overlapping' if self.overlap else ''})"
        )


@dataclasses.dataclass(frozen=True)
class ItemKinds:
    """Per-item attributes of one scene before placement: shapes ``[K]`` int8, targets ``[K]`` bool, colours ``[K, 3]`` uint8."""

    shapes: np.ndarray
    targets: np.ndarray
    colours: np.ndarray


def draw_items(recipe: SceneRecipe, count: int, rng: np.random.Generator) -> ItemKinds:
    """Shapes, target flags and colours of a scene with ``count`` targets, distractors drawn from the recipe.

    Targets come first, then distractors, then (only with distractors) one
    random permutation so order carries no label (it matters when overlap
    draws later items on top). A plain recipe (circles, fixed colour, no
    distractors) draws nothing from ``rng``, so its scenes stay as they were.
    """
    lo, hi = recipe.distractors
    extra = int(rng.integers(lo, hi + 1)) if hi > 0 else 0
    total = count + extra
    targets = np.arange(total) < count
    codes = np.array([SHAPES.index(s) for s in recipe.target_shapes], dtype=np.int8)
    shapes = rng.choice(codes, total) if len(codes) > 1 else np.full(total, codes[0], np.int8)
    if extra and recipe.distractor_kind == "shape":
        shapes[~targets] = SHAPES.index(recipe.distractor_shapes[0])
    if recipe.colour == "random":
        colours = random_colours(total, recipe.background, rng)
    else:
        colours = np.tile(np.array(recipe.color, dtype=np.uint8), (total, 1))
        if extra and recipe.distractor_kind == "colour":
            colours[~targets] = DISTRACTOR_COLOR
    if extra:
        order = rng.permutation(total)
        shapes, targets, colours = shapes[order], targets[order], colours[order]
    return ItemKinds(shapes.astype(np.int8), targets, colours)


def auto_gap(size: int) -> float:
    """Default edge-to-edge gap: 1 px per 64 px of image size, at least 1 px.

    At least 1 px so anti-aliased edges of neighbours never merge (which
    would make connected components disagree with the label)."""
    return max(1.0, size / 64)


def auto_radius(
    width: int, height: int, max_count: int, gap: float | None = None, extent_factor: float = 1.0
) -> float:
    """Default radius: 4% of the image side, capped so the densest scene stays easy to pack.

    The cap keeps ``max_count * pi * (R + gap/2)^2 <= 0.3 * width * height``
    for the extent radius ``R = extent_factor * r`` (well under the sampler's
    limit), so 45-50 circles fit at 64 px. The result is never below
    ``MIN_RADIUS_PX``; at that floor the recipe may not pack, which
    ``fit_radius`` checks.

    Args:
        max_count: most items in a scene (targets plus distractors).
        extent_factor: ``SceneRecipe.extent_factor`` (1 for circles).

    Raises:
        ValueError: ``max_count`` below 1.
    """
    if max_count < 1:
        raise ValueError(f"max_count: counts start at 1, got {max_count}")
    gap = auto_gap(min(width, height)) if gap is None else gap
    cap = (math.sqrt(0.3 * width * height / (max_count * math.pi)) - gap / 2) / extent_factor
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
        margin: edge-to-border gap, as ``SceneRecipe.margin``.
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
    recipe = SceneRecipe(
        counts=(max_count, max_count), width=width, height=height, radius=radius,
        radius_range=radius_range, min_gap=gap, margin=margin,
    )
    check_feasible(recipe)
    return radius


def _free_extent(recipe: SceneRecipe, radius: float) -> tuple[float, float]:
    """Width and height of the box that centres of items of (equal-area) radius ``radius`` may use."""
    inset = 2 * (radius * recipe.extent_factor + recipe.margin)
    return recipe.width - inset, recipe.height - inset


def _exclusion(recipe: SceneRecipe, radius: float) -> tuple[float, float]:
    """Radius and gap of the disk each item of ``radius`` keeps others out of, for ``_packing_ok``.

    Without overlap, the extent radius and the recipe's gap; with overlap only
    centres are kept apart (by the larger extent radius), so half of it and no gap.
    """
    extent = radius * recipe.extent_factor
    return (extent / 2, 0.0) if recipe.overlap else (extent, recipe.min_gap)


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


def max_feasible_count(recipe: SceneRecipe) -> int:
    """Largest number of items (targets plus distractors) the sampler can pack at the recipe's radii (0 if none fits)."""
    box_w, box_h = _free_extent(recipe, recipe.max_radius)
    if box_w < 0 or box_h < 0:
        return 0
    count = 1
    while _packing_ok(count + 1, *_packing_args(recipe, box_w, box_h)):
        count += 1
    return count


def _packing_args(recipe: SceneRecipe, box_w: float, box_h: float) -> tuple[float, float, float, float]:
    """``(radius, box_w, box_h, gap)`` for ``_packing_ok`` at the recipe's packing radius."""
    radius, gap = _exclusion(recipe, recipe.packing_radius)
    return radius, box_w, box_h, gap


def max_feasible_radius(recipe: SceneRecipe) -> float:
    """Largest fixed (equal-area) radius at which the recipe's largest scene (``max_items``) can be packed."""
    lo, hi = 0.0, min(recipe.width, recipe.height) / 2
    for _ in range(40):  # bisection to well under a pixel
        mid = (lo + hi) / 2
        box_w, box_h = _free_extent(recipe, mid)
        radius, gap = _exclusion(recipe, mid)
        if _packing_ok(recipe.max_items, radius, box_w, box_h, gap):
            lo = mid
        else:
            hi = mid
    return lo


def check_feasible(recipe: SceneRecipe) -> None:
    """Raise ``InfeasibleSceneError`` naming the recipe and the feasible limits."""
    box_w, box_h = _free_extent(recipe, recipe.max_radius)
    if _packing_ok(recipe.max_items, *_packing_args(recipe, box_w, box_h)):
        return
    size = f"radius {recipe.max_radius:g}" if not recipe.radius_range else f"radii {recipe.min_radius:g}-{recipe.max_radius:g}"
    noun = recipe.item_noun
    if recipe.extent_factor != 1.0:
        size += f" (extent radius up to {recipe.max_radius * recipe.extent_factor:.3g})"
    total = f"{recipe.max_items} {noun}" + (" (targets plus distractors)" if recipe.has_distractors else "")
    raise InfeasibleSceneError(
        f"cannot pack {recipe.describe()}: at most {max_feasible_count(recipe)} {noun} of {size} "
        f"fit, or a fixed radius at most {max_feasible_radius(recipe):.2f} for "
        f"{total} (sampler density limit {PACKING_DENSITY_LIMIT:g})"
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
    overlap: bool = False,
) -> np.ndarray | None:
    """Place disks one by one at random, without overlap (or, with ``overlap``, with distinct centres).

    Biggest disks go first (they are the hardest to fit). For each disk a
    batch of candidate centres is drawn and the first that clears every
    placed disk is kept, so the inner loop is vectorised numpy.

    Args:
        radii: ``[K]`` radii of the disks to keep apart (items' extent radii).
        box: ``(x0, y0, x1, y1)`` region the centres are drawn from, further
            clipped per disk so the disk lies inside the canvas minus margin.
        canvas: ``(width, height)``.
        margin, gap: edge-to-border and edge-to-edge minimum distances.
        field_disc: optional ``(cx, cy, R)``: centres are drawn uniformly in
            this disc instead of the box (DeWind's field).
        overlap: disks may overlap, but no centre may lie within another
            disk (distance at least the larger radius), so every item shows.

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
                others = radii[order[:placed]]  # [P]
                min_dist = np.maximum(others, r) if overlap else others + r + gap  # [P]
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
