"""study.run.cell.run_cell: every promised file, a checkpoint that reloads, stages, eval splits, failures."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

import study.run.cell as cell
from study.data.augment import create as create_policy
from study.errors import ConfigError
from study.engine.observe import TrainingObserver
from study.config.spec import TrainSpec
from study.engine.readout import create_readout
from study.engine.learner import Evaluation, NonFiniteLossError
from study.engine.models import create_model, normalize
from study.data.tasks import build_task


TINY = "timm:test_resnet"  # 0.4M parameters: seconds on a shared CPU
CELL_FILES = {"spec.json", "log.txt", "history.csv", "metrics.json", "predictions.csv", "checkpoint.pt"}
METRIC_KEYS = {
    "status", "valid_accuracy", "test_accuracy", "error_rate", "classes", "per_class_accuracy",
    "confusion_matrix", "most_confused", "seconds", "device", "weights_used", "skipped_files",
    "lr_used", "n_train", "n_valid", "n_test", "precision", "channels_last", "stages", "eval_resize",
    "test_dewind_accuracy", "n_test_dewind",
}
COUNT_KEYS = {"count_mae", "off_by_k", "label_noise_rate"}


def tiny_counting(**changes) -> TrainSpec:
    base = dict(counts="1-3", size=32, radius=4.0, n_train=50, n_test=20, n_test_dewind=0, arch=TINY, aug="fastai",
                epochs=1, batch_size=8, seed=1)
    return TrainSpec(**{**base, **changes})


def test_counting_cell_writes_every_file_and_a_reloadable_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(cell, "LR_FIND_ITERATIONS", 20)
    spec = tiny_counting(lr="find", precision="fp32")  # fp32: predictions are reproduced below to 1e-4
    metrics = cell.run_cell(spec, tmp_path / "cell", device="cpu", cache_dir=tmp_path / "cache", progress="quiet")
    folder = tmp_path / "cell"
    assert CELL_FILES | {"lr_find.png", "lr_find.csv"} <= {p.name for p in folder.iterdir()}
    assert not (folder / "error.json").exists()
    written = json.loads((folder / "metrics.json").read_text())
    assert METRIC_KEYS | COUNT_KEYS <= set(written) and written["status"] == "done"
    assert written["valid_accuracy"] == metrics["valid_accuracy"] and written["n_test"] == 20
    assert set(written["off_by_k"]) == {"0", "1", "2", "3+"} and sum(written["off_by_k"].values()) == pytest.approx(1)
    assert 0 < written["label_noise_rate"] < 1  # fastai transforms clip some circles
    assert np.array(written["confusion_matrix"]).sum() == 20  # test split
    assert json.loads((folder / "spec.json").read_text()) == spec.to_dict()
    assert "epoch     train_loss  valid_loss  error_rate  time" in (folder / "log.txt").read_text()
    history = list(csv.DictReader((folder / "history.csv").open()))
    assert [row["epoch"] for row in history] == ["1"]

    # The checkpoint reloads with weights_only=True and reproduces predictions.csv.
    checkpoint = torch.load(folder / "checkpoint.pt", weights_only=True)
    model = create_model(checkpoint["arch"], checkpoint["num_classes"], head=checkpoint["head"]).eval()
    model.load_state_dict(checkpoint["model"])
    task = build_task(TrainSpec(**checkpoint["spec"]), "cpu")  # the scenes come back from the spec alone
    policy = create_policy(checkpoint["spec"]["aug"], size=checkpoint["size"])
    with torch.no_grad():
        pixels = policy.eval_transform(task.splits["valid"].images)
        probs = model(normalize(pixels, **checkpoint["normalize"])).softmax(1)
    rows = [row for row in csv.DictReader((folder / "predictions.csv").open()) if row["split"] == "valid"]
    written_probs = torch.tensor([[float(row[f"prob_{c}"]) for c in checkpoint["classes"]] for row in rows])
    assert torch.allclose(probs, written_probs, atol=1e-4)


def test_non_finite_loss_is_raised_with_its_epoch_and_the_log_kept(tmp_path, monkeypatch):
    def poisoned_model(*args, **kwargs):
        model = create_model(*args, **kwargs)
        with torch.no_grad():
            model.head[-1].bias.fill_(float("nan"))
        return model

    monkeypatch.setattr(cell, "create_model", poisoned_model)
    with pytest.raises(NonFiniteLossError, match="training loss became nan at epoch 1") as raised:
        cell.run_cell(tiny_counting(), tmp_path / "cell", device="cpu", progress="quiet")
    assert raised.value.epoch == 1
    assert "cell count1-3" in (tmp_path / "cell" / "log.txt").read_text()  # the log up to the failure
    assert not (tmp_path / "cell" / "error.json").exists()  # recording the failure is the caller's job
    assert not (tmp_path / "cell" / "metrics.json").exists()


def test_folder_cell_reports_valid_split_and_skipped_files(tmp_path):
    rng = np.random.default_rng(0)
    for name, shade in (("dark", 40), ("light", 215)):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for index in range(8):
            pixels = np.clip(rng.normal(shade, 20, (20, 24, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "photos" / name / f"{index}.png")
    (tmp_path / "photos" / "light" / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    spec = TrainSpec(task="folder", data=str(tmp_path / "photos"), size=32, arch=TINY, aug="sensible",
                     epochs=1, batch_size=4)
    metrics = cell.run_cell(spec, tmp_path / "cell", device="cpu")
    assert metrics["skipped_files"] == ["light/broken.jpg"]
    assert "skipped 1 unreadable file(s): light/broken.jpg" in (tmp_path / "cell" / "log.txt").read_text()
    assert metrics["test_accuracy"] is None and metrics["n_test"] == 0 and metrics["n_valid"] == 3  # round(0.2 * 16)
    assert metrics["classes"] == ["dark", "light"] and set(metrics["per_class_accuracy"]) == {"dark", "light"}
    assert not COUNT_KEYS & set(metrics)
    assert CELL_FILES <= {p.name for p in (tmp_path / "cell").iterdir()}


def test_same_spec_same_seed_gives_identical_results_on_cpu(tmp_path):
    spec = tiny_counting(n_train=30, n_test=10)
    first = cell.run_cell(spec, tmp_path / "first", device="cpu")
    second = cell.run_cell(spec, tmp_path / "second", device="cpu")
    predictions = [(tmp_path / name / "predictions.csv").read_text() for name in ("first", "second")]
    assert predictions[0] == predictions[1]
    assert first["label_noise_rate"] == second["label_noise_rate"]
    other = cell.run_cell(tiny_counting(n_train=30, n_test=10, seed=2), tmp_path / "other", device="cpu")
    assert (tmp_path / "other" / "predictions.csv").read_text() != predictions[0]
    assert other["n_train"] == first["n_train"]


def test_a_short_schedule_cell_recomputes_its_batchnorm_statistics_and_says_so(tmp_path):
    # Same seed, same fit: the checkpoints differ only in BatchNorm buffers, and the log says what ran.
    running = cell.run_cell(tiny_counting(n_train=30, n_test=10, head_dropout=0.0), tmp_path / "running", device="cpu")
    precise = cell.run_cell(tiny_counting(n_train=30, n_test=10, head_dropout=0.0, bn_stats="precise"),
                            tmp_path / "precise", device="cpu")
    log = (tmp_path / "precise" / "log.txt").read_text()
    assert "bn_stats precise: BatchNorm statistics recomputed after each stage's last epoch over 24 training images" in log
    assert "bn_stats" not in (tmp_path / "running" / "log.txt").read_text()
    states = [torch.load(tmp_path / name / "checkpoint.pt", weights_only=True)["model"] for name in ("running", "precise")]
    buffers = [name for name in states[0] if name.endswith(("running_mean", "running_var"))]
    assert buffers and any(not torch.equal(states[0][name], states[1][name]) for name in buffers)
    assert all(torch.equal(states[0][name], states[1][name]) for name in states[0]
               if not name.endswith(("running_mean", "running_var", "num_batches_tracked")))
    assert json.loads((tmp_path / "precise" / "spec.json").read_text())["bn_stats"] == "precise"
    assert running["n_train"] == precise["n_train"] == 24


class BodySnapshots(TrainingObserver):
    """The first body convolution's weights at the start and end of every fit."""

    def __init__(self, model) -> None:
        self.conv = next(m for m in model.body.modules() if isinstance(m, torch.nn.Conv2d))
        self.starts, self.ends = [], []

    def on_fit_start(self, stage, epochs, steps_per_epoch):
        self.starts.append(self.conv.weight.detach().clone())

    def on_fit_end(self):
        self.ends.append(self.conv.weight.detach().clone())


