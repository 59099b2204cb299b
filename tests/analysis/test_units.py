import numpy as np
import pytest
import torch

from analysis.units import (layer_activations, random_network, stimulus_sets, two_way_anova, unit_experiment,
                            unit_selectivity)
from study.models import create_model
from synth.scenes import SceneSpec

NUMBERS = np.array([1, 2, 4, 8, 16, 32])
SETS = ["fixed", "varied", "dewind"]


def _design(repeats: int) -> tuple[np.ndarray, np.ndarray]:
    """Balanced labels: every (number, set) cell ``repeats`` times."""
    numbers = np.repeat(NUMBERS, len(SETS) * repeats)
    sets = np.tile(np.repeat(SETS, repeats), len(NUMBERS))
    return numbers, sets


def _sums_of_squares_by_regression(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, float]:
    """SS of A, B, AxB and error from nested least-squares fits (a different route to the same numbers)."""
    def rss(columns: list[np.ndarray]) -> float:
        design = np.column_stack([np.ones(len(y)), *columns])
        residual = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
        return float(residual @ residual)

    dummies_a = [(a == level).astype(float) for level in np.unique(a)[1:]]
    dummies_b = [(b == level).astype(float) for level in np.unique(b)[1:]]
    both = [da * db for da in dummies_a for db in dummies_b]
    base, with_a = rss([]), rss(dummies_a)
    with_ab = rss(dummies_a + dummies_b)
    full = rss(dummies_a + dummies_b + both)
    return base - with_a, with_a - with_ab, with_ab - full, full  # balanced: sequential SS = every type


def test_anova_matches_nested_regressions():
    rng = np.random.default_rng(0)
    a = np.repeat([1, 2, 3], 8)
    b = np.tile(np.repeat(["x", "y"], 4), 3)
    y = rng.normal(size=(24, 2)) + (a == 3)[:, None] * [1.0, 0.0] + (b == "y")[:, None] * [0.0, 2.0]
    anova = two_way_anova(y, a, b)
    assert anova["df"].tolist() == [2, 1, 2, 18]
    for unit in range(2):
        ss_a, ss_b, ss_ab, ss_e = _sums_of_squares_by_regression(y[:, unit], a, b)
        ms_e = ss_e / 18
        assert anova["F_a"][unit] == pytest.approx(ss_a / 2 / ms_e)
        assert anova["F_b"][unit] == pytest.approx(ss_b / 1 / ms_e)
        assert anova["F_ab"][unit] == pytest.approx(ss_ab / 2 / ms_e)
    assert anova["p_a"][0] < 0.01 and anova["p_b"][1] < 0.01


def test_anova_refuses_unbalanced_designs_and_one_set():
    with pytest.raises(ValueError, match="balanced"):
        two_way_anova(np.zeros((5, 1)), np.array([1, 1, 2, 2, 2]), np.array(["x", "y", "x", "y", "y"]))
    with pytest.raises(ValueError, match="1 sets"):
        two_way_anova(np.zeros((4, 1)), np.array([1, 1, 2, 2]), np.array(["x"] * 4))


def test_planted_units_are_found():
    rng = np.random.default_rng(0)
    numbers, sets = _design(repeats=20)
    preferred = rng.choice(NUMBERS, 60)
    # 60 units tuned to log N (Gaussian, sigma 0.4), 60 driven by the stimulus set only, 3000 pure noise, 1 dead.
    tuned = np.exp(-(np.log(numbers)[:, None] - np.log(preferred)[None]) ** 2 / (2 * 0.4**2))
    tuned += rng.normal(0, 0.3, tuned.shape)
    by_set = (sets[:, None] == np.array(SETS)[None]).astype(float) @ rng.normal(0, 1, (3, 60))
    by_set += rng.normal(0, 0.3, by_set.shape)
    noise = rng.normal(0, 1, (len(numbers), 3000))
    dead = np.zeros((len(numbers), 1))
    result = unit_selectivity(np.concatenate([tuned, by_set, noise, dead], axis=1), numbers, sets)
    assert result.n_units == 3121 and result.per_cell == 20 and result.numbers.tolist() == NUMBERS.tolist()
    assert result.selective[:60].mean() > 0.95
    assert np.array_equal(result.preferred[:60][result.selective[:60]], preferred[result.selective[:60]])
    assert not result.selective[60:120].any()
    false_positives = result.selective[120:3120].mean()  # expected ~ 0.01 x 0.99 x 0.99
    assert 0.004 < false_positives < 0.02
    assert result.inactive[-1] and not result.selective[-1] and result.inactive.sum() == 1
    histogram = result.preferred_histogram()
    assert histogram.sum() == result.selective.sum()
    curves = result.mean_tuning()
    for number, (curve, n_units) in curves.items():
        assert curve[list(NUMBERS).index(number)] == 1.0 and n_units > 0 and curve.min() >= 0


@pytest.fixture(scope="module")
def specs() -> dict[str, SceneSpec]:
    base = dict(counts=(1, 3), width=32, height=32, radius=2.0, min_gap=1.0)
    return {"fixed": SceneSpec(**base), "varied": SceneSpec(**base, radius_range=(1.0, 3.0)),
            "dewind": SceneSpec(**base, radius_range=(1.0, 3.0), control="dewind")}


def test_stimulus_sets_are_balanced(specs):
    images, numbers, sets = stimulus_sets(specs, [1, 3], per_cell=3, seed=0)
    assert images.shape == (18, 3, 32, 32) and images.dtype == torch.uint8
    for number in (1, 3):
        for name in specs:
            assert np.sum((numbers == number) & (sets == name)) == 3
    with pytest.raises(ValueError, match="per_cell"):
        stimulus_sets(specs, [1, 3], per_cell=1, seed=0)


def test_unit_experiment_on_a_tiny_resnet(specs):
    model = create_model("resnet18", 3, weights="none", head="linear", seed=1).eval()
    result = unit_experiment(model, "resnet18", "layer4", lambda images: images.float() / 255, specs,
                             numbers=[1, 2, 3], per_cell=3, seed=0)
    assert set(result) == {"trained", "random"}
    for selectivity in result.values():
        assert selectivity.n_units == 512 and selectivity.numbers.tolist() == [1, 2, 3]
        assert selectivity.sets == sorted(specs) and 0.0 <= selectivity.fraction_selective <= 1.0
    with pytest.raises(ValueError, match="layer: unknown 'layer9'; valid: conv1"):
        layer_activations(model, "layer9", torch.zeros(1, 3, 32, 32))


def test_random_network_is_seeded():
    inputs = torch.rand(2, 3, 32, 32)
    first = layer_activations(random_network("resnet18", 5, 32), "layer2", inputs)
    again = layer_activations(random_network("resnet18", 5, 32), "layer2", inputs)
    assert first.shape == (2, 128) and np.array_equal(first, again)
