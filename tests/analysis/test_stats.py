import numpy as np
import pytest

from analysis.stats import compare_paired, mcnemar, paired_t, stratified_mcnemar


def _pairs(only_a, only_b, both=5, neither=3):
    a = np.array([True] * only_a + [False] * only_b + [True] * both + [False] * neither)
    b = np.array([False] * only_a + [True] * only_b + [True] * both + [False] * neither)
    return a, b


def test_mcnemar_exact_and_chi_square_tables():
    # 10 vs 2 discordant: exact two-sided p = 2 * (1 + 12 + 66) / 2**12 = 0.03857
    small = mcnemar(*_pairs(10, 2))
    assert (small.only_a, small.only_b, small.exact) == (10, 2, True)
    assert small.p == pytest.approx(158 / 4096) and small.odds_ratio == pytest.approx(5.0)
    # 30 vs 10: chi2 = (|30 - 10| - 1)^2 / 40 = 9.025 -> p = 0.002663
    large = mcnemar(*_pairs(30, 10))
    assert not large.exact and large.p == pytest.approx(0.002663, abs=1e-5)
    assert mcnemar(*_pairs(0, 0)).p == 1.0


def test_mcnemar_correction_never_exceeds_the_difference():
    # 13 vs 13 discordant (chi-square branch): the old correction gave (0 - 1)^2 / 26 -> p = 0.84
    assert mcnemar(*_pairs(13, 13)).p == 1.0
    assert mcnemar(*_pairs(30, 30)).p == 1.0
    # |b - c| = 1: the correction takes it to 0, not below
    assert mcnemar(*_pairs(13, 12)).p == 1.0


def test_paired_t_resolves_three_tight_positive_seeds():
    # differences 0.10, 0.11, 0.12: mean 0.11, sd 0.01, t = 0.11 / (0.01 / sqrt 3) = 19.05, df 2 -> p = 0.00274
    assert paired_t([0.10, 0.11, 0.12]) == pytest.approx(0.002744, abs=1e-5)
    assert paired_t([0.10, 0.11, 0.12]) < 0.05  # a sign test could not go below 0.25 here
    assert paired_t([0.0, 0.0, 0.0]) == 1.0
    assert paired_t([0.1, -0.1, 0.0]) == pytest.approx(1.0)
    assert np.isnan(paired_t([0.1]))
    # three seeds tied at exactly +0.004 (4 images in 1,000 each): no spread, so no seed-level p, not p = 0
    assert np.isnan(paired_t([0.004, 0.004, 0.004]))


def test_stratified_test_is_mcnemar_summed_over_seeds():
    # 30 vs 10 discordant over two seeds: CMH without correction = (30 - 10)^2 / 40 = 10 -> p = 0.001565
    p, name = stratified_mcnemar([_pairs(20, 4), _pairs(10, 6)])
    assert p == pytest.approx(0.0015654, abs=1e-6) and "Mantel-Haenszel" in name
    # b = c: p = 1, in both branches
    assert stratified_mcnemar([_pairs(15, 10), _pairs(5, 10)])[0] == pytest.approx(1.0)
    assert stratified_mcnemar([_pairs(3, 2), _pairs(1, 2)])[0] == pytest.approx(1.0)
    # few discordant pairs: exact binomial on the pooled counts (10 vs 2 -> 158 / 4096)
    assert stratified_mcnemar([_pairs(6, 1), _pairs(4, 1)])[0] == pytest.approx(158 / 4096)


def test_seeds_tied_exactly_give_no_seed_p_and_the_image_test_speaks():
    seeds = [_pairs(6, 2), _pairs(6, 2), _pairs(6, 2)]  # +0.2 in every seed: no spread to estimate an error from
    result = compare_paired(seeds)
    assert np.isnan(result.p_seeds) and result.p == result.p_images < 0.05


def test_paired_comparison_reports_both_tests_with_their_n():
    seeds = [_pairs(10, 2), _pairs(8, 1), _pairs(9, 3)]
    result = compare_paired(seeds)
    assert result.n_seeds == 3 and result.n_images == 20 + 17 + 20
    differences = [8 / 20, 7 / 17, 6 / 20]
    assert result.p == result.p_seeds == pytest.approx(paired_t(differences))
    assert result.p_seeds < 0.05  # three tight positive seeds resolve
    assert result.p_images == pytest.approx(0.00025655, abs=1e-8)  # (27 - 6)^2 / 33 = 13.36, chi2 df 1
    assert "paired t over 3 seeds" in result.test and "n=57 images" in result.test
    assert result.only_a == 27 and result.only_b == 6 and result.odds_ratio == pytest.approx(4.5)
    assert result.ci[0] < result.difference < result.ci[1]
    one = compare_paired(seeds[:1])
    assert one.p == one.p_images == pytest.approx(158 / 4096) and np.isnan(one.p_seeds)
    assert one.difference == pytest.approx(8 / 20)
