import numpy as np
import pandas as pd
import torch

from analysis.confounds import confound_regression, dewind_scenes, scene_axes, weber_table
from analysis.probes import probe_model, probe_scores
from study.engine.models import create_model


def test_regression_recovers_known_coefficients():
    rng = np.random.default_rng(0)
    axes = pd.DataFrame({"log_n": rng.uniform(0, 2, 300), "log_size": rng.uniform(5, 9, 300),
                         "log_spacing": rng.uniform(10, 14, 300)})
    target = 0.3 + 0.9 * axes["log_n"] + 0.2 * axes["log_size"] - 0.1 * axes["log_spacing"]
    table = confound_regression(target + rng.normal(0, 0.01, 300), axes, n_boot=50).set_index("term")
    for term, value in {"log_n": 0.9, "log_size": 0.2, "log_spacing": -0.1}.items():
        assert abs(table.loc[term, "coef"] - value) < 0.01
        assert table.loc[term, "ci_low"] <= table.loc[term, "coef"] <= table.loc[term, "ci_high"]
        assert table.loc[term, "ci_high"] - table.loc[term, "ci_low"] < 0.01
    assert table["n"].iloc[0] == 300 and table["r2"].iloc[0] > 0.99


def test_dewind_set_for_a_cell_decorrelates_size_from_count():
    spec = {"task": "counting", "counts": "1-5", "size": 48, "sizes": "fixed"}
    scenes = dewind_scenes(spec, 60, seed=1)
    assert {s.count for s in scenes} == {1, 2, 3, 4, 5}
    axes = scene_axes(scenes)
    assert abs(np.corrcoef(axes["log_n"], axes["log_size"])[0, 1]) < 0.4


def test_weber_ratio():
    table = weber_table({"1": 1.0, "4": 0.5}, {"1": 10, "4": 12})
    assert table["ratio"].tolist() == [2.0, 1.25] and table["n"].tolist() == [10, 12]


def test_probe_decodes_a_feature_that_is_the_count():
    counts = np.repeat(np.arange(1, 5), 12)
    features = np.column_stack([counts + np.random.default_rng(0).normal(0, 0.05, 48), np.zeros(48)])
    scores = probe_scores(features, counts)
    assert scores["accuracy"] > 0.95 and scores["r2"] > 0.95 and scores["n"] == 48


def test_probe_model_gives_one_row_per_stage():
    torch.manual_seed(0)
    model = create_model("resnet18", 3, head="linear")
    table = probe_model(model, torch.randn(12, 3, 32, 32), np.repeat([1, 2, 3], 4), init="random")
    assert table["stage"].tolist() == ["layer1", "layer2", "layer3", "layer4"]
