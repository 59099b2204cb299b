"""ProgressObserver in each mode, fed by hand (no training)."""

from __future__ import annotations

import io

import pytest

from study.errors import ConfigError
from study.engine.progress import BATCH_BAR_MIN_BATCHES, ProgressObserver

ROWS = [
    {"epoch": 1, "train_loss": 1.2345, "valid_loss": 1.1, "error_rate": 0.6, "accuracy": 0.4, "time": 11.6,
     "stage": 1},
    {"epoch": 2, "train_loss": 0.8, "valid_loss": 0.75, "error_rate": 0.3, "accuracy": 0.7, "time": 12.2, "stage": 1},
    {"epoch": 3, "train_loss": 0.512, "valid_loss": 0.431, "error_rate": 0.126, "accuracy": 0.874, "time": 75, "stage": 1},
]


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def simulate_fit(observer: ProgressObserver, batches: int = 3, rows=ROWS, stage: int = 1) -> None:
    observer.on_fit_start(stage, len(rows), batches)
    for epoch, row in enumerate(rows, start=1):
        for batch in range(1, batches + 1):
            observer.on_step(batch, [1e-3], 0.9)
            observer.on_batch_end(epoch, batch, batches)
        observer.on_epoch_end(row)
    observer.on_fit_end()


def test_lines_mode_writes_one_line_per_epoch_with_the_numbers():
    stream = io.StringIO()
    simulate_fit(ProgressObserver("lines", "", stream=stream), batches=BATCH_BAR_MIN_BATCHES + 10)
    assert stream.getvalue().splitlines() == [
        "epoch 1/3 train_loss 1.234 valid_loss 1.100 accuracy 0.400 (12 s)",
        "epoch 2/3 train_loss 0.800 valid_loss 0.750 accuracy 0.700 (12 s)",
        "epoch 3/3 train_loss 0.512 valid_loss 0.431 accuracy 0.874 (1 min 15 s)",
    ]


def test_lines_mode_names_the_cell_and_later_stages():
    stream = io.StringIO()
    observer = ProgressObserver("lines", "cell-7", stream=stream)
    simulate_fit(observer, rows=ROWS[:1])
    simulate_fit(observer, rows=[{**ROWS[1], "valid_loss": None}], stage=2)
    assert stream.getvalue().splitlines() == [
        "cell-7 epoch 1/1 train_loss 1.234 valid_loss 1.100 accuracy 0.400 (12 s)",
        "cell-7 stage 2 epoch 1/1 train_loss 0.800 valid_loss – accuracy 0.700 (12 s)",
    ]


def test_auto_mode_follows_the_stream():
    assert ProgressObserver("auto", stream=io.StringIO()).mode == "lines"
    assert ProgressObserver("auto", stream=FakeTty()).mode == "bar"


def test_quiet_mode_writes_nothing():
    stream = FakeTty()
    observer = ProgressObserver("quiet", "cell", stream=stream)
    simulate_fit(observer, batches=BATCH_BAR_MIN_BATCHES + 10)
    observer.close()
    assert stream.getvalue() == ""


def test_bar_mode_draws_and_closes_its_bars():
    stream = FakeTty()
    observer = ProgressObserver("bar", "cell", stream=stream)
    observer.on_fit_start(1, 2, BATCH_BAR_MIN_BATCHES + 1)
    observer.on_batch_end(1, 1, BATCH_BAR_MIN_BATCHES + 1)
    assert observer._batch_bar is not None  # long epoch: a nested per-batch bar
    observer.on_batch_end(1, BATCH_BAR_MIN_BATCHES + 1, BATCH_BAR_MIN_BATCHES + 1)
    observer.on_epoch_end(ROWS[0])
    assert observer._batch_bar is None
    simulate_fit(observer, batches=3, rows=ROWS)  # a second stage with short epochs: no batch bar
    assert observer._epoch_bar is None and observer._batch_bar is None
    text = stream.getvalue()
    assert "cell stage 1" in text and "3/3" in text
    assert "accuracy=0.874" in text


def test_bar_mode_close_after_an_interrupted_fit_closes_the_bars():
    observer = ProgressObserver("bar", stream=FakeTty())
    observer.on_fit_start(1, 5, BATCH_BAR_MIN_BATCHES + 1)
    observer.on_batch_end(1, 1, BATCH_BAR_MIN_BATCHES + 1)
    observer.close()  # the fit raised: no on_fit_end
    assert observer._epoch_bar is None and observer._batch_bar is None


def test_unknown_mode_is_a_one_line_config_error():
    with pytest.raises(ConfigError, match=r"progress mode 'loud' is not one of: auto, bar, lines, quiet"):
        ProgressObserver("loud")
