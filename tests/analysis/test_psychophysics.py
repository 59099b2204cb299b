import math

import numpy as np
import pytest
from helpers import counter_predictor

from scipy import optimize, special

from analysis.psychophysics import (W_CEILING, W_FLOOR, choose, discrimination_axis_angle, fit_discrimination,
                                    human_band_applies, make_pairs, pair_features, resolution_bound, scene_log_axes,
                                    weber_experiment)
from synth.numerosity import sample_dewind_scenes
from synth.scenes import SceneRecipe

DEWIND = SceneRecipe(counts=(2, 6), width=48, height=48, radius=3, radius_range=(1.5, 3.0), min_gap=1, control="dewind")


@pytest.fixture(scope="module")
def stimuli():
    """300 DeWind scenes' (log N, log Size, log Spacing) and 4000 pairs with different N."""
    axes = scene_log_axes(sample_dewind_scenes(DEWIND, 300, seed=0))
    pairs = make_pairs(np.rint(np.exp(axes[:, 0])), 4000, np.random.default_rng(1))
    return axes, pairs


def test_choose_and_pairs_by_hand():
    estimates = np.array([1.0, 2.0, 2.0])
    assert choose(estimates, np.array([[0, 1], [1, 2], [2, 0]])).tolist() == [0.0, 0.5, 1.0]
    counts = np.array([1, 1, 2, 3])
    pairs = make_pairs(counts, 500, np.random.default_rng(0))
    assert pairs.shape == (500, 2) and np.all(counts[pairs[:, 0]] != counts[pairs[:, 1]])
    with pytest.raises(ValueError, match="two different counts"):
        make_pairs(np.array([4, 4]), 3, np.random.default_rng(0))


def test_angle_by_hand():
    assert discrimination_axis_angle(0.0, 0.0) == 0.0
    assert discrimination_axis_angle(1.0, 0.0) == pytest.approx(45.0)
    assert discrimination_axis_angle(1.0, 1.0) == pytest.approx(math.degrees(math.acos(1 / math.sqrt(3))))


def test_perfect_counter_stops_at_the_floor_on_the_number_axis_and_reads_below_resolution(stimuli):
    axes, pairs = stimuli
    fit = fit_discrimination(pair_features(axes, pairs), choose(np.exp(axes[:, 0]), pairs), n_boot=20)
    assert fit.w == pytest.approx(W_FLOOR) and fit.at_floor and not fit.at_ceiling
    assert fit.theta == 0.0 and fit.b_size == 0.0 and fit.accuracy == 1.0 and fit.tie_fraction == 0.0
    assert fit.below_resolution and fit.w_text() == f"below resolution (w < {fit.w_resolution:.2g})"
    assert fit.w_resolution > 10 * W_FLOOR and fit.row()["below_resolution"]


def _counter(lo, hi, w, seed, n_images=200, n_pairs=1500):
    """A deterministic counter like a network: log N plus a fixed error of SD w per image, on random Size/Spacing."""
    rng = np.random.default_rng(seed)
    counts = lo + np.arange(n_images) % (hi - lo + 1)
    axes = np.column_stack([np.log(counts), rng.normal(0, 0.5, n_images), rng.normal(0, 0.5, n_images)])
    pairs = make_pairs(counts, n_pairs, rng)
    estimates = np.log(counts) + w * rng.standard_normal(n_images)
    return fit_discrimination(pair_features(axes, pairs), choose(estimates, pairs), n_boot=30, seed=seed,
                              stimulus_pairs=pairs)


@pytest.mark.parametrize("seed", range(5))
def test_a_counter_with_w_005_on_1_to_5_is_never_given_a_finite_w_below_resolution(seed):
    # 1-5 with 1500 pairs of 200 images: the nearest ratio is 5:4, and w = 0.05 makes an error there
    # rarely enough that most runs have none: such a run must print the bound, not w <= 0.001.
    fit = _counter(1, 5, 0.05, seed)
    assert 0.05 < fit.w_resolution < 0.12
    assert fit.below_resolution or fit.w >= fit.w_resolution
    text = fit.w_text()
    assert text.startswith("below resolution (w < ") or float(text.split()[0]) >= fit.w_resolution


def test_a_w_015_observer_on_45_to_50_is_resolved_and_recovered():
    # The model's observer (fresh noise on each array of each pair) on small ratios: 46:45 ... 50:45.
    rng = np.random.default_rng(0)
    counts = 45 + np.arange(400) % 6
    axes = np.column_stack([np.log(counts), rng.normal(0, 0.5, 400), rng.normal(0, 0.5, 400)])
    pairs = make_pairs(counts, 4000, rng)
    first = axes[pairs[:, 0], 0] + rng.normal(0, 0.15, len(pairs))
    second = axes[pairs[:, 1], 0] + rng.normal(0, 0.15, len(pairs))
    fit = fit_discrimination(pair_features(axes, pairs), (first > second).astype(float), n_boot=50, seed=0)
    assert not fit.below_resolution and fit.w_resolution < 0.02
    assert fit.w_ci[0] <= 0.15 <= fit.w_ci[1] and fit.w_text().startswith(f"{fit.w:.3f} [")


