"""analysis.predict: a Predictor reads every head through its readout; load_model rebuilds it from a cell."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
import torch.nn as nn

import study.run.cell as cell
from analysis.predict import Predictor, checkpoint_readout, load_model, pixel_pipeline
from study.engine.readout import create_readout
from study.run.runfolder import CellFolder
from study.config.spec import TrainSpec
from study.data.tasks import build_task


class FixedOutputs(nn.Module):
    """Returns the same raw head outputs for every image: ``[B, k]``."""

    def __init__(self, outputs: list[float]) -> None:
        super().__init__()
        self.outputs = torch.tensor(outputs)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.outputs.expand(len(images), -1)


def predictor(outputs: list[float], readout=None) -> Predictor:
    return Predictor(FixedOutputs(outputs), lambda images: images.float(), np.array([1, 2, 3]), readout=readout)


IMAGES = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)


def test_a_classifier_predictor_keeps_its_softmax_numbers():
    counts = predictor([0.0, 0.0, 2.0]).counts(IMAGES)  # no readout: a softmax classifier over class_counts
    p = np.exp([0.0, 0.0, 2.0]) / np.exp([0.0, 0.0, 2.0]).sum()
    assert counts["pred_class"].tolist() == [2, 2] and counts["pred_count"].tolist() == [3, 3]
    assert counts["expected_count"] == pytest.approx([p @ [1, 2, 3]] * 2)
    assert counts["estimate"].tolist() == [3.0, 3.0]


def test_a_regression_predictor_reports_the_estimate_and_its_rounded_count():
    readout = create_readout("regression", [1, 2, 3])  # mean 2, std sqrt(2/3)
    counts = predictor([0.9], readout).counts(IMAGES)
    estimate = 2 + 0.9 * np.sqrt(2 / 3)  # 2.73
    assert counts["estimate"] == pytest.approx([estimate] * 2, rel=1e-6)
    assert counts["expected_count"] == pytest.approx([estimate] * 2, rel=1e-6)
    assert counts["pred_count"].tolist() == [3, 3]
    assert predictor([0.9], readout).probabilities(IMAGES).tolist() == [[0, 0, 1]] * 2


def test_an_ordinal_predictor_reads_coral_probabilities():
    readout = create_readout("ordinal", [1, 2, 3])
    probs = predictor([np.log(4), -np.log(4)], readout).probabilities(IMAGES)  # P(>1) = 0.8, P(>2) = 0.2
    assert probs[0].tolist() == pytest.approx([0.2, 0.6, 0.2])
    assert predictor([np.log(4), -np.log(4)], readout).counts(IMAGES)["estimate"].tolist() == [2.0, 2.0]


def test_checkpoints_without_readout_fields_read_as_classifiers_over_their_class_names():
    readout = checkpoint_readout({"head": "fastai", "classes": ["4", "5", "6"]})
    assert readout.kind == "classifier" and readout.counts.tolist() == [4, 5, 6]
    assert checkpoint_readout({"head": "fastai", "classes": ["cat", "dog"]}).counts.tolist() == [0, 1]


@pytest.mark.parametrize("head", ["regression", "ordinal"])
def test_load_model_rebuilds_a_cells_head_and_reproduces_its_estimates(tmp_path, head):
    spec = TrainSpec(counts="1-3", size=32, radius=4.0, n_train=30, n_test=10, n_test_dewind=0,
                     arch="timm:test_resnet", aug="none", epochs=1, batch_size=8, seed=1, head=head,
                     reg_target="log", precision="fp32")
    cell.run_cell(spec, tmp_path / "cell", device="cpu", progress="quiet")
    model, info = load_model(CellFolder(tmp_path / "cell"))
    assert model.readout.kind == head and info["class_counts"] == [1, 2, 3]
    transform = pixel_pipeline(info["spec"], info["normalize"])
    counts = Predictor(model, transform, np.array(info["class_counts"])).counts(build_task(spec).splits["test"].images)
    rows = [row for row in csv.DictReader((tmp_path / "cell" / "predictions.csv").open()) if row["split"] == "test"]
    assert counts["estimate"] == pytest.approx([float(row["estimate"]) for row in rows], rel=1e-4, abs=1e-4)
    assert counts["pred_count"].tolist() == [int(row["pred"]) for row in rows]


def test_recorded_estimates_read_each_head_by_hand():
    from analysis.predict import recorded_estimates

    counts = np.array([1, 2, 3, 4, 5])
    coral = np.array([[0.0, 0.5, 0.0, 0.5, 0.0]])  # P(>1) = 1, P(>2) = P(>3) = 0.5, P(>4) = 0: expected rank 3
    assert recorded_estimates("ordinal", coral, counts, np.array([2.0]), np.array([2]))[0].tolist() == [3.0]
    assert recorded_estimates("ordinal", coral, counts, None, np.array([2]))[1].tolist() == [3]  # nearest, not 2
    softmax = np.array([[0.5, 0.0, 0.0, 0.0, 0.5]])
    expected, pred = recorded_estimates("fastai", softmax, counts, np.array([1.0]), np.array([1]))
    assert expected.tolist() == [3.0] and pred.tolist() == [1]  # a classifier keeps its argmax prediction
    one_hot = np.array([[0.0, 1.0, 0.0, 0.0, 0.0]])
    expected, pred = recorded_estimates("regression", one_hot, counts, np.array([2.4]), np.array([2]))
    assert expected.tolist() == [2.4] and pred.tolist() == [2]
    halfway = np.array([[0.0, 0.5, 0.5, 0.0, 0.0]])  # 2.5: a half rounds down, as the readout's predict
    assert recorded_estimates("ordinal", halfway, counts, None, np.array([2]))[1].tolist() == [2]
