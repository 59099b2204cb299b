"""Known answers for the verdict: simulated observers (a counter, an ink reader, a coin) on real DeWind scenes.

The observers see the scenes the kit draws for the quick and confirm presets
(64 px, radius 2.25). Their answers are known: a counter's log prediction is
log N (bSize/bN = 0), an ink reader's is log TSA = (log N + log Size) / 2
(bSize/bN = 1), a coin's does not depend on the scene at all.
"""

import functools

import numpy as np
import pandas as pd
import pytest

from analysis.confounds import IMAGES_WITHIN_SEEDS, SEEDS_AND_IMAGES, fit_images, size_to_n_ratio
from kit.intervals import accuracy_estimate
from analysis.verdict import Evidence, accuracy_gap, decide, radius_coverage, verdict_display
from study.config.spec import TRAIN_DEFAULTS, TrainSpec
from study.config.scenes import dewind_scene_recipe, scene_recipe
from synth.numerosity import describe_scene
from synth.render import render_scenes
from synth.sampling import sample_scenes


def _spec(counts: str, sizes: str) -> dict:
    return {**TRAIN_DEFAULTS, "counts": counts, "size": 64, "radius": 2.25, "sizes": sizes, "n_test_dewind": 100}


@functools.cache
def _scenes(counts: str, sizes: str, controlled: bool, n: int = 240, seed: int = 0) -> list:
    spec = TrainSpec.from_dict(_spec(counts, sizes))
    return sample_scenes(dewind_scene_recipe(spec) if controlled else scene_recipe(spec), n, seed=seed)


def _tsa(scenes) -> np.ndarray:
    return np.array([describe_scene(scene)["tsa"] for scene in scenes])


def _counts(scenes) -> np.ndarray:
    return np.array([scene.count for scene in scenes], dtype=float)


def _ink_reader(scenes, calibration) -> np.ndarray:
    """Total disc area, scaled so that the training scenes' mean ink reads as their mean count."""
    train = _tsa(calibration)
    return _tsa(scenes) * _counts(calibration).mean() / train.mean()


