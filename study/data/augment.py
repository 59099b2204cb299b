"""Augmentation policies applied per sample on the device, with explicit geometry.

Every geometric augmentation of a sample is ONE 3x3 homography ``M`` that maps
an output pixel position to an input (canvas) pixel position, composed the
way fastai v1 composed its transforms on the output->input coordinate grid:

    M = P_in . A . W . Q . F . C

1. ``C`` crop: output pixel -> pixel of the intermediate image (fastai resizes
   the shorter side to ``size`` by sampling a grid of that shape, then crops
   pixels at a random position, ``rand_crop``; validation crops the centre).
2. ``F`` flip_lr of the intermediate image (a pixel op in fastai, after the
   warp, so it composes here, next to the crop).
3. ``Q`` intermediate pixels -> normalised coordinates in ``[-1, 1]``
   (``align_corners=True``, as fastai v1: -1 and 1 are border pixel centres).
4. ``W`` symmetric_warp, a perspective map solved from four corner targets.
5. ``A`` the affine ops (dihedral, rotate, zoom), accumulated as
   ``zoom @ rotate @ dihedral`` and corrected for non-square grids exactly as
   fastai's ``_affine_mult`` (``m[0,1] *= h/w``, ``m[1,0] *= w/h``).
6. ``P_in`` normalised -> canvas pixel coordinates.

The pixels are warped with one batched ``F.grid_sample`` (reflection padding)
on the device; the same matrices map each scene's circles (and their mirror
images made by reflection padding) into the output, so the number of circles
that stay whole in the frame is known exactly (``count_audit``).

Pixel coordinates follow ``synth.scenes``: pixel ``(row, col)`` covers
``[col, col+1) x [row, row+1)``, its centre is at ``(col + 0.5, row + 0.5)``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from synth.scenes import Scene, extent_radii

__all__ = [
    "AugmentParams",
    "POLICIES",
    "Policy",
    "available",
    "count_audit",
    "create",
    "eval_transform",
    "map_circles",
    "visible_circles",
]

# fastai v1 clamps before the logit so pure white/black stay finite.
_LOGIT_EPS = 1e-7


@dataclasses.dataclass(frozen=True)
class AugmentParams:
    """Random draws for one batch.

    Attributes:
        matrices: float64 ``[B, 3, 3]`` output pixel -> canvas pixel homographies.
        brightness: float ``[B]`` added in logit space (0 = unchanged).
        contrast: float ``[B]`` multiplies the logits (1 = unchanged).
    """

    matrices: torch.Tensor
    brightness: torch.Tensor
    contrast: torch.Tensor


@dataclasses.dataclass(frozen=True)
class Policy:
    """An augmentation policy: what to draw per sample, and how to reach ``size``.

    Attributes:
        name: registry name.
        size: square output size in pixels.
        resize: how training samples reach ``size``: ``crop`` (shorter side
            to ``size``, then crop, as fastai's integer size) or ``squish``
            (whole canvas to ``size x size``).
        eval_resize: the same choice for validation and test (centred, no
            randomness). It is a property of the study, not of the policy:
            every policy of one comparison gets the same value, so the
            policies are scored on identical inputs.
        random_crop: crop position uniform (fastai ``rand_crop``) or centred.
        flip_lr_p: probability of a horizontal flip.
        dihedral_p: probability of one of the 8 dihedral transforms (fastai
            ``dihedral_affine``, used when ``flip_vert=True``).
        max_warp, warp_p: symmetric_warp magnitude range and probability.
        max_rotate, rotate_p: rotation range in degrees and probability.
        max_zoom, zoom_p: zoom range ``1..max_zoom`` (random centre) and probability.
        max_lighting, lighting_p: brightness/contrast strength and probability
            (each drawn independently, as fastai's two lighting transforms).
    """

    name: str = "none"
    size: int = 224
    resize: Literal["crop", "squish"] = "crop"
    eval_resize: Literal["crop", "squish"] = "squish"
    random_crop: bool = False
    flip_lr_p: float = 0.0
    dihedral_p: float = 0.0
    max_warp: float = 0.0
    warp_p: float = 0.75
    max_rotate: float = 0.0
    rotate_p: float = 0.75
    max_zoom: float = 1.0
    zoom_p: float = 0.75
    max_lighting: float = 0.0
    lighting_p: float = 0.75

    def __post_init__(self) -> None:
        for key in ("resize", "eval_resize"):
            if getattr(self, key) not in ("crop", "squish"):
                raise ValueError(f"{key}: unknown {getattr(self, key)!r}; valid: crop, squish")
        if self.size < 1:
            raise ValueError(f"size: expected a positive size, got {self.size}")
        if self.max_zoom < 1.0:
            raise ValueError(f"max_zoom: expected >= 1, got {self.max_zoom}")
        if not 0.0 <= self.max_lighting < 1.0:
            raise ValueError(f"max_lighting: expected in [0, 1), got {self.max_lighting}")
        for key in ("flip_lr_p", "dihedral_p", "warp_p", "rotate_p", "zoom_p", "lighting_p"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ValueError(f"{key}: expected a probability in [0, 1], got {getattr(self, key)}")

    # ------------------------------------------------------------------ sampling
    def intermediate_hw(self, canvas_hw: tuple[int, int], train: bool = True) -> tuple[int, int]:
        """Size of the grid fastai samples before cropping (shorter side = ``size``).

        Args:
            canvas_hw: ``(H, W)`` of the input images.
            train: the training resize (``resize``) or the evaluation one (``eval_resize``).
        """
        if (self.resize if train else self.eval_resize) == "squish":
            return self.size, self.size
        height, width = canvas_hw
        ratio = min(height / self.size, width / self.size)
        return max(self.size, int(round(height / ratio))), max(self.size, int(round(width / ratio)))

    def sample(
        self, batch: int, canvas_hw: tuple[int, int], generator: torch.Generator | None, train: bool = True
    ) -> AugmentParams:
        """Draw per-sample parameters (on the CPU, so results do not depend on the device).

        Args:
            batch: number of samples ``B``.
            canvas_hw: ``(H, W)`` of the input images.
            generator: CPU generator (seeded by the caller); None uses the global one.
            train: False gives the evaluation transform: ``eval_resize``,
                centred, nothing random.

        Returns:
            ``AugmentParams`` with ``matrices [B, 3, 3]`` float64.
        """
        draw = _Drawer(batch, generator)
        inter_h, inter_w = self.intermediate_hw(canvas_hw, train)
        if train and self.random_crop:
            row_pct, col_pct = draw.uniform(0, 1), draw.uniform(0, 1)
        else:
            row_pct = col_pct = torch.full((batch,), 0.5, dtype=torch.float64)
        # fastai _crop_default: int((H - rows + 1) * row_pct), kept inside the image.
        row = torch.clamp(((inter_h - self.size + 1) * row_pct).floor(), max=inter_h - self.size)
        col = torch.clamp(((inter_w - self.size + 1) * col_pct).floor(), max=inter_w - self.size)
        crop = _translation(col, row)
        flip = torch.zeros(batch, dtype=torch.bool)
        affine = torch.eye(3, dtype=torch.float64).repeat(batch, 1, 1)
        warp = affine.clone()
        brightness = torch.zeros(batch, dtype=torch.float64)
        contrast = torch.ones(batch, dtype=torch.float64)
        if train:
            flip = draw.bernoulli(self.flip_lr_p)
            magnitude = draw.uniform(-self.max_warp, self.max_warp, 4) * draw.bernoulli(self.warp_p)[:, None]
            warp = _symmetric_warp(magnitude)  # identity where not drawn (magnitude 0)
            no_change = torch.zeros(batch, dtype=torch.long)
            dihedral = torch.where(draw.bernoulli(self.dihedral_p), draw.randint(8), no_change)
            degrees = draw.uniform(-self.max_rotate, self.max_rotate) * draw.bernoulli(self.rotate_p)
            unit = torch.ones(batch, dtype=torch.float64)
            scale = torch.where(draw.bernoulli(self.zoom_p), draw.uniform(1.0, self.max_zoom), unit)
            zoom = _zoom(scale, draw.uniform(0, 1), draw.uniform(0, 1))
            affine = zoom @ _rotation(degrees) @ _dihedral(dihedral)
            lighting = self.max_lighting
            change = draw.uniform(0.5 * (1 - lighting), 0.5 * (1 + lighting))
            brightness = torch.logit(change) * draw.bernoulli(self.lighting_p)
            log_scale = draw.uniform(math.log(1 - lighting), -math.log(1 - lighting))
            contrast = torch.where(draw.bernoulli(self.lighting_p), log_scale.exp(), contrast)
        affine = affine.clone()
        affine[:, 0, 1] *= inter_h / inter_w  # fastai _affine_mult: keep rotations round on non-square grids
        affine[:, 1, 0] *= inter_w / inter_h
        flip_matrix = _flip_lr(flip, inter_w)
        to_normalised = _pixels_to_normalised(inter_h, inter_w)
        to_canvas = torch.linalg.inv(_pixels_to_normalised(*canvas_hw))
        matrices = to_canvas @ affine @ warp @ to_normalised @ flip_matrix @ crop  # [B, 3, 3]
        return AugmentParams(matrices=matrices, brightness=brightness, contrast=contrast)

    # ------------------------------------------------------------------ applying
    def apply(self, images: torch.Tensor, params: AugmentParams) -> torch.Tensor:
        """Warp and relight a batch with given parameters.

        Args:
            images: uint8 ``[B, 3, H, W]`` on any device.
            params: from ``sample`` with the same ``B`` and ``(H, W)``.

        Returns:
            float32 ``[B, 3, size, size]`` in ``[0, 1]`` on ``images.device``.
        """
        batch, _, height, width = images.shape
        identity = torch.eye(3, dtype=torch.float64)
        pixels = images.float().div_(255)  # [B, 3, H, W]
        unmoved = torch.allclose(params.matrices, identity.expand_as(params.matrices), atol=1e-9)
        if (height, width) == (self.size, self.size) and unmoved:
            output = pixels  # nothing moves: skip the resampling (exact, and cheaper)
        else:
            to_grid = _pixels_to_normalised(height, width) @ params.matrices  # output px -> input normalised
            output = F.grid_sample(
                pixels,
                _sampling_grid(to_grid.to(images.device, torch.float32), self.size),
                mode="bilinear",
                padding_mode="reflection",
                align_corners=True,
            )  # [B, 3, size, size]
        if bool((params.brightness != 0).any() or (params.contrast != 1).any()):
            brightness = params.brightness.to(images.device, torch.float32)[:, None, None, None]
            contrast = params.contrast.to(images.device, torch.float32)[:, None, None, None]
            logits = torch.logit(output.clamp(_LOGIT_EPS, 1 - _LOGIT_EPS))
            output = torch.sigmoid((logits + brightness) * contrast)  # fastai: brightness, then contrast
        return output

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment a training batch: uint8 ``[B, 3, H, W]`` -> float ``[B, 3, size, size]`` in 0..1."""
        params = self.sample(images.shape[0], (images.shape[2], images.shape[3]), generator, train=True)
        return self.apply(images, params)

    def eval_transform(self, images: torch.Tensor) -> torch.Tensor:
        """Validation/test transform: ``eval_resize`` (squish, or a centre crop), nothing random.

        uint8 ``[B, 3, H, W]`` -> float ``[B, 3, size, size]`` in 0..1.
        """
        params = self.sample(images.shape[0], (images.shape[2], images.shape[3]), None, train=False)
        return self.apply(images, params)


class _Drawer:
    """Per-sample random draws on a CPU generator, always in the same order."""

    def __init__(self, batch: int, generator: torch.Generator | None) -> None:
        self.batch, self.generator = batch, generator

    def uniform(self, low: float, high: float, *shape: int) -> torch.Tensor:
        values = torch.rand((self.batch, *shape), generator=self.generator, dtype=torch.float64)
        return low + (high - low) * values

    def bernoulli(self, p: float) -> torch.Tensor:
        return torch.rand(self.batch, generator=self.generator, dtype=torch.float64) < p

    def randint(self, high: int) -> torch.Tensor:
        return torch.randint(high, (self.batch,), generator=self.generator)


def _batch_matrix(rows: list[list[Any]], batch: int) -> torch.Tensor:
    """Stack ``3 x 3`` entries (scalars or ``[B]`` tensors) into ``[B, 3, 3]`` float64."""
    entries = [torch.as_tensor(v, dtype=torch.float64).expand(batch) for row in rows for v in row]
    return torch.stack(entries, dim=1).view(batch, 3, 3)


def _translation(dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    return _batch_matrix([[1, 0, dx], [0, 1, dy], [0, 0, 1]], len(dx))


def _flip_lr(flip: torch.Tensor, width: int) -> torch.Tensor:
    """``x -> width - x`` where ``flip`` (continuous pixel coordinates)."""
    sign = 1.0 - 2.0 * flip.double()
    return _batch_matrix([[sign, 0, flip.double() * width], [0, 1, 0], [0, 0, 1]], len(flip))


def _pixels_to_normalised(height: int, width: int) -> torch.Tensor:
    """``[3, 3]``: pixel coordinates -> ``[-1, 1]`` with -1/1 at border pixel centres (align_corners=True)."""
    scale_x, scale_y = 2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)
    return torch.tensor(
        [[scale_x, 0, -scale_x * width / 2], [0, scale_y, -scale_y * height / 2], [0, 0, 1]],
        dtype=torch.float64,
    )


def _rotation(degrees: torch.Tensor) -> torch.Tensor:
    """fastai ``rotate``: ``[[cos, -sin], [sin, cos]]`` in normalised coordinates."""
    angle = degrees * math.pi / 180
    cos, sin = angle.cos(), angle.sin()
    return _batch_matrix([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]], len(degrees))


def _zoom(scale: torch.Tensor, row_pct: torch.Tensor, col_pct: torch.Tensor) -> torch.Tensor:
    """fastai ``zoom``: sample a ``1/scale`` window whose centre is at (col_pct, row_pct)."""
    shrink = 1 - 1 / scale
    col_centre, row_centre = shrink * (2 * col_pct - 1), shrink * (2 * row_pct - 1)
    return _batch_matrix([[1 / scale, 0, col_centre], [0, 1 / scale, row_centre], [0, 0, 1]], len(scale))


def _dihedral(k: torch.Tensor) -> torch.Tensor:
    """fastai ``dihedral_affine``: bit 0 flips x, bit 1 flips y, bit 2 transposes."""
    sign_x = 1.0 - 2.0 * (k & 1).double()
    sign_y = 1.0 - 2.0 * ((k >> 1) & 1).double()
    transpose = ((k >> 2) & 1).double()
    keep = 1 - transpose
    return _batch_matrix(
        [[sign_x * keep, sign_x * transpose, 0], [sign_y * transpose, sign_y * keep, 0], [0, 0, 1]], len(k)
    )


_CORNERS = torch.tensor([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]], dtype=torch.float64)


