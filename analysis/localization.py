"""Where attribution falls: on the items or on the background.

Both functions take one non-negative attribution map ``[H, W]`` and the
scene's per-item coverage masks ``[K, H, W]`` (``synth.circle_masks``, after
the same eval transform as the image), so they work for any method:
``localization_metrics`` gives the mass share, area share, pointing game and
per-circle coverage of one image. docs/ANALYSIS.md ("Localisation") defines
them and says why Integrated Gradients' and Occlusion's mass share is close to
1 for any model.
"""

from __future__ import annotations

import torch

__all__ = ["localization_metrics", "circle_masses"]

_EPS = 1e-12


def circle_masses(attribution: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Share of the total attribution falling on each circle.

    Args:
        attribution: non-negative ``[H, W]``.
        masks: coverage ``[K, H, W]`` in 0..1.

    Returns:
        ``[K]`` fractions of the total (each circle's mask-weighted mass).
    """
    total = attribution.sum().clamp_min(_EPS)
    return (masks * attribution[None]).flatten(1).sum(1) / total  # [K]


def localization_metrics(attribution: torch.Tensor, masks: torch.Tensor) -> dict[str, float]:
    """Mass share, area share, pointing game and per-circle coverage for one image.

    Args:
        attribution: non-negative ``[H, W]`` map (any method).
        masks: per-circle coverage ``[K, H, W]`` in 0..1, aligned with the map.

    Returns:
        dict: ``mass_share``, ``area_share``, ``ratio`` (mass/area share),
        ``pointing_hit`` (0/1), ``circle_coverage`` (fraction of circles above
        fair share), ``circles`` (K). With K = 0 or an all-zero map the
        shares are NaN.
    """
    attribution = attribution.float().clamp_min(0)
    masks = masks.float().to(attribution.device)
    count = int(masks.shape[0])
    nan = float("nan")
    if count == 0 or float(attribution.sum()) <= _EPS:
        return {"mass_share": nan, "area_share": nan, "ratio": nan, "pointing_hit": nan,
                "circle_coverage": nan, "circles": count}
    union = masks.amax(0)  # [H, W]
    mass_share = float((union * attribution).sum() / attribution.sum())
    area_share = float(union.mean())
    peak = int(attribution.flatten().argmax())
    pointing_hit = float(union.flatten()[peak] >= 0.5)
    fair = masks.flatten(1).sum(1) / union.numel()  # [K] share a uniform map gives each circle
    covered = circle_masses(attribution, masks) > fair  # [K]
    return {
        "mass_share": mass_share,
        "area_share": area_share,
        "ratio": mass_share / max(area_share, _EPS),
        "pointing_hit": pointing_hit,
        "circle_coverage": float(covered.float().mean()),
        "circles": count,
    }
