"""TensorBoardObserver: read the event files back and check what was written."""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from study.engine import tblog  # noqa: E402
from study.engine.tblog import MISSING_NOTE, TensorBoardObserver, confusion_image  # noqa: E402


def read_events(folder) -> EventAccumulator:
    events = EventAccumulator(str(folder), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    return events


def row(epoch: int, stage: int, loss: float, accuracy: float) -> dict:
    return {"epoch": epoch, "train_loss": loss, "valid_loss": loss + 0.1, "error_rate": 1 - accuracy,
            "accuracy": accuracy, "time": 1.5, "stage": stage}


def two_stage_fit(observer: TensorBoardObserver) -> None:
    """Stage 1: 1 epoch of 2 steps with one lr group; stage 2: 2 epochs of 2 steps with two groups."""
    observer.on_fit_start(1, 1, 2)
    observer.on_step(1, [0.01], 0.95)
    observer.on_step(2, [0.02], 0.85)
    observer.on_epoch_end(row(1, 1, 1.0, 0.25))
    observer.on_fit_end()
    observer.on_fit_start(2, 2, 2)
    for step, lrs in zip(range(3, 7), ([1e-4, 1e-3], [2e-4, 2e-3], [3e-4, 3e-3], [4e-4, 4e-3])):
        observer.on_step(step, lrs, 0.9)
        if step % 2 == 0:
            observer.on_epoch_end(row(step // 2, 2, 1.0 / step, 0.25 * step / 2))
    observer.on_fit_end()


def scalars(events: EventAccumulator, tag: str) -> list[tuple[int, float]]:
    return [(event.step, round(event.value, 6)) for event in events.Scalars(tag)]


def test_scalars_have_the_global_epoch_and_step(tmp_path):
    observer = TensorBoardObserver(tmp_path / "events")
    two_stage_fit(observer)
    events = read_events(tmp_path / "events")  # readable before the writer is closed
    assert scalars(events, "epoch/accuracy") == [(1, 0.25), (2, 0.5), (3, 0.75)]
    assert scalars(events, "epoch/train_loss") == [(1, 1.0), (2, 0.25), (3, round(1 / 6, 6))]
    assert scalars(events, "epoch/error_rate") == [(1, 0.75), (2, 0.5), (3, 0.25)]
    assert [step for step, _ in scalars(events, "epoch/valid_loss")] == [1, 2, 3]
    assert scalars(events, "schedule/lr_group0") == [(1, 0.01), (2, 0.02), (3, 1e-4), (4, 2e-4), (5, 3e-4), (6, 4e-4)]
    assert scalars(events, "schedule/lr_group1") == [(3, 1e-3), (4, 2e-3), (5, 3e-3), (6, 4e-3)]
    assert scalars(events, "schedule/momentum")[:3] == [(1, 0.95), (2, 0.85), (3, 0.9)]
    assert "epoch/epoch" not in events.Tags()["scalars"] and "epoch/stage" not in events.Tags()["scalars"]
    observer.close()


def test_cell_end_writes_confusion_image_and_hparams_then_closes(tmp_path):
    observer = TensorBoardObserver(tmp_path / "events")
    two_stage_fit(observer)
    metrics = {"valid_accuracy": 0.75, "test_accuracy": 0.5, "test_dewind_accuracy": None,
               "per_class_accuracy": {"1": 1.0}, "seconds": 3.0}
    hparams = {"arch": "resnet18", "epochs": 3, "lr": 1e-3, "pretrained": False, "counts": [1, 2], "note": None}
    observer.on_cell_end(metrics, [[3, 1], [0, 4]], ["1", "2"], hparams)
    observer.on_step(7, [0.1], 0.9)  # after the end: ignored, no new file
    events = read_events(tmp_path / "events")

    images = events.Images("confusion_matrix")
    assert len(images) == 1 and images[0].step == 3 and images[0].width > 100
    assert scalars(events, "final/test_accuracy") == [(3, 0.5)]
    assert scalars(events, "final/valid_accuracy") == [(3, 0.75)]
    assert "final/test_dewind_accuracy" not in events.Tags()["scalars"]
    assert "final/seconds" not in events.Tags()["scalars"]

    plugin = events.PluginTagToContent("hparams")
    assert set(plugin) == {"_hparams_/experiment", "_hparams_/session_start_info", "_hparams_/session_end_info"}
    from tensorboard.plugins.hparams import plugin_data_pb2

    start = plugin_data_pb2.HParamsPluginData.FromString(plugin["_hparams_/session_start_info"])
    written = {name: value.WhichOneof("kind") for name, value in start.session_start_info.hparams.items()}
    # torch's summary writes bools as numbers (0/1); lists and None are left out.
    assert written == {"arch": "string_value", "epochs": "number_value", "lr": "number_value",
                       "pretrained": "number_value"}
    assert start.session_start_info.hparams["arch"].string_value == "resnet18"
    assert start.session_start_info.hparams["lr"].number_value == pytest.approx(1e-3)
    experiment = plugin_data_pb2.HParamsPluginData.FromString(plugin["_hparams_/experiment"])
    assert {m.name.tag for m in experiment.experiment.metric_infos} == {"final/valid_accuracy", "final/test_accuracy"}
    assert len(list((tmp_path / "events").iterdir())) == 1  # one run, one event file


def test_confusion_image_is_rgb_for_small_and_many_classes():
    small = confusion_image([[2, 0], [1, 3]], ["a", "b"])
    assert small.dtype == np.uint8 and small.ndim == 3 and small.shape[2] == 3
    many = confusion_image(np.eye(50, dtype=int).tolist(), [str(n) for n in range(1, 51)])
    assert many.shape[0] > small.shape[0]
    assert len(np.unique(many.reshape(-1, 3), axis=0)) > 2  # something was drawn


def test_nothing_is_created_before_the_first_event(tmp_path):
    observer = TensorBoardObserver(tmp_path / "events")
    observer.close()
    assert not (tmp_path / "events").exists()


def test_missing_tensorboard_degrades_to_one_note(tmp_path, monkeypatch, caplog):
    # None in sys.modules makes the import fail as if the package were not installed.
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    monkeypatch.setattr(tblog, "_missing_noted", False)
    with caplog.at_level(logging.WARNING, logger="study.engine.tblog"):
        first, second = TensorBoardObserver(tmp_path / "a"), TensorBoardObserver(tmp_path / "b")
        for observer in (first, second):
            assert not observer.enabled
            two_stage_fit(observer)
            observer.on_cell_end({"test_accuracy": 0.5}, [[1]], ["1"], {"arch": "x"})
            observer.close()
    assert [record.getMessage() for record in caplog.records] == [MISSING_NOTE]
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