def _coin(scenes, lo, hi, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(lo, hi, len(scenes))


def _ratio(scenes, expected, cell="a"):
    return size_to_n_ratio(fit_images(scenes, expected).assign(cell_id=cell), n_boot=200)


@pytest.mark.parametrize("counts", ["1-5", "11-20", "45-50"])
def test_ink_reader_scores_one_and_counter_zero_in_every_preset_range(counts):
    scenes = _scenes(counts, "fixed", True)
    ink = _ratio(scenes, _tsa(scenes))
    assert ink.resolved and abs(ink.ratio - 1) < 0.1 and ink.b_n == pytest.approx(0.5, abs=0.01)
    counter = _ratio(scenes, _counts(scenes))
    assert counter.resolved and abs(counter.ratio) < 0.1 and counter.b_n == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("counts", ["1-5", "45-50"])
def test_ink_read_off_the_rendered_pixels_also_scores_near_one(counts):
    scenes = _scenes(counts, "fixed", True)
    grey = render_scenes(scenes).float().mean(1)  # [N, H, W]
    ink = (255 - grey).sum((1, 2)).numpy()  # anti-aliased ink: partial pixels count in part
    assert abs(_ratio(scenes, ink).ratio - 1) < 0.1


def test_a_coin_has_no_number_signal_and_no_ratio_is_printed():
    scenes = _scenes("1-5", "fixed", True)
    coin = _ratio(scenes, _coin(scenes, 1, 5))
    assert not coin.resolved and np.isnan(coin.ratio)
    assert coin.b_n_low <= 0 <= coin.b_n_high
    assert coin.text().startswith("no number signal: b_N")


def test_seeds_are_pooled_and_resampled_when_there_are_three():
    scenes = _scenes("1-5", "fixed", True)
    rng = np.random.default_rng(1)
    frames = [fit_images(scenes, _tsa(scenes) * np.exp(rng.normal(0, 0.05, len(scenes)))).assign(cell_id=f"s{k}")
              for k in range(3)]
    three = size_to_n_ratio(pd.concat(frames), n_boot=200)
    assert three.method == SEEDS_AND_IMAGES and three.n_seeds == 3 and three.n_images == 3 * len(scenes)
    assert three.low < 1 < three.high and abs(three.ratio - 1) < 0.1
    assert size_to_n_ratio(frames[0], n_boot=50).method == IMAGES_WITHIN_SEEDS


def test_coverage_fixed_cells_never_saw_the_controlled_radii():
    fixed, dewind = radius_coverage(_spec("1-5", "fixed")), radius_coverage(_spec("45-50", "dewind"))
    assert fixed.training == (2.25, 2.25) and fixed.controlled == (1.125, 3.375) and not fixed.covered
    assert dewind.training == dewind.controlled == (1.125, 3.375) and dewind.covered
    assert radius_coverage({**TRAIN_DEFAULTS, "task": "folder"}) is None


def _observer_evidence(counts: str, sizes: str, observer: str) -> Evidence:
    """What the rule would see of a simulated observer trained on ``sizes`` scenes of ``counts``."""
    lo, hi = map(int, counts.split("-"))
    train, controlled = _scenes(counts, sizes, False), _scenes(counts, sizes, True)

    def answers(scenes):
        if observer == "counter":
            return _counts(scenes)
        if observer == "ink":
            return _ink_reader(scenes, train)
        return _coin(scenes, lo, hi, seed=len(scenes))

    def accuracy(scenes):
        predicted = np.clip(np.round(answers(scenes)), lo, hi)
        return accuracy_estimate([int(np.sum(predicted == _counts(scenes)))], [len(scenes)]).to_dict()

    coverage = radius_coverage(_spec(counts, sizes))
    return Evidence(accuracy(train), accuracy(controlled), 1 / (hi - lo + 1), _ratio(controlled, answers(controlled)),
                    coverage.covered)


@pytest.mark.parametrize("sizes", ["fixed", "dewind"])
@pytest.mark.parametrize("counts", ["1-5", "45-50"])
def test_an_exact_counter_counts(counts, sizes):
    assert decide(_observer_evidence(counts, sizes, "counter")).word == "counts"


@pytest.mark.parametrize("sizes", ["fixed", "dewind"])
@pytest.mark.parametrize("counts", ["1-5", "45-50"])
def test_a_coin_is_at_chance(counts, sizes):
    assert decide(_observer_evidence(counts, sizes, "coin")).word == "neither: chance"


def test_an_ink_reader_trained_on_dewind_scenes_reads_ink():
    assert decide(_observer_evidence("1-5", "dewind", "ink")).word == "reads ink"


@pytest.mark.parametrize("counts", ["1-5", "45-50"])
def test_on_fixed_cells_the_rule_never_says_ink(counts):
    evidence = _observer_evidence(counts, "fixed", "ink")
    assert evidence.iid["mean"] == 1.0  # one radius: ink solves training exactly
    verdict = decide(evidence)
    assert verdict.word == "ink or size generalisation: unresolved"
    assert verdict.word != "reads ink"


def _estimate(mean, low, high):
    return {"mean": mean, "low": low, "high": high, "method": "Wilson over images", "n_seeds": 1, "n_images": 500}


def _ratio_of(ratio, low, high, resolved=True):
    from analysis.confounds import SizeRatio
    return SizeRatio(0.6, 0.5, 0.7, 0.6 * ratio, 0.0, 1.0, ratio if resolved else np.nan, low, high, resolved,
                     IMAGES_WITHIN_SEEDS, 1, 200)


@pytest.mark.parametrize(("ratio", "covered", "word"), [
    ((0.4, 0.3, 0.6), True, "partial: weighs Size beside N"),
    ((0.4, 0.3, 0.6), False, "partial: weighs Size beside N; size generalisation unresolved"),
    ((0.05, -0.1, 0.2), True, "counts, approximately"),  # controlled accuracy 0.3 < 0.5
    ((np.nan, np.nan, np.nan, False), False, "undetermined: no number signal; size generalisation unresolved"),
])
def test_rule_in_between_cases(ratio, covered, word):
    evidence = Evidence(_estimate(0.9, 0.87, 0.92), _estimate(0.3, 0.26, 0.34), 0.2, _ratio_of(*ratio), covered)
    assert decide(evidence).word == word


def test_gap_is_paired_over_seeds_with_t_at_three():
    # per-seed gaps 0.10, 0.20, 0.30: mean 0.2, sd 0.1, t(0.975, 2) = 4.303 -> half width 0.2484
    gap = accuracy_gap([((90, 100), (80, 100)), ((90, 100), (70, 100)), ((90, 100), (60, 100))])
    assert gap["method"] == "t over seeds" and gap["n_seeds"] == 3 and gap["n_images"] == 600
    assert gap["mean"] == pytest.approx(0.2) and gap["low"] == pytest.approx(0.2 - 0.2484, abs=1e-4)
    # one seed: Newcombe's hybrid score interval (Newcombe 1998, Stat. Med. 17:873, example: 56/70 vs 48/80
    # -> difference 0.2, interval 0.0524 to 0.3339)
    one = accuracy_gap([((56, 70), (48, 80))])
    assert one["method"] == "Newcombe over images" and one["mean"] == pytest.approx(0.2)
    assert (one["low"], one["high"]) == pytest.approx((0.0524, 0.3339), abs=1e-4)


def test_display_prints_the_bound_not_a_ratio_without_number_signal():
    row = {"configuration": "45-50 · fixed", "counts": "45-50", "sizes": "fixed", "aug": "fastai",
           "verdict": "neither: chance", "chance": 1 / 6,
           "iid": _estimate(0.18, 0.15, 0.21), "controlled": _estimate(0.17, 0.14, 0.2), "gap": None,
           "gap_reads": "size generalisation", "ratio": _ratio_of(np.nan, np.nan, np.nan, False).to_dict(),
           "held_out": None, "n_seeds": 1}
    shown = verdict_display([row]).iloc[0]
    assert shown["bSize/bN (0 counter, 1 ink)"].startswith("no number signal (bN 0.60 [0.50, 0.70])")
    assert shown["Verdict"] == "neither: chance"
