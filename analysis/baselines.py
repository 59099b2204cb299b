"""Non-learned counters on the same test sets: ink area and connected components.

They bound what the networks should reach. Ink area is the cue a network
can use without counting: with one fixed radius, ink is proportional to the
count, so a regression from ink to count is exact up to rendering; with
varied sizes it is not. Connected components count blobs: exact whenever
circles do not touch (the sampler keeps a >= 1 px gap).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy import ndimage
from sklearn.linear_model import LinearRegression

__all__ = ["ink_map", "ink_area", "component_counts", "InkAreaCounter", "baseline_accuracy"]


def ink_map(images: torch.Tensor, background: Sequence[int] = (255, 255, 255)) -> np.ndarray:
    """Per-pixel ink: distance from the background colour, 0 (background) to ~1 (full circle colour).

    The distance is divided by the largest distance in the batch, so the
    circle colour (whatever it is) maps to 1 and anti-aliased edges to their
    coverage.

    Args:
        images: uint8 ``[N, 3, H, W]``.

    Returns:
        float ``[N, H, W]``.
    """
    pixels = images.detach().cpu().float()
    colour = torch.tensor(background, dtype=torch.float32).view(1, 3, 1, 1)
    distance = (pixels - colour).norm(dim=1)  # [N, H, W]
    return (distance / distance.max().clamp_min(1e-6)).numpy()


def ink_area(images: torch.Tensor, background: Sequence[int] = (255, 255, 255)) -> np.ndarray:
    """Total ink per image in pixels ``[N]`` (the "total surface area" a network could read off)."""
    return ink_map(images, background).reshape(len(images), -1).sum(1)


def component_counts(images: torch.Tensor, threshold: float = 0.5, background: Sequence[int] = (255, 255, 255)) -> np.ndarray:
    """Connected components of the ink (4-connectivity) per image ``[N]``.

    Args:
        threshold: ink level (0..1) above which a pixel is foreground; 0.5
            keeps two circles 1 px apart separate despite anti-aliasing.
    """
    binary = ink_map(images, background) > threshold  # [N, H, W]
    return np.array([ndimage.label(mask)[1] for mask in binary], dtype=int)


class InkAreaCounter:
    """count ~ a x ink + b, fitted on training images, snapped to the nearest class."""

    def __init__(self) -> None:
        self.regression = LinearRegression()
        self.classes = np.zeros(0)

    def fit(self, images: torch.Tensor, counts: np.ndarray) -> "InkAreaCounter":
        """Fit on uint8 images ``[N, 3, H, W]`` and true counts ``[N]``."""
        self.regression.fit(ink_area(images)[:, None], np.asarray(counts, dtype=float))
        self.classes = np.unique(counts)
        return self

    def predict(self, images: torch.Tensor) -> np.ndarray:
        """Predicted counts ``[N]`` (each the class nearest to the regression's value)."""
        raw = self.regression.predict(ink_area(images)[:, None])  # [N]
        nearest = np.abs(raw[:, None] - self.classes[None, :]).argmin(1)
        return self.classes[nearest]


def baseline_accuracy(
    train_images: torch.Tensor,
    train_counts: np.ndarray,
    test_images: torch.Tensor,
    test_counts: np.ndarray,
    ink: InkAreaCounter | None = None,
) -> dict[str, dict[str, float]]:
    """Accuracy and mean absolute error of both baselines on a test set.

    Connected-component counts are snapped into the class range (a count of
    0 or above the range is an error either way, but the snap keeps the two
    baselines comparable with a classifier that can only answer a class).

    Args:
        ink: an ink-area counter already fitted on the training images (None:
            fit one here), so several test sets share one fit.

    Returns:
        ``{"ink_area": {...}, "components": {...}}`` each with ``accuracy``,
        ``mae``, ``n``.
    """
    test_counts = np.asarray(test_counts)
    classes = np.unique(np.concatenate([np.asarray(train_counts), test_counts]))
    predictions = {
        "ink_area": (ink or InkAreaCounter().fit(train_images, train_counts)).predict(test_images),
        "components": np.clip(component_counts(test_images), classes.min(), classes.max()),
    }
    return {
        name: {"accuracy": float(np.mean(pred == test_counts)), "mae": float(np.mean(np.abs(pred - test_counts))),
               "n": int(len(test_counts))}
        for name, pred in predictions.items()
    }