def _symmetric_warp(magnitude: torch.Tensor) -> torch.Tensor:
    """fastai ``symmetric_warp``: the homography taking the moved corners back to the corners.

    Args:
        magnitude: ``[B, 4]`` (fastai's ``m[0..3]``).

    Returns:
        ``[B, 3, 3]`` homographies in normalised coordinates.
    """
    m = magnitude
    targets = torch.stack(
        [
            torch.stack([-1 - m[:, 3], -1 - m[:, 1]], 1),
            torch.stack([-1 - m[:, 2], 1 + m[:, 1]], 1),
            torch.stack([1 + m[:, 3], -1 - m[:, 0]], 1),
            torch.stack([1 + m[:, 2], 1 + m[:, 0]], 1),
        ],
        dim=1,
    )  # [B, 4, 2]
    # Solve H(target_k) = corner_k for the 8 free entries (fastai _find_coeffs).
    batch = len(m)
    system = torch.zeros(batch, 8, 8, dtype=torch.float64)
    rhs = _CORNERS.reshape(1, 8).repeat(batch, 1)  # [B, 8] = x0, y0, x1, y1, ...
    for k in range(4):
        x, y = targets[:, k, 0], targets[:, k, 1]
        u, v = _CORNERS[k]
        system[:, 2 * k, 0:3] = torch.stack([x, y, torch.ones_like(x)], 1)
        system[:, 2 * k, 6:8] = torch.stack([-u * x, -u * y], 1)
        system[:, 2 * k + 1, 3:6] = torch.stack([x, y, torch.ones_like(x)], 1)
        system[:, 2 * k + 1, 6:8] = torch.stack([-v * x, -v * y], 1)
    coefficients = torch.linalg.solve(system, rhs)  # [B, 8]
    return torch.cat([coefficients, torch.ones(batch, 1, dtype=torch.float64)], 1).view(batch, 3, 3)


