import numpy as np
import pytest
import torch

from analysis.units import (layer_activations, random_network, selective_difference, stimulus_scenes, stimulus_sets,
                            two_way_anova, unit_experiment, unit_selectivity)
from synth.numerosity import describe_scene
from study.engine.models import create_model
from synth.scenes import SceneRecipe

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
    # The ANOVA alone passes noise at about the nominal rate (0.01 x 0.99 x 0.99); one preferred
    # numerosity in every set passes only a fraction of those.
    anova_only = (result.p_number < 0.01) & (result.p_set >= 0.01) & (result.p_interaction >= 0.01)
    assert 0.004 < anova_only[120:3120].mean() < 0.02
    assert result.selective[120:3120].mean() <= anova_only[120:3120].mean()
    assert np.array_equal(result.selective, anova_only & result.consistent & ~result.inactive)
    assert result.inactive[-1] and not result.selective[-1] and result.inactive.sum() == 1
    histogram = result.preferred_histogram()
    assert histogram.sum() == result.selective.sum()
    curves = result.mean_tuning()
    for number, (curve, n_units) in curves.items():
        assert curve[list(NUMBERS).index(number)] == 1.0 and n_units > 0 and curve.min() >= 0


@pytest.fixture(scope="module")
def specs() -> dict[str, SceneRecipe]:
    base = dict(counts=(1, 3), width=32, height=32, radius=2.0, min_gap=1.0)
    return {"fixed": SceneRecipe(**base), "varied": SceneRecipe(**base, radius_range=(1.0, 3.0)),
            "dewind": SceneRecipe(**base, radius_range=(1.0, 3.0), control="dewind")}


def test_stimulus_sets_are_balanced(specs):
    scenes, numbers, sets = stimulus_scenes(NASR_SETS, [1, 3, 5], per_cell=2, seed=0)
    assert len(scenes) == 4 * 3 * 2 and all(scene.count == n for scene, n in zip(scenes, numbers))
    area = [describe_scene(scene)["tsa"] for scene, name in zip(scenes, sets) if name == "constant_area"]
    assert np.ptp(area) < 1e-6 * np.mean(area)
    images, numbers, sets = stimulus_sets(specs, [1, 3], per_cell=3, seed=0)
    assert images.shape == (18, 3, 32, 32) and images.dtype == torch.uint8
    for number in (1, 3):
        for name in specs:
            assert np.sum((numbers == number) & (sets == name)) == 3
    with pytest.raises(ValueError, match="per_cell"):
        stimulus_sets(specs, [1, 3], per_cell=1, seed=0)


def test_unit_experiment_on_a_tiny_resnet(specs):
    model = create_model("resnet18", 3, weights="none", head="linear", seed=1).eval()
    result, difference = unit_experiment(model, "resnet18", "layer4", lambda images: images.float() / 255, specs,
                                         numbers=[1, 2, 3], per_cell=3, seed=0, n_boot=5)
    assert set(result) == {"trained", "random"} and difference.n_boot == 5
    assert difference.difference == pytest.approx(result["trained"].fraction_selective
                                                  - result["random"].fraction_selective)
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


NASR_BASE = dict(counts=(1, 5), width=32, height=32, radius=1.28, min_gap=1.0)
NASR_SETS = {"fixed": SceneRecipe(**NASR_BASE), "constant_area": SceneRecipe(**NASR_BASE),
             "constant_hull": SceneRecipe(**NASR_BASE),
             "dewind": SceneRecipe(**NASR_BASE | {"radius_range": (0.8, 1.8)}, control="dewind")}


def _simulated_layer(sets: dict, per_cell: int, seed: int = 1):
    """Units that answer to total area, planted number units, and noise, on real scenes of ``sets``.

    Returns the activations ``[n, 3000]`` (1000 area units, 1000 number units, 1000 noise units), the
    numerosities, set names and planted preferred numbers.
    """
    scenes, numbers, names = stimulus_scenes(sets, [1, 2, 3, 4, 5], per_cell, seed=0)
    log_tsa = np.log([describe_scene(scene)["tsa"] for scene in scenes])
    area = (log_tsa - log_tsa.mean()) / log_tsa.std()
    rng = np.random.default_rng(seed)
    area_units = area[:, None] * rng.uniform(0.5, 2, 1000)[None] + rng.normal(0, 1, (len(area), 1000))
    preferred = rng.integers(1, 6, 1000)
    tuned = 5 * np.exp(-(np.log(numbers)[:, None] - np.log(preferred)[None]) ** 2 / (2 * 0.4**2))
    number_units = tuned + rng.normal(0, 1, tuned.shape)
    noise = rng.normal(0, 1, (len(area), 1000))
    return np.concatenate([area_units, number_units, noise], axis=1), numbers, names, preferred


def test_area_units_are_not_number_selective_with_nasr_control_sets():
    activations, numbers, names, preferred = _simulated_layer(NASR_SETS, per_cell=8)
    result = unit_selectivity(activations, numbers, names)
    assert result.sets == sorted(NASR_SETS) and result.per_cell == 8
    assert result.selective[:1000].mean() <= 0.01  # area-tuned: flat where the area is held
    # Planted number tuning (5 noise SDs, sigma 0.4 on log N) passes the ANOVA almost always; one preferred
    # numerosity in all four sets costs some (4 and 5 are close on a log axis), ~0.86 at 8 images per cell.
    anova_only = (result.p_number < 0.01) & (result.p_set >= 0.01) & (result.p_interaction >= 0.01)
    assert anova_only[1000:2000].mean() > 0.95 and result.selective[1000:2000].mean() > 0.8
    found = result.selective[1000:2000]
    assert np.array_equal(result.preferred[1000:2000][found], preferred[found])
    assert result.selective[2000:].mean() <= 0.01 and 0.002 < anova_only[2000:].mean() < 0.02  # noise: nominal


def test_without_the_control_sets_area_units_pass_as_number_units():
    """The sets the analysis used before (one radius and DeWind): total area grows with N in both."""
    sets = {name: NASR_SETS[name] for name in ("fixed", "dewind")}
    activations, numbers, names, _ = _simulated_layer(sets, per_cell=8)
    assert unit_selectivity(activations, numbers, names).selective[:1000].mean() > 0.05


def test_selective_difference_by_hand_and_its_interval():
    trained = np.arange(500) < 50  # 10% selective
    random = np.arange(500) < 5  # 1%
    difference = selective_difference(trained, random, n_boot=2000, seed=0)
    assert difference.difference == pytest.approx(0.09) and "units" in difference.method
    # binomial standard error of the difference: sqrt(0.1 x 0.9 / 500 + 0.01 x 0.99 / 500) = 0.0141
    assert difference.high - difference.low == pytest.approx(2 * 1.96 * 0.0141, rel=0.15)
    same = selective_difference(random, random, n_boot=200, seed=0)
    assert same.difference == 0 and same.low < 0 < same.high
    assert selective_difference(trained, random, n_boot=0).low == pytest.approx(0.09)
