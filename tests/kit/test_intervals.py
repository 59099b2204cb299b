"""kit.intervals: the one accuracy interval (t over seeds from 3, else Wilson over pooled images)."""

import numpy as np
import pytest

from kit.intervals import (BOOTSTRAP_OVER_IMAGES, T_OVER_SEEDS, WILSON_OVER_IMAGES, accuracy_estimate,
                           error_estimate, mean_ci, wilson_ci)


def test_t_interval_over_three_seeds():
    three = accuracy_estimate([50, 60, 70], [100, 100, 100])
    # mean 0.6; sd 0.1, sem 0.1/sqrt(3), t(0.975, 2) = 4.303: half-width 0.2484
    assert three.method == T_OVER_SEEDS and (three.n_seeds, three.n_images) == (3, 300)
    assert three.mean == pytest.approx(0.6)
    assert (three.low, three.high) == (pytest.approx(0.3516, abs=1e-4), pytest.approx(0.8484, abs=1e-4))


def test_wilson_over_pooled_images_below_three_seeds():
    two = accuracy_estimate([25, 25], [50, 50])
    # 50 of 100: 0.5 +- 1.96*sqrt(0.25/100 + 1.96^2/4/100^2) / (1 + 1.96^2/100) = [0.404, 0.596]
    assert two.method == WILSON_OVER_IMAGES and two.mean == 0.5
    assert (two.low, two.high) == (pytest.approx(0.4038, abs=1e-4), pytest.approx(0.5962, abs=1e-4))
    uneven = accuracy_estimate([9, 50], [10, 100])
    assert uneven.mean == pytest.approx(59 / 110)  # pooled images, not the mean of 0.9 and 0.5


def test_t_interval_is_clipped_to_0_1_and_empty_seeds_are_left_out():
    clipped = accuracy_estimate([8, 10, 10, 0], [10, 10, 10, 0])
    assert clipped.n_seeds == 3 and clipped.high == 1.0
    assert accuracy_estimate([], []) is None and accuracy_estimate([0], [0]) is None


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


def test_error_estimate_t_over_seeds_or_bootstrap_over_images():
    over_seeds = error_estimate([np.full(4, 0.1), np.full(4, 0.2), np.full(4, 0.3)])
    assert over_seeds.method == T_OVER_SEEDS and over_seeds.mean == pytest.approx(0.2)
    assert over_seeds.high - over_seeds.mean == pytest.approx(0.2484, abs=1e-4)
    pooled = error_estimate([np.array([1.0, 1.0, 1.0])], n_boot=50)
    assert pooled.method == BOOTSTRAP_OVER_IMAGES and (pooled.low, pooled.high) == (1.0, 1.0)