def _sampling_grid(matrices: torch.Tensor, size: int) -> torch.Tensor:
    """Apply ``[B, 3, 3]`` output-pixel -> input-normalised maps to the output pixel centres.

    Returns:
        ``[B, size, size, 2]`` grid for ``F.grid_sample``.
    """
    centres = torch.arange(size, device=matrices.device, dtype=matrices.dtype) + 0.5  # [S]
    ys, xs = torch.meshgrid(centres, centres, indexing="ij")  # [S, S]
    points = torch.stack([xs.reshape(-1), ys.reshape(-1), torch.ones_like(xs).reshape(-1)], 0)  # [3, S*S]
    mapped = matrices @ points  # [B, 3, S*S]
    grid = mapped[:, :2] / mapped[:, 2:3]  # [B, 2, S*S] perspective divide
    return grid.transpose(1, 2).reshape(len(matrices), size, size, 2)


# ---------------------------------------------------------------------- registry
POLICIES: dict[str, dict[str, Any]] = {
    "none": {},
    # fastai v1 get_transforms() defaults for the training set (docs/POST.md).
    "fastai": dict(
        random_crop=True,
        flip_lr_p=0.5,
        max_warp=0.2,
        warp_p=0.75,
        max_rotate=10.0,
        rotate_p=0.75,
        max_zoom=1.1,
        zoom_p=0.75,
        max_lighting=0.2,
        lighting_p=0.75,
    ),
    # Follow-up post: no crop, zoom, warp or rotation; all 8 flips/rot90s and lighting.
    # Squish rather than crop so a non-square canvas keeps every circle in training.
    "sensible": dict(resize="squish", dihedral_p=1.0, max_lighting=0.2, lighting_p=0.75),
}


