"""Paired tests between models (the interval of one accuracy is ``kit.intervals``).

Two models evaluated on the same test images are compared pairwise, with
two tests reported side by side, each with its n:

- over seeds: a paired t-test on the per-seed accuracy differences (the same
  t distribution as the interval shown), at three or more seeds. A sign test
  cannot resolve anything there: with 3 seeds its smallest two-sided p is 0.25.
- over images, stratified by seed: the Cochran-Mantel-Haenszel test with each
  image pair as its own stratum (``statsmodels``' ``StratifiedTable``), which
  is McNemar's test summed over seeds; exact binomial when there are fewer
  than 25 discordant pairs. It treats the seeds' models as fixed, so it answers
  "do these trained models differ on these images", not "does the setting".

The effect sizes are the difference in accuracy (with an interval) and the
odds ratio of the discordant pairs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from scipy import stats
from statsmodels.stats.contingency_tables import StratifiedTable

from kit.intervals import MIN_SEEDS_FOR_T, bootstrap_ci, mean_ci

__all__ = ["McNemar", "mcnemar", "paired_t", "stratified_mcnemar", "PairedComparison", "compare_paired"]

EXACT_BELOW = 25  # discordant pairs under which McNemar uses the exact binomial test


@dataclasses.dataclass(frozen=True)
class McNemar:
    """McNemar's test on paired predictions.

    Attributes:
        only_a: images model A got right and B wrong; only_b: the reverse.
        p: two-sided p value; exact: whether the exact binomial test was used.
        odds_ratio: only_a / only_b (with 0.5 added to both when either is 0).
    """

    only_a: int
    only_b: int
    p: float
    exact: bool
    odds_ratio: float


def mcnemar(a_correct: np.ndarray, b_correct: np.ndarray) -> McNemar:
    """McNemar's test of two classifiers on the same images.

    Exact binomial test (``scipy.stats.binomtest``, p = 0.5) on the
    discordant pairs when there are fewer than 25, else the chi-square test
    with continuity correction, never larger than ``|b - c|`` (so p = 1 when
    the two models are right on as many images each).

    Args:
        a_correct, b_correct: bool ``[N]``, whether each model got image i right.
    """
    a, b = np.asarray(a_correct, dtype=bool), np.asarray(b_correct, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"mcnemar: predictions of different lengths ({a.shape} vs {b.shape})")
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    p, exact = _discordant_p(only_a, only_b)
    return McNemar(only_a, only_b, p, exact, _odds(only_a, only_b))


def _odds(only_a: int, only_b: int) -> float:
    return float(only_a / only_b if only_a and only_b else (only_a + 0.5) / (only_b + 0.5))


def _discordant_p(only_a: int, only_b: int) -> tuple[float, bool]:
    """(two-sided p, exact?) of ``only_a`` vs ``only_b`` discordant pairs (McNemar, capped correction)."""
    discordant = only_a + only_b
    if discordant == 0:
        return 1.0, True
    if discordant < EXACT_BELOW:
        return float(stats.binomtest(only_a, discordant, 0.5).pvalue), True
    chi2 = max(abs(only_a - only_b) - 1, 0) ** 2 / discordant
    return float(stats.chi2.sf(chi2, 1)), False


def paired_t(differences: Sequence[float]) -> float:
    """Two-sided p of a one-sample t-test that the mean paired difference is 0 (``scipy.stats.ttest_1samp``).

    Args:
        differences: per seed, accuracy of A minus accuracy of B ``[S]``, S >= 2.

    Returns:
        the p value; 1.0 when every difference is 0; NaN with fewer than 2, and
        when they are all the same non-zero value (accuracies move in steps of
        1/images, so a few seeds can tie exactly): with no spread there is no
        seed-to-seed error to estimate, and t's "p = 0" would be a claim the
        design cannot make (the image-level test still speaks).
    """
    values = np.asarray(differences, dtype=float)
    if len(values) < 2:
        return float("nan")
    if np.ptp(values) == 0:
        return 1.0 if values[0] == 0 else float("nan")
    return float(stats.ttest_1samp(values, 0.0).pvalue)


def stratified_mcnemar(pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[float, str]:
    """Seed-stratified image-level test of A vs B: Cochran-Mantel-Haenszel over image pairs.

    Each image pair is a stratum (a 2x2 table of model x correct with one
    image per row); concordant pairs carry no information and are left out.
    Under the null every discordant pair is equally likely to favour A or B,
    so with fewer than 25 of them the exact binomial test on the pooled counts
    is used, else the CMH chi-square without continuity correction (p = 1 when
    A and B each win as many pairs).

    Args:
        pairs: per seed, bool ``[N_s]`` correctness of A and of B on the same images.

    Returns:
        (p, name of the test).
    """
    only_a = sum(int(np.sum(np.asarray(a, bool) & ~np.asarray(b, bool))) for a, b in pairs)
    only_b = sum(int(np.sum(~np.asarray(a, bool) & np.asarray(b, bool))) for a, b in pairs)
    if only_a + only_b < EXACT_BELOW:
        return _discordant_p(only_a, only_b)[0], "exact McNemar (binomial) on discordant pairs pooled over seeds"
    a_wins, b_wins = np.array([[1, 0], [0, 1]]), np.array([[0, 1], [1, 0]])  # rows A, B; columns right, wrong
    tables = np.stack([a_wins] * only_a + [b_wins] * only_b, axis=-1)  # [2, 2, discordant]
    result = StratifiedTable(tables).test_null_odds(correction=False)
    return float(result.pvalue), "Cochran-Mantel-Haenszel over image pairs (McNemar summed over seeds)"


@dataclasses.dataclass(frozen=True)
class PairedComparison:
    """A vs B on the same test images over matched seeds.

    Attributes:
        n_seeds: matched seed pairs; n_images: images per pair summed.
        difference: mean accuracy of A minus B; ci: its 95% interval.
        p: the headline p value (``p_seeds`` at >= 3 seeds when it is defined, else ``p_images``).
        p_seeds: paired t-test over seeds (NaN below 3 seeds, or with no spread over seeds).
        p_images: the seed-stratified image-level test (``stratified_mcnemar``).
        per_seed_p: McNemar p per seed.
        odds_ratio: discordant pairs pooled over seeds (A right only / B right only).
        test: what produced ``p_seeds``, ``p_images`` and ``ci``.
    """

    n_seeds: int
    n_images: int
    difference: float
    ci: tuple[float, float]
    p: float
    p_seeds: float
    p_images: float
    per_seed_p: list[float]
    odds_ratio: float
    only_a: int
    only_b: int
    test: str


def compare_paired(pairs: Sequence[tuple[np.ndarray, np.ndarray]], n_boot: int = 1000, seed: int = 0) -> PairedComparison:
    """Compare two models seed by seed on the same images.

    With >= 3 seeds: the difference CI is a t interval over per-seed
    differences and the headline p the paired t-test that matches it. With
    fewer: a paired bootstrap over images for the CI, and the image-level test.
    The seed-stratified image-level test (``stratified_mcnemar``) is reported
    in both cases.

    Args:
        pairs: per seed, bool ``[N_s]`` correctness of A and of B on the same images.
    """
    if not pairs:
        raise ValueError("compare_paired: no matched seeds")
    tests = [mcnemar(a, b) for a, b in pairs]
    differences = np.array([np.mean(a) - np.mean(b) for a, b in pairs])
    only_a, only_b = sum(t.only_a for t in tests), sum(t.only_b for t in tests)
    n_images = int(sum(len(a) for a, _ in pairs))
    p_images, image_test = stratified_mcnemar(pairs)
    if len(pairs) >= MIN_SEEDS_FOR_T:
        ci = mean_ci(differences)
        p_seeds = paired_t(differences)
        headline = p_seeds if np.isfinite(p_seeds) else p_images  # no spread over seeds: the image test speaks
        return PairedComparison(len(pairs), n_images, float(differences.mean()), (ci["ci_low"], ci["ci_high"]),
                                headline, p_seeds, p_images, [t.p for t in tests], _odds(only_a, only_b), only_a,
                                only_b, f"paired t over {len(pairs)} seeds (t CI); {image_test}, n={n_images} images")
    a_all = np.concatenate([np.asarray(a, dtype=float) for a, _ in pairs])
    b_all = np.concatenate([np.asarray(b, dtype=float) for _, b in pairs])
    gap = a_all - b_all  # [N] per-image paired difference: -1, 0 or 1
    low, high = bootstrap_ci(lambda rows: np.array([gap[rows].mean()]), len(gap), n_boot=n_boot, seed=seed)
    return PairedComparison(len(pairs), n_images, float(gap.mean()), (float(low[0]), float(high[0])), p_images,
                            float("nan"), p_images, [t.p for t in tests], _odds(only_a, only_b), only_a, only_b,
                            f"{image_test}, n={n_images} images; paired bootstrap CI over images "
                            f"(fewer than {MIN_SEEDS_FOR_T} seeds: no test over seeds)")
