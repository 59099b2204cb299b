"""The confidence interval of an accuracy (or a per-image error), the one the console, analysis and report show.

The unit of replication is the seed. With ``MIN_SEEDS_FOR_T`` (3) or more
seeds an accuracy is the mean over seeds with a t interval (seed-to-seed
variation included); with fewer, the only honest interval is a Wilson
interval over the pooled test images, which ignores seed variation, and
``method`` says so (docs/ANALYSIS.md, "Accuracy"). A per-image error (count
MAE, bias) uses the same rule with a percentile bootstrap over the pooled
images in place of Wilson.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

__all__ = ["Estimate", "accuracy_estimate", "error_estimate", "mean_ci", "wilson_ci", "bootstrap_ci",
           "T_OVER_SEEDS", "WILSON_OVER_IMAGES", "BOOTSTRAP_OVER_IMAGES", "MIN_SEEDS_FOR_T"]

T_OVER_SEEDS = "t over seeds"
WILSON_OVER_IMAGES = "Wilson over images"
BOOTSTRAP_OVER_IMAGES = "bootstrap over images"
MIN_SEEDS_FOR_T = 3  # with 2 seeds the t interval (t = 12.7) is wider than [0, 1]: uninformative


def mean_ci(values: np.ndarray | Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """Mean and a two-sided t confidence interval (non-finite values dropped).

    Returns:
        ``mean``, ``ci_low``, ``ci_high``, ``n``; with n = 1 the interval is NaN.
    """
    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    n = len(data)
    if n == 0:
        return {"mean": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n": 0}
    mean = float(data.mean())
    if n == 1:
        return {"mean": mean, "ci_low": np.nan, "ci_high": np.nan, "n": 1}
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * data.std(ddof=1) / np.sqrt(n))
    return {"mean": mean, "ci_low": mean - half, "ci_high": mean + half, "n": n}


def wilson_ci(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (well-behaved at 0 and 1 and small n)."""
    if n == 0:
        return np.nan, np.nan
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


def bootstrap_ci(
    statistic: Callable[[np.ndarray], np.ndarray],
    rows: int,
    n_boot: int = 500,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap over rows.

    Args:
        statistic: row indices ``[rows]`` -> a vector of statistics ``[S]``.
        rows: number of rows resampled with replacement.

    Returns:
        lower and upper bounds ``[S]`` each.
    """
    rng = np.random.default_rng(seed)
    draws = np.stack([statistic(rng.integers(0, rows, rows)) for _ in range(n_boot)])  # [n_boot, S]
    alpha = (1 - confidence) / 2
    return np.nanquantile(draws, alpha, axis=0), np.nanquantile(draws, 1 - alpha, axis=0)


@dataclasses.dataclass(frozen=True)
class Estimate:
    """An accuracy with its 95% interval, how it was computed and its n.

    Attributes:
        mean: mean accuracy over seeds (pooled over images when method is Wilson).
        low, high: the interval.
        method: ``T_OVER_SEEDS`` or ``WILSON_OVER_IMAGES``.
        n_seeds: cells pooled; n_images: test images per seed summed over seeds.
    """

    mean: float
    low: float
    high: float
    method: str
    n_seeds: int
    n_images: int

    def to_dict(self) -> dict[str, float | str | int]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "method": self.method,
                "n_seeds": self.n_seeds, "n_images": self.n_images}


def accuracy_estimate(correct: Sequence[int], totals: Sequence[int], confidence: float = 0.95) -> Estimate | None:
    """Accuracy of one configuration from its seeds.

    Args:
        correct: correctly classified test images per seed ``[S]``.
        totals: test images per seed ``[S]``.

    Returns:
        the estimate (t over seeds when S >= 3, else Wilson over the pooled
        images), or None when there are no images.
    """
    pairs = [(int(k), int(n)) for k, n in zip(correct, totals) if n and n > 0]
    if not pairs:
        return None
    hits, images = sum(k for k, _ in pairs), sum(n for _, n in pairs)
    if len(pairs) >= MIN_SEEDS_FOR_T:
        ci = mean_ci([k / n for k, n in pairs], confidence)
        return Estimate(ci["mean"], max(0.0, ci["ci_low"]), min(1.0, ci["ci_high"]), T_OVER_SEEDS, len(pairs), images)
    low, high = wilson_ci(hits, images, confidence)
    return Estimate(hits / images, low, high, WILSON_OVER_IMAGES, len(pairs), images)


def error_estimate(per_seed: Sequence[np.ndarray], n_boot: int = 1000, seed: int = 0,
                   confidence: float = 0.95) -> Estimate | None:
    """Mean of a per-image quantity (absolute or signed count error) over seeds, with its interval.

    With >= 3 seeds: the mean of the per-seed means and a t interval over
    seeds (seed-to-seed variation included). With fewer: the mean over the
    pooled images and a percentile bootstrap interval over them (which leaves
    seed variation out; ``method`` says so). Unlike an accuracy, the interval
    is not clipped: an error has no natural bound.

    Args:
        per_seed: per seed, the values of its images ``[N_s]`` (empty seeds are left out).

    Returns:
        the estimate (``n_images`` = images summed over seeds), or None when there are no images.
    """
    values = [np.asarray(v, dtype=float) for v in per_seed]
    values = [v[np.isfinite(v)] for v in values]
    values = [v for v in values if len(v)]
    if not values:
        return None
    images = int(sum(len(v) for v in values))
    if len(values) >= MIN_SEEDS_FOR_T:
        ci = mean_ci([v.mean() for v in values], confidence)
        return Estimate(ci["mean"], ci["ci_low"], ci["ci_high"], T_OVER_SEEDS, len(values), images)
    pooled = np.concatenate(values)  # [N]
    low, high = bootstrap_ci(lambda rows: np.array([pooled[rows].mean()]), len(pooled), n_boot=n_boot, seed=seed,
                             confidence=confidence)
    return Estimate(float(pooled.mean()), float(low[0]), float(high[0]), BOOTSTRAP_OVER_IMAGES, len(values), images)