def available() -> list[str]:
    """Registered policy names."""
    return sorted(POLICIES)


def create(name: str, size: int = 224, eval_resize: str = "squish", **overrides: Any) -> Policy:
    """Build a registered policy, with any ``Policy`` field overridden.

    Args:
        name: a registered policy (``available()``).
        size: output size in px.
        eval_resize: ``squish`` or ``crop``, the evaluation transform; pass
            the same value for every policy being compared (``TrainSpec.eval_resize``).
        overrides: any other ``Policy`` field.

    Raises:
        ValueError: unknown name (listing the known ones), unknown field or value.
    """
    overrides = {"size": size, "eval_resize": eval_resize, **overrides}
    if name not in POLICIES:
        raise ValueError(f"aug: unknown policy {name!r}; valid: {', '.join(available())}")
    fields = {f.name for f in dataclasses.fields(Policy)} - {"name"}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"aug: unknown parameter {unknown[0]!r}; valid: {', '.join(sorted(fields))}")
    return Policy(name=name, **{**POLICIES[name], **overrides})


def eval_transform(images: torch.Tensor, size: int, resize: Literal["crop", "squish"] = "squish") -> torch.Tensor:
    """The evaluation transform every policy shares: uint8 ``[B, 3, H, W]`` -> float ``[B, 3, size, size]``.

    Args:
        images: uint8 ``[B, 3, H, W]``.
        size: output size in px.
        resize: ``squish`` (whole canvas) or ``crop`` (shorter side to ``size``, centre crop).
    """
    return Policy(name="eval", size=size, eval_resize=resize).eval_transform(images)


