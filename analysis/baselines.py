"""Non-learned counters on the same test sets: ink area and connected components.

They bound what the networks should reach. Ink area is the cue a network
can use without counting: with one fixed radius, ink is proportional to the
count, so a regression from ink to count is exact up to rendering; with
varied sizes it is not. Connected components count blobs: exact whenever
items do not touch (the sampler keeps a >= 1 px gap).

Both count TARGETS. When distractors differ from the targets by colour,
only pixels of the target colour are ink (``target_colour``). Where a
counter cannot tell targets from other items, or items from each other,
``unusable_baselines`` says so and the counter is not run: distractors
that differ by shape alone (same colour: ink and blobs cannot separate
them), and overlapping items for connected components (overlapping items
merge into one blob).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy import ndimage
from sklearn.linear_model import LinearRegression

__all__ = ["ink_map", "ink_area", "component_counts", "InkAreaCounter", "baseline_accuracy", "unusable_baselines",
           "COUNTERS", "ON_SEGMENT_TOLERANCE"]

COUNTERS = ("ink_area", "components")
# A pixel is target ink when its offset from the background points towards the target colour: its distance
# from the background-to-target line is at most this fraction of its offset (sin of the angle). Anti-aliased
# target edges keep the direction at every coverage; a distractor's pixels, edges included, point elsewhere.
ON_SEGMENT_TOLERANCE = 0.25
Colour = Sequence[int]


def ink_map(images: torch.Tensor, background: Colour = (255, 255, 255), target_colour: Colour | None = None
            ) -> np.ndarray:
    """Per-pixel ink: 0 (background) to ~1 (full item colour).

    Without ``target_colour``: the distance from the background colour,
    divided by the largest distance in the batch, so the item colour
    (whatever it is) maps to 1 and anti-aliased edges to their coverage.
    With it: the coverage of the target colour (the pixel's position on the
    segment from background to target colour), and 0 for pixels whose colour
    does not lie towards the target's, such as distractors of another colour.

    Args:
        images: uint8 ``[N, 3, H, W]``.
        target_colour: RGB of the items to count (None: every non-background pixel is ink).

    Returns:
        float ``[N, H, W]``.
    """
    pixels = images.detach().cpu().float()
    colour = torch.tensor(background, dtype=torch.float32).view(1, 3, 1, 1)
    offset = pixels - colour  # [N, 3, H, W]
    if target_colour is None:
        distance = offset.norm(dim=1)  # [N, H, W]
        return (distance / distance.max().clamp_min(1e-6)).numpy()
    direction = torch.tensor(target_colour, dtype=torch.float32).view(1, 3, 1, 1) - colour  # [1, 3, 1, 1]
    length2 = float((direction**2).sum().clamp_min(1e-6))
    coverage = (offset * direction).sum(dim=1, keepdim=True) / length2  # [N, 1, H, W]
    residual = (offset - coverage * direction).norm(dim=1)  # [N, H, W]: distance from the line
    on_segment = residual <= ON_SEGMENT_TOLERANCE * offset.norm(dim=1)
    return (coverage[:, 0].clamp(0, 1) * on_segment).numpy()


def ink_area(images: torch.Tensor, background: Colour = (255, 255, 255), target_colour: Colour | None = None
             ) -> np.ndarray:
    """Total ink per image in pixels ``[N]`` (the "total surface area" a network could read off)."""
    return ink_map(images, background, target_colour).reshape(len(images), -1).sum(1)


def component_counts(images: torch.Tensor, threshold: float = 0.5, background: Colour = (255, 255, 255),
                     target_colour: Colour | None = None) -> np.ndarray:
    """Connected components of the ink (4-connectivity) per image ``[N]``.

    Args:
        threshold: ink level (0..1) above which a pixel is foreground; 0.5
            keeps two circles 1 px apart separate despite anti-aliasing.
        target_colour: count only blobs of this colour (None: every blob).
    """
    binary = ink_map(images, background, target_colour) > threshold  # [N, H, W]
    return np.array([ndimage.label(mask)[1] for mask in binary], dtype=int)


class InkAreaCounter:
    """count ~ a x ink + b, fitted on training images, snapped to the nearest class.

    Args:
        target_colour: RGB of the items counted (None: all ink).
    """

    def __init__(self, target_colour: Colour | None = None) -> None:
        self.regression = LinearRegression()
        self.classes = np.zeros(0)
        self.target_colour = target_colour

    def fit(self, images: torch.Tensor, counts: np.ndarray, classes: Sequence[int] | None = None) -> "InkAreaCounter":
        """Fit on uint8 images ``[N, 3, H, W]`` and true counts ``[N]``.

        Args:
            classes: the counts it may answer (None: those of the training images); give the whole class
                range when counts are held out of training, so the regression can answer them as a
                network's regression head could.
        """
        ink = ink_area(images, target_colour=self.target_colour)  # [N]
        self.regression.fit(ink[:, None], np.asarray(counts, dtype=float))
        self.classes = np.unique(counts if classes is None else np.asarray(classes))
        return self

    def predict(self, images: torch.Tensor) -> np.ndarray:
        """Predicted counts ``[N]`` (each the class nearest to the regression's value)."""
        raw = self.regression.predict(ink_area(images, target_colour=self.target_colour)[:, None])  # [N]
        nearest = np.abs(raw[:, None] - self.classes[None, :]).argmin(1)
        return self.classes[nearest]


def baseline_accuracy(
    train_images: torch.Tensor,
    train_counts: np.ndarray,
    test_images: torch.Tensor,
    test_counts: np.ndarray,
    ink: InkAreaCounter | None = None,
    target_colour: Colour | None = None,
    counters: Sequence[str] = COUNTERS,
) -> dict[str, dict[str, float]]:
    """Accuracy and mean absolute error of both baselines on a test set.

    Connected-component counts are snapped into the class range (a count of
    0 or above the range is an error either way, but the snap keeps the two
    baselines comparable with a classifier that can only answer a class).

    Args:
        ink: an ink-area counter already fitted on the training images (None:
            fit one here), so several test sets share one fit.
        target_colour: RGB of the targets when distractors of another colour are present (None: all ink).
        counters: which of ``COUNTERS`` to run (leave out the ones ``unusable_baselines`` names).

    Returns:
        ``{"ink_area": {...}, "components": {...}}`` (those asked for) each
        with ``accuracy``, ``mae``, ``n``.
    """
    test_counts = np.asarray(test_counts)
    classes = np.unique(np.concatenate([np.asarray(train_counts), test_counts]))
    predictions = {}
    if "ink_area" in counters:
        ink = ink or InkAreaCounter(target_colour).fit(train_images, train_counts)
        predictions["ink_area"] = ink.predict(test_images)
    if "components" in counters:
        found = component_counts(test_images, target_colour=target_colour)
        predictions["components"] = np.clip(found, classes.min(), classes.max())
    return {
        name: {"accuracy": float(np.mean(pred == test_counts)), "mae": float(np.mean(np.abs(pred - test_counts))),
               "n": int(len(test_counts))}
        for name, pred in predictions.items()
    }


def unusable_baselines(spec: dict[str, Any]) -> dict[str, str]:
    """The counters that cannot count the targets of a cell's scenes, each with why.

    Args:
        spec: the cell's TrainSpec dict (``distractors``, ``distractor_kind``, ``overlap``).

    Returns:
        counter name -> a sentence (empty when both counters work).
    """
    reasons = {}
    distractors = str(spec.get("distractors", "0") or "0").strip()
    if distractors not in ("0", "0-0") and spec.get("distractor_kind", "colour") == "shape":
        why = ("distractors differ from the targets by shape only (same colour), so neither ink nor blobs can tell "
               "targets from distractors")
        reasons = {"ink_area": why, "components": why}
    if str(spec.get("overlap", False)).strip().lower() in ("true", "1"):
        reasons.setdefault("components", "items may overlap, and overlapping items merge into one connected "
                                         "component")
    return reasons
