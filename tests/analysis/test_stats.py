import numpy as np
import pytest

from analysis.stats import (T_OVER_SEEDS, WILSON_OVER_IMAGES, accuracy_estimate, compare_paired, mcnemar, mean_ci,
                            sign_test, wilson_ci)


def test_t_interval_of_three_seeds_by_hand():
    # mean 0.9, sd 0.1, se 0.1/sqrt(3), t(0.975, 2) = 4.3027 -> half width 0.2484
    ci = mean_ci([0.8, 0.9, 1.0])
    assert ci["mean"] == pytest.approx(0.9)
    assert ci["ci_low"] == pytest.approx(0.6516, abs=1e-4) and ci["ci_high"] == pytest.approx(1.1484, abs=1e-4)


def test_wilson_against_newcombe_1998():
    # Newcombe (1998), Stat. Med. 17:857, method 3: 81/263 -> 0.2553 to 0.3662; 0/10 -> 0 to 0.2775
    assert wilson_ci(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert wilson_ci(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)


def test_accuracy_estimate_uses_t_from_three_seeds_and_wilson_below():
    three = accuracy_estimate([80, 90, 100], [100, 100, 100])
    assert three.method == T_OVER_SEEDS and three.n_seeds == 3 and three.n_images == 300
    assert three.mean == pytest.approx(0.9) and three.low == pytest.approx(0.6516, abs=1e-4)
    assert three.high == 1.0  # clipped: an accuracy cannot exceed 1
    one = accuracy_estimate([81], [263])
    assert one.method == WILSON_OVER_IMAGES and (one.low, one.high) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert accuracy_estimate([], []) is None


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


def test_sign_test_and_paired_comparison():
    assert sign_test([0.1, 0.2, 0.05, 0.3, 0.1]) == pytest.approx(2 / 32)
    assert sign_test([0, 0]) == 1.0
    seeds = [_pairs(10, 2), _pairs(8, 1), _pairs(9, 3)]
    result = compare_paired(seeds)
    assert result.n_seeds == 3 and "sign test" in result.test
    assert result.p == pytest.approx(0.25)  # 3 of 3 positive: 2 * 1/8
    assert result.only_a == 27 and result.only_b == 6 and result.odds_ratio == pytest.approx(4.5)
    assert result.ci[0] < result.difference < result.ci[1]
    one = compare_paired(seeds[:1])
    assert one.p == pytest.approx(158 / 4096) and "McNemar" in one.test
    assert one.difference == pytest.approx(8 / 20)