# ---------------------------------------------------------------------- circles
def _reflections(centres: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The 3x3 ring of mirror images made by reflection padding.

    grid_sample with ``align_corners=True`` reflects about the border pixel
    centres, i.e. the lines ``x = 0.5`` and ``x = W - 0.5`` (same in y).

    Returns:
        centres ``[9, K, 2]`` (index 4 is the original) and ``is_original [9]``.
    """
    xs = np.stack([1.0 - centres[:, 0], centres[:, 0], 2.0 * width - 1.0 - centres[:, 0]])  # [3, K]
    ys = np.stack([1.0 - centres[:, 1], centres[:, 1], 2.0 * height - 1.0 - centres[:, 1]])  # [3, K]
    mirrored = np.stack([np.stack([xs[i], ys[j]], -1) for j in range(3) for i in range(3)])  # [9, K, 2]
    is_original = np.arange(9) == 4
    return mirrored, is_original


def map_circles(
    matrix: np.ndarray, centres: np.ndarray, radii: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map circles from canvas to output pixels with the inverse of an output->input matrix.

    Each circle becomes (to first order) the ellipse ``{c' + r J u : |u| <= 1}``
    with ``J`` the Jacobian of the inverse map at the centre: exact for
    affine maps, a local linearisation for warps.

    Args:
        matrix: ``[3, 3]`` output pixel -> canvas pixel.
        centres: ``[K, 2]`` canvas ``(x, y)``; radii: ``[K]``.

    Returns:
        output centres ``[K, 2]``, equivalent radii ``r sqrt(|det J|)`` ``[K]``
        and ellipse axes ``r J`` ``[K, 2, 2]``.
    """
    return _map_with_inverse(np.linalg.inv(matrix), centres, radii)


def _map_with_inverse(
    inverse: np.ndarray, centres: np.ndarray, radii: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``map_circles`` given the canvas -> output matrix: one ``[3, 3]``, or one per circle ``[K, 3, 3]``."""
    inverse = np.broadcast_to(inverse, (len(centres), 3, 3))
    x, y = centres[:, 0, None], centres[:, 1, None]
    points = inverse[:, :, 0] * x + inverse[:, :, 1] * y + inverse[:, :, 2]  # [K, 3]: H @ (x, y, 1)
    mapped = points[:, :2] / points[:, 2:3]  # [K, 2]
    # d(out_i)/d(in_j) = (H[i, j] - out_i * H[2, j]) / w
    jacobian = (inverse[:, :2, :2] - mapped[:, :, None] * inverse[:, 2:3, :2]) / points[:, 2, None, None]
    scale = np.sqrt(np.abs(np.linalg.det(jacobian)))  # [K]
    return mapped, radii * scale, radii[:, None, None] * jacobian


def visible_circles(
    matrix: np.ndarray, scene: Scene, canvas_hw: tuple[int, int], size: int
) -> dict[str, np.ndarray]:
    """Where a scene's items and their reflection-padding mirrors land in the output.

    Whole and clipped are judged on each item's extent circle
    (``synth.scenes.extent_radii``), which holds every shape in every
    rotation: a square or triangle called whole is whole; one called
    clipped may just miss the frame with its own outline.

    Args:
        matrix: ``[3, 3]`` output pixel -> canvas pixel (one row of ``AugmentParams.matrices``).
        scene: items in canvas pixels; canvas_hw: ``(H, W)`` of the canvas.
        size: output size (its pixel centres span ``[0.5, size - 0.5]^2``).

    Returns:
        dict of arrays over the ``9 K`` copies (``K = scene.n_items``; mirror
        ring order, the originals are ``copy == 4``): ``centers [9K, 2]``,
        ``radii [9K]`` (mapped equal-area radii), ``copy [9K]``, ``circle
        [9K]`` (item index in the scene), ``target [9K]`` (counted), and
        booleans ``whole``, ``partial`` (touches the frame but is clipped).
    """
    mirrored, _ = _reflections(scene.centers, *canvas_hw)  # [9, K, 2]
    extents = extent_radii(scene)
    centres, mapped_extents, axes = map_circles(
        np.asarray(matrix, dtype=np.float64), mirrored.reshape(-1, 2), np.tile(extents, 9)
    )
    whole, partial = _classify(centres, axes, size)
    copies = np.repeat(np.arange(9), scene.n_items)
    circles = np.tile(np.arange(scene.n_items), 9)
    radii = mapped_extents * np.tile(scene.radii / extents, 9)  # the map's area scale, on equal-area radii
    return {"centers": centres, "radii": radii, "copy": copies, "circle": circles,
            "target": np.tile(scene.targets, 9), "whole": whole, "partial": partial}


def _classify(centres: np.ndarray, axes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Whole and partial flags of ellipses ``{c + A u : |u| <= 1}`` in a ``size x size`` output.

    The output only shows the input at its pixel centres, whose hull is
    ``[0.5, size - 0.5]^2`` (``grid_sample`` samples nothing between a pixel
    centre and the frame line), so both tests use that hull.
    Whole: the ellipse's bounding box (half-extents = row norms of ``A``) is
    inside the hull; a circle reaching past it loses the part beyond the
    outermost pixel centres. Visible: the ellipse reaches the hull (a mirror
    image that stops short of it does not show). In the ellipse's own coordinates that hull is
    a parallelogram; the ellipse reaches it when the origin is inside it or
    closer than 1 to one of its edges. Partial = visible and not whole.

    Args:
        centres: ``[K, 2]``; axes: ``[K, 2, 2]``.

    Returns:
        whole ``[K]`` and partial ``[K]`` booleans.
    """
    extent = np.linalg.norm(axes, axis=2)  # [K, 2] half-width, half-height
    low, high = 0.5, size - 0.5
    whole = ((centres - extent) >= low).all(1) & ((centres + extent) <= high).all(1)
    # Only an ellipse whose bounding box meets the hull can touch it: most mirror images lie far
    # outside, and the exact test below runs on the rest (the 1e-6 px margin keeps every near case).
    near = ((centres + extent) >= low - 1e-6).all(1) & ((centres - extent) <= high + 1e-6).all(1) & ~whole
    centres, axes = centres[near], axes[near]
    corners = np.array([[low, low], [high, low], [high, high], [low, high]], dtype=np.float64)  # [4, 2] in order
    inverse = np.linalg.inv(axes)  # [N, 2, 2]
    polygon = np.einsum("kij,kcj->kci", inverse, corners[None] - centres[:, None])  # [N, 4, 2]
    edges = np.roll(polygon, -1, axis=1) - polygon  # [N, 4, 2]
    cross = edges[..., 0] * -polygon[..., 1] - edges[..., 1] * -polygon[..., 0]  # [N, 4]
    inside = (cross >= 0).all(1) | (cross <= 0).all(1)
    t = np.clip(-(polygon * edges).sum(2) / np.maximum((edges**2).sum(2), 1e-12), 0, 1)  # [N, 4]
    distance = np.linalg.norm(polygon + t[..., None] * edges, axis=2).min(1)  # [N]
    partial = np.zeros(len(whole), bool)
    partial[near] = inside | (distance < 1)
    return whole, partial


# Samples mapped at once by count_audit: bounds its memory (45-50 items x 9 mirror copies per sample).
_AUDIT_CHUNK = 256


def _audit_counts(
    scenes: Sequence[Scene], chosen: np.ndarray, inverses: np.ndarray, canvas_hw: tuple[int, int], size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Whole and partly visible targets per sample, ``visible_circles`` for every sample at once.

    Args:
        chosen: ``[S]`` scene index of each sample; inverses: ``[S, 3, 3]`` canvas -> output pixel maps.

    Returns:
        whole ``[S]`` and partial ``[S]`` counts of targets (int).
    """
    copies: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # scene -> its 9 K centres, extents, targets
    for index in set(chosen.tolist()):
        scene = scenes[index]
        mirrored, _ = _reflections(scene.centers, *canvas_hw)  # [9, K, 2]
        copies[index] = (mirrored.reshape(-1, 2), np.tile(extent_radii(scene), 9), np.tile(scene.targets, 9))
    whole, partial = np.zeros(len(chosen), int), np.zeros(len(chosen), int)
    for start in range(0, len(chosen), _AUDIT_CHUNK):
        block = chosen[start : start + _AUDIT_CHUNK].tolist()
        owner = np.concatenate([np.full(len(copies[index][1]), sample) for sample, index in enumerate(block)])
        centres = np.concatenate([copies[index][0] for index in block])
        extents = np.concatenate([copies[index][1] for index in block])
        targets = np.concatenate([copies[index][2] for index in block]).astype(bool)
        mapped, _, axes = _map_with_inverse(inverses[start : start + len(block)][owner], centres, extents)
        is_whole, is_partial = _classify(mapped, axes, size)
        whole[start : start + len(block)] = np.bincount(owner[is_whole & targets], minlength=len(block))
        partial[start : start + len(block)] = np.bincount(owner[is_partial & targets], minlength=len(block))
    return whole, partial


def count_audit(
    policy: Policy,
    scenes: Sequence[Scene],
    canvas_hw: tuple[int, int] | None = None,
    size: int | None = None,
    samples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """How often a policy changes what the image shows: clipped targets or a wrong count.

    Draws ``samples`` (scene, augmentation) pairs, maps every item and its
    reflection-padding mirror images into the output frame (extent circles,
    see ``visible_circles``), and counts whole and partly visible targets.
    A sample is *changed* when any target is clipped or the number of whole
    targets differs from the label; distractors never change a label.

    Args:
        policy: an augmentation policy (its training transform is audited).
        scenes: the training scenes; ``canvas_hw`` defaults to theirs.
        size: output size (default: the policy's).
        samples: number of augmented samples drawn (scenes drawn with replacement).
        seed: seeds the scene choice and the augmentation.

    Returns:
        dict with ``label_noise_rate`` (fraction changed), ``clipped_rate``,
        ``miscount_rate``, ``samples``, ``per_count`` {count: same rates and
        ``mean_whole``}, and per-sample lists ``labels``, ``whole``, ``partial``, ``changed``.
    """
    if not scenes:
        raise ValueError("count_audit: expected at least one scene, got none")
    if size is not None:
        policy = dataclasses.replace(policy, size=size)
    canvas_hw = canvas_hw or (scenes[0].height, scenes[0].width)
    generator = torch.Generator().manual_seed(seed)
    chosen = torch.randint(len(scenes), (samples,), generator=generator).numpy()
    matrices = policy.sample(samples, canvas_hw, generator, train=True).matrices.numpy()  # [S, 3, 3]
    labels = np.array([scenes[index].count for index in chosen.tolist()], dtype=int)
    whole, partial = _audit_counts(scenes, chosen, np.linalg.inv(matrices), canvas_hw, policy.size)
    clipped, miscounted = partial > 0, whole != labels
    changed = clipped | miscounted
    per_count = {}
    for count in np.unique(labels):
        mask = labels == count
        per_count[str(int(count))] = {
            "samples": int(mask.sum()),
            "label_noise_rate": float(changed[mask].mean()),
            "clipped_rate": float(clipped[mask].mean()),
            "miscount_rate": float(miscounted[mask].mean()),
            "mean_whole": float(whole[mask].mean()),
        }
    return {
        "policy": policy.name,
        "samples": samples,
        "label_noise_rate": float(changed.mean()),
        "clipped_rate": float(clipped.mean()),
        "miscount_rate": float(miscounted.mean()),
        "per_count": per_count,
        "labels": labels.tolist(),
        "whole": whole.tolist(),
        "partial": partial.tolist(),
        "changed": changed.tolist(),
    }