def test_resolution_bound_of_independent_pairs_solves_the_product_formula():
    # prod_i (1 - Phi(-|d_i| / (sqrt(2) w))) = 0.05, solved by root finding, against the simulated bound.
    d = np.log(np.array([5 / 4] * 150 + [4 / 3] * 150 + [3 / 2] * 150 + [2.0] * 300))

    def log_no_error(w):
        return special.log_ndtr(d / (math.sqrt(2) * w)).sum() - math.log(0.05)

    exact = optimize.brentq(log_no_error, 1e-3, 10)
    assert resolution_bound(d, draws=4000) == pytest.approx(exact, rel=0.05)
    # more pairs resolve a smaller w; shared images (a deterministic observer) resolve a larger one
    assert resolution_bound(np.tile(d, 10)) < resolution_bound(d)
    shared = np.random.default_rng(0).integers(0, 40, (len(d), 2))
    assert resolution_bound(d, shared) > resolution_bound(d)


def test_human_band_applies_beyond_the_subitizing_range_only():
    assert not human_band_applies((1, 5)) and not human_band_applies((1, 4)) and not human_band_applies((2, 6))
    assert human_band_applies((1, 10)) and human_band_applies((45, 50)) and human_band_applies((11, 20))


@pytest.mark.parametrize("w, b_size", [(0.15, 0.0), (0.3, 0.4)])
def test_simulated_observer_is_recovered_within_its_interval(stimuli, w, b_size):
    axes, pairs = stimuli
    rng = np.random.default_rng(7)
    magnitude = axes @ np.array([1.0, b_size, 0.0])
    # The model's observer: independent Gaussian noise of SD w on each array of each pair.
    first = magnitude[pairs[:, 0]] + rng.normal(0, w, len(pairs))
    second = magnitude[pairs[:, 1]] + rng.normal(0, w, len(pairs))
    fit = fit_discrimination(pair_features(axes, pairs), (first > second).astype(float), n_boot=100, seed=0)
    assert fit.w_ci[0] <= w <= fit.w_ci[1] and fit.w_ci[1] - fit.w_ci[0] < 0.2 * w
    assert fit.b_size_ci[0] <= b_size <= fit.b_size_ci[1]
    assert fit.b_spacing_ci[0] <= 0.0 <= fit.b_spacing_ci[1]
    assert not fit.at_floor and not fit.at_ceiling


def test_ink_area_observer_weighs_size_like_number(stimuli):
    axes, pairs = stimuli
    log_tsa = (axes[:, 0] + axes[:, 1]) / 2  # TSA = sqrt(N x Size)
    fit = fit_discrimination(pair_features(axes, pairs), choose(log_tsa, pairs), n_boot=20)
    assert fit.b_size == pytest.approx(1.0, abs=0.05) and abs(fit.b_spacing) < 0.05
    assert fit.theta == pytest.approx(45.0, abs=2.0) and fit.accuracy < 0.9


def test_an_observer_that_always_ties_has_no_number_sense(stimuli):
    axes, pairs = stimuli
    fit = fit_discrimination(pair_features(axes, pairs), choose(np.ones(len(axes)), pairs), n_boot=0)
    assert fit.tie_fraction == 1.0 and fit.at_ceiling and fit.w == pytest.approx(W_CEILING)
    assert fit.accuracy == 0.5 and math.isnan(fit.b_size) and math.isnan(fit.theta)


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\[P, 3\]"):
        fit_discrimination(np.zeros((4, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="differ in N"):
        fit_discrimination(np.zeros((2, 3)), np.zeros(2))


def test_weber_experiment_of_a_component_counter():
    fit, info = weber_experiment(counter_predictor(2, 6), DEWIND, n_images=60, n_pairs=400, seed=0, n_boot=10)
    assert info["n_images"] == 60 and info["counts"] == (2, 6) and fit.n_pairs == 400
    # it counts exactly (the expected count of one-hot logits x 20 is the count to 1e-6)
    assert np.allclose(info["estimates"], np.exp(info["log_axes"][:, 0]), atol=1e-6)
    assert fit.at_floor and fit.accuracy == 1.0


def test_weber_experiment_refuses_one_count_and_uncontrolled_scenes():
    with pytest.raises(ValueError, match="one count"):
        weber_experiment(counter_predictor(3, 3), SceneRecipe(counts=(3, 3), width=32, height=32, radius=2,
                                                            radius_range=(1, 3), control="dewind"), 10, 10, 0)
    with pytest.raises(ValueError, match="control must be 'dewind'"):
        weber_experiment(counter_predictor(2, 6), SceneRecipe(counts=(2, 6), width=32, height=32, radius=2), 10, 10, 0)


def test_resampling_stimuli_widens_the_interval_when_pairs_share_images(stimuli):
    axes, pairs = stimuli  # 300 images in 4000 pairs: each image in ~27 pairs
    # A fixed error per image (SD 0.2), as a deterministic network has: pairs sharing an image share it.
    estimates = axes[:, 0] + np.random.default_rng(3).normal(0, 0.2, len(axes))
    features, choices = pair_features(axes, pairs), choose(estimates, pairs)
    by_pairs = fit_discrimination(features, choices, n_boot=100, seed=0)
    by_images = fit_discrimination(features, choices, n_boot=100, seed=0, stimulus_pairs=pairs)
    assert by_images.w == by_pairs.w  # same point estimate, different intervals
    assert by_images.w_ci[1] - by_images.w_ci[0] > 1.5 * (by_pairs.w_ci[1] - by_pairs.w_ci[0])
    assert by_images.w_ci[0] <= 0.2 <= by_images.w_ci[1]