def test_two_stages_train_frozen_then_unfrozen_on_the_same_model(tmp_path, monkeypatch):
    snapshots: list[BodySnapshots] = []
    real_learner = cell.Learner

    def watched_learner(model, *args, observers=(), **kwargs):
        snapshots.append(BodySnapshots(model))
        return real_learner(model, *args, observers=[*observers, snapshots[-1]], **kwargs)

    monkeypatch.setattr(cell, "Learner", watched_learner)
    spec = tiny_counting(stages="frozen 1@1e-3, unfrozen 2@1e-5:1e-3", precision="fp32")
    metrics = cell.run_cell(spec, tmp_path / "cell", device="cpu", progress="quiet")
    body = snapshots[0]
    assert len(body.starts) == 2
    assert torch.equal(body.starts[0], body.ends[0])  # stage 1: the body is frozen
    assert torch.equal(body.ends[0], body.starts[1])  # stage 2 continues the same model
    assert not torch.equal(body.starts[1], body.ends[1])  # stage 2: unfrozen, the body trains
    history = list(csv.DictReader((tmp_path / "cell" / "history.csv").open()))
    assert [(row["epoch"], row["stage"]) for row in history] == [("1", "1"), ("2", "2"), ("3", "2")]
    assert metrics["stages"] == [{"kind": "frozen", "epochs": 1, "lr": 1e-3},
                                 {"kind": "unfrozen", "epochs": 2, "lr": [1e-5, 1e-3]}]
    assert metrics["lr_used"] == 1e-3
    log = (tmp_path / "cell" / "log.txt").read_text()
    assert "stage 1/2: frozen, 1 epoch(s), max lr 0.001" in log and "stage 2/2: unfrozen" in log


