"""Measurement artefacts: Grad-CAM resolution, IG convergence, deletion floor, conditional edit consistency."""

import numpy as np
import pandas as pd
import pytest
import torch

from analysis import attribution
from analysis.interventions import deletion_curves, summarize_interventions
from helpers import counter_predictor, tiny_scenes
from study.engine.models import create_model, normalize


@pytest.fixture(scope="module")
def clean_model():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return attribution.prepare_model(create_model("resnet18", 3, weights="none", head="linear"))


@pytest.mark.parametrize("side, expected", [(64, ("layer2", (8, 8))), (224, ("layer4", (7, 7))), (16, None)])
def test_gradcam_uses_the_deepest_stage_at_least_7x7(clean_model, side, expected):
    # ResNet strides: layer1 /4, layer2 /8, layer3 /16, layer4 /32
    found = attribution.gradcam_layer(clean_model, (side, side))
    assert (found if found is None else (found[0], found[2])) == expected


def test_integrated_gradients_raises_steps_until_converged_and_records_the_cap(clean_model):
    inputs = normalize(torch.rand(2, 3, 32, 32))
    baseline = attribution.background_baseline(32, 32, normalize)
    loose = attribution.create("integrated_gradients", clean_model, n_steps=4, max_steps=16, tolerance=10.0)
    loose(inputs, torch.tensor([0, 1]), baseline)
    assert len(loose.convergence) == 1  # one batch
    assert loose.convergence[0]["n_steps"] == 4 and not loose.convergence[0]["cap_hit"]
    strict = attribution.create("integrated_gradients", clean_model, n_steps=4, max_steps=16, tolerance=0.0)
    strict(inputs, torch.tensor([0, 1]), baseline)
    assert strict.convergence[0]["n_steps"] == 16 and strict.convergence[0]["cap_hit"]  # 4 -> 8 -> 16, capped
    assert strict.convergence[0]["relative_delta"] > 0


def test_deletion_stops_at_the_bottom_of_the_class_range():
    scenes = tiny_scenes(2, 4, n=6)
    scores = [np.arange(s.count, dtype=float) for s in scenes]
    curves = deletion_curves(counter_predictor(2, 4), scenes, scores, max_steps=10, floor=2)
    last = curves.groupby("scene")["step"].max()
    assert last.tolist() == [s.count - 2 for s in scenes]


def test_edit_consistency_is_also_given_on_correctly_predicted_scenes():
    table = pd.DataFrame({
        "kind": ["remove"] * 4 + ["enlarge"] * 2, "expected_change": [-1] * 4 + [0] * 2,
        "status": ["ok"] * 6, "pred_change": [-1, -1, 0, 0, 0, 1],
        "correct_before": [True, True, False, False, True, True], "expected_count_change": [0.0] * 6})
    summary = summarize_interventions(table, sizes="fixed").set_index("kind")
    assert summary.loc["remove", "consistent"] == 0.5
    assert summary.loc["remove", "consistent_if_correct"] == 1.0 and summary.loc["remove", "n_correct_before"] == 2
    assert summary.loc["enlarge", "off_distribution"] and not summary.loc["remove", "off_distribution"]
    assert not summarize_interventions(table, sizes="varied").set_index("kind").loc["enlarge", "off_distribution"]
