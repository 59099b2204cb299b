"""Where attribution falls: on the circles or on the background.

All functions take one non-negative attribution map ``[H, W]`` and the
scene's per-circle coverage masks ``[K, H, W]`` (``synth.circle_masks``,
after the same eval transform as the image), so they work for any method.

Definitions (documented here because they are choices):

- *mass share*: attribution inside the circles / total attribution, with
  anti-aliased edge pixels counted by their coverage; compared with the
  *area share* (fraction of the image the circles cover). A map that ignores
  the circles has mass share ~ area share; ``ratio`` = mass / area share.
- *pointing game*: whether the single most attributed pixel lies on a circle
  (coverage >= 0.5), as in Zhang et al. (2016).
- *per-circle coverage*: the fraction of the scene's circles whose own
  attribution mass exceeds their fair share, the share a uniform map would
  give them (circle area / image area). A counter has to look at every
  circle, so its coverage should stay near 1 as N grows.

Caveat, by construction: Integrated Gradients multiplies gradients by
``input - baseline``, and with the blank-canvas baseline that difference is
zero on every background pixel, so IG (and Occlusion, whose patches of pure
background change nothing) can only put mass on or next to circles. Their
mass share is close to 1 for any model; the informative localisation
numbers are those of Grad-CAM, Saliency and SmoothGrad. IG is still useful
for ranking circles (deletion test) and for its overlays.
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
