"""Small statistics helpers: means with t intervals, Wilson intervals, bootstrap.

Every number the analysis reports carries its ``n``; where the unit of
replication is a seed, the interval is a t interval over seeds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats

__all__ = ["mean_ci", "wilson_ci", "bootstrap_ci"]


def mean_ci(values: np.ndarray | list[float], confidence: float = 0.95) -> dict[str, float]:
    """Mean and a two-sided t confidence interval (NaN-free values only).

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