def test_a_resized_stage_trains_on_smaller_images_and_evaluates_at_full_size(tmp_path, monkeypatch):
    sides: list[tuple[bool, int]] = []  # (training, input side) of every forward pass
    real_learner = cell.Learner

    def watched_learner(model, *args, **kwargs):
        model.register_forward_pre_hook(lambda module, inputs: sides.append((module.training, inputs[0].shape[-1])))
        return real_learner(model, *args, **kwargs)

    monkeypatch.setattr(cell, "Learner", watched_learner)
    spec = tiny_counting(stages="unfrozen 1@1e-3 16px, unfrozen 1@1e-3", precision="fp32")
    metrics = cell.run_cell(spec, tmp_path / "cell", device="cpu", progress="quiet")
    training = [side for is_training, side in sides if is_training]
    batches = len(training) // 2
    assert training == [16] * batches + [spec.size] * batches  # stage 1 at 16 px, stage 2 at the cell's size
    assert {side for is_training, side in sides if not is_training} == {spec.size}  # validation and test: full size
    assert metrics["stages"][0]["side"] == 16 and "side" not in metrics["stages"][1]


def test_every_eval_split_is_predicted_and_reported(tmp_path):
    metrics = cell.run_cell(tiny_counting(n_test_dewind=5), tmp_path / "cell", device="cpu", progress="quiet")
    rows = list(csv.DictReader((tmp_path / "cell" / "predictions.csv").open()))
    assert [sum(row["split"] == s for row in rows) for s in ("valid", "test", "test_dewind")] == [10, 20, 5]
    dewind = [row for row in rows if row["split"] == "test_dewind"]
    assert metrics["n_test_dewind"] == 5
    assert metrics["test_dewind_accuracy"] == pytest.approx(sum(r["label"] == r["pred"] for r in dewind) / 5)
    assert metrics["test_accuracy"] == pytest.approx(sum(r["label"] == r["pred"] for r in rows if r["split"] == "test") / 20)


def test_progress_modes(tmp_path, capsys):
    with pytest.raises(ConfigError, match="progress mode 'loud' is not one of: auto, bar, lines, quiet"):
        cell.run_cell(tiny_counting(), tmp_path / "bad", device="cpu", progress="loud")
    cell.run_cell(tiny_counting(n_train=20, n_test=0), tmp_path / "quiet", device="cpu", progress="quiet")
    assert "train_loss" not in capsys.readouterr().out
    assert "train_loss" in (tmp_path / "quiet" / "log.txt").read_text()  # the table still goes to the log
    metrics = cell.run_cell(tiny_counting(n_train=20, n_test=0), tmp_path / "lines", device="cpu", progress="lines")
    assert "train_loss" in capsys.readouterr().out
    assert metrics["precision"] in ("fp32", "bf16") and metrics["eval_resize"] == "squish"


def test_a_cell_writes_tensorboard_events_that_read_back(tmp_path):
    """Each cell folder holds event files: per-epoch scalars, the lr schedule, the confusion image, hparams."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    spec = tiny_counting(epochs=2, precision="fp32")
    cell.run_cell(spec, tmp_path / "cell", device="cpu", progress="quiet")
    events = EventAccumulator(str(tmp_path / "cell" / "events"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    tags = events.Tags()
    assert [event.step for event in events.Scalars("epoch/train_loss")] == [1, 2]
    assert "schedule/lr_group0" in tags["scalars"] and "schedule/momentum" in tags["scalars"]
    assert tags["images"] == ["confusion_matrix"]
    assert any(tag.startswith("final/") for tag in tags["scalars"])
    history = list(csv.DictReader((tmp_path / "cell" / "history.csv").open()))
    logged = [event.value for event in events.Scalars("epoch/accuracy")]
    assert logged == pytest.approx([float(row["accuracy"]) for row in history])


SPLIT_KEYS = {"accuracy", "mae", "bias", "n", "per_count"}


@pytest.mark.parametrize("changes", [
    {"head": "regression"},
    {"head": "regression", "reg_target": "log", "reg_loss": "huber", "held_out": "2"},
    {"head": "ordinal", "held_out": "2"},
    {"head": "fastai", "held_out": "2"},
])
def test_every_head_runs_a_cell_and_writes_estimates_and_split_metrics(tmp_path, changes):
    spec = tiny_counting(precision="fp32", **changes)
    metrics = cell.run_cell(spec, tmp_path / "cell", device="cpu", progress="quiet")
    folder = tmp_path / "cell"
    rows = list(csv.DictReader((folder / "predictions.csv").open()))
    assert list(rows[0])[:6] == ["split", "index", "label", "pred", "estimate", "loss"]
    held = bool(changes.get("held_out"))
    expected_splits = ["valid", "test", *(["test_held_out"] if held else [])]
    assert list(metrics["splits"]) == expected_splits and json.loads((folder / "metrics.json").read_text()) == metrics
    for name, split in metrics["splits"].items():
        mine = [row for row in rows if row["split"] == name]
        errors = [float(row["estimate"]) - int(row["label"]) for row in mine]
        assert set(split) == SPLIT_KEYS and split["n"] == len(mine)
        assert split["accuracy"] == pytest.approx(sum(row["label"] == row["pred"] for row in mine) / len(mine))
        assert split["mae"] == pytest.approx(np.mean(np.abs(errors)), abs=1e-5)
        assert split["bias"] == pytest.approx(np.mean(errors), abs=1e-5)
        assert sum(entry["n"] for entry in split["per_count"].values()) == len(mine)
        # pred is the class nearest the estimate (clamped to 1..3)
        assert all(int(row["pred"]) == min(3, max(1, round(float(row["estimate"])))) for row in mine)
    if held:
        assert set(metrics["splits"]["test_held_out"]["per_count"]) == {"2"}
        assert set(metrics["splits"]["test"]["per_count"]) == {"1", "3"}  # trained counts only
        assert metrics["test_held_out_accuracy"] == metrics["splits"]["test_held_out"]["accuracy"]
        assert metrics["test_held_out_mae"] == metrics["splits"]["test_held_out"]["mae"]
        assert metrics["n_test_held_out"] == 20
        assert f"test_held_out MAE {metrics['test_held_out_mae']:.4f}" in (folder / "log.txt").read_text()
    else:
        assert metrics["test_held_out_accuracy"] is None and metrics["test_held_out_mae"] is None
    checkpoint = torch.load(folder / "checkpoint.pt", weights_only=True)
    assert {key: checkpoint[key] for key in ("head", "reg_target", "reg_loss", "class_counts")} == {
        "head": spec.head, "reg_target": spec.reg_target, "reg_loss": spec.reg_loss, "class_counts": [1, 2, 3]}


def test_classifier_count_mae_is_the_distance_of_the_predicted_count(tmp_path):
    metrics = cell.run_cell(tiny_counting(), tmp_path / "cell", device="cpu", progress="quiet")
    rows = [row for row in csv.DictReader((tmp_path / "cell" / "predictions.csv").open()) if row["split"] == "test"]
    distance = [abs(int(row["pred"]) - int(row["label"])) for row in rows]
    assert metrics["count_mae"] == pytest.approx(np.mean(distance))
    assert metrics["splits"]["test"]["mae"] == pytest.approx(metrics["count_mae"])  # classifier: estimate = pred
    assert all(float(row["estimate"]) == int(row["pred"]) for row in rows)


def test_split_metrics_per_count_bias_of_a_constant_guess():
    labels = torch.arange(5).repeat(2)  # counts 1..5, twice
    evaluation = Evaluation("test", labels, torch.full((10,), 2), torch.zeros(10, 5), torch.zeros(10),
                            estimates=torch.full((10,), 3.0))  # always says 3
    result = cell.split_metrics(evaluation, torch.arange(1.0, 6.0), ["1", "2", "3", "4", "5"])
    assert [result["per_count"][c]["bias"] for c in "12345"] == [2, 1, 0, -1, -2]
    assert [result["per_count"][c]["mae"] for c in "12345"] == [2, 1, 0, 1, 2]
    assert [result["per_count"][c]["accuracy"] for c in "12345"] == [0, 0, 1, 0, 0]
    assert all(result["per_count"][c]["n"] == 2 for c in "12345")
    assert (result["accuracy"], result["mae"], result["bias"], result["n"]) == (0.2, 1.2, 0.0, 10)
    named = cell.split_metrics(evaluation, torch.arange(5.0), list("abcde"), are_counts=False)
    assert named["mae"] is None and named["per_count"]["c"] == {"n": 2, "accuracy": 1.0, "mae": None, "bias": None}


def test_a_perfect_counter_extrapolates_fully():
    """Trained on 1-20, asked about 21-30: a counter's estimate is the count, so it names every held-out count."""
    counts = torch.arange(1.0, 31.0)  # classes 1..30
    labels = torch.arange(20, 30).repeat(3)  # class indices of counts 21..30
    readout = create_readout("regression", list(range(1, 31)))
    outputs = ((counts[labels] - readout.mean) / readout.std).unsqueeze(1)  # the standardised true count
    estimates = readout.estimate(outputs)
    evaluation = Evaluation("test_held_out", labels, readout.predict(outputs), readout.probs(outputs),
                            torch.zeros(30), estimates=estimates)
    result = cell.split_metrics(evaluation, counts, [str(c) for c in range(1, 31)])
    assert (result["accuracy"], result["n"]) == (1.0, 30)
    assert result["mae"] == pytest.approx(0, abs=1e-5) and result["bias"] == pytest.approx(0, abs=1e-5)
    assert sorted(result["per_count"], key=int) == [str(c) for c in range(21, 31)]


def test_split_metrics_of_an_empty_split_are_none():
    empty = Evaluation("test", torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long),
                       torch.zeros(0, 3), torch.zeros(0), estimates=torch.zeros(0))
    assert cell.split_metrics(empty, torch.arange(1.0, 4.0), ["1", "2", "3"]) == {
        "accuracy": None, "mae": None, "bias": None, "n": 0, "per_count": {}}


def test_a_regression_head_on_classes_that_are_not_counts_is_refused(tmp_path):
    for name in ("dark", "light"):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for index in range(4):
            Image.fromarray(np.full((8, 8, 3), 40 * index, np.uint8)).save(tmp_path / "photos" / name / f"{index}.png")
    spec = TrainSpec(task="folder", data=str(tmp_path / "photos"), size=16, arch=TINY, head="regression", epochs=1)
    with pytest.raises(ConfigError, match="head: 'regression' needs classes that are counts.*class 'dark'"):
        cell.run_cell(spec, tmp_path / "cell", device="cpu", progress="quiet")
