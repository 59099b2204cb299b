"""Training progress on the console: the training observer over ``kit.progress``'s modes.

- ``bar``: a tqdm bar per training stage over its epochs, plus a nested
  per-batch bar when an epoch is long.
- ``lines``: one line per epoch, for logs and pipes.
- ``quiet``: nothing.
- ``auto``: ``bar`` when the stream is a terminal, else ``lines``.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from kit.formatting import duration, number
from kit.progress import Bar, bar, resolve_mode
from study.engine.observe import TrainingObserver

__all__ = ["BATCH_BAR_MIN_BATCHES", "ProgressObserver"]

# Epochs with more batches than this get a nested per-batch bar; shorter ones finish too fast to need it.
BATCH_BAR_MIN_BATCHES = 50


class ProgressObserver(TrainingObserver):
    """Shows training progress on a stream.

    Args:
        mode: one of ``kit.progress.PROGRESS_MODES``.
        desc: a short name shown in front of every bar and line (e.g. the cell id); may be empty.
        stream: where to write (default: standard error).

    Raises:
        ConfigError: unknown ``mode``.
    """

    def __init__(self, mode: str = "auto", desc: str = "", stream: TextIO | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.mode = resolve_mode(mode, self.stream)
        self.desc = desc
        self._stage = 1
        self._epochs = 0
        self._epoch_in_stage = 0
        self._epoch_bar: Bar | None = None
        self._batch_bar: Bar | None = None

    def _label(self, text: str) -> str:
        return f"{self.desc} {text}" if self.desc else text

    def _stage_prefix(self) -> str:
        # A single-stage fit reads "epoch 3/8"; from a second stage on, lines say which stage they belong to.
        return f"stage {self._stage} " if self._stage > 1 else ""

    def on_fit_start(self, stage: int, epochs: int, steps_per_epoch: int) -> None:
        self._close_bars()
        self._stage, self._epochs, self._epoch_in_stage = stage, epochs, 0
        if self.mode == "bar":
            self._epoch_bar = bar(epochs, self._label(f"stage {stage}"), "epoch", self.stream)

    def on_batch_end(self, epoch: int, batch: int, batches: int) -> None:
        if self.mode != "bar" or batches <= BATCH_BAR_MIN_BATCHES:
            return
        if self._batch_bar is None:
            self._batch_bar = bar(batches, self._label(f"epoch {epoch}/{self._epochs}"), "batch", self.stream,
                                  leave=False, position=1 if self._epoch_bar is not None else 0)
        self._batch_bar.update(max(0, batch - self._batch_bar.n))

    def on_epoch_end(self, row: dict[str, Any]) -> None:
        self._epoch_in_stage += 1
        if self.mode == "lines":
            self.stream.write(self.epoch_line(row) + "\n")
            self.stream.flush()
        elif self.mode == "bar":
            self._close_batch_bar()
            if self._epoch_bar is not None:
                self._epoch_bar.set_postfix(
                    train_loss=number(row.get("train_loss")), valid_loss=number(row.get("valid_loss")),
                    accuracy=number(row.get("accuracy")), refresh=False,
                )
                self._epoch_bar.update(1)

    def epoch_line(self, row: dict[str, Any]) -> str:
        """The ``lines``-mode line for a history row, e.g.
        ``epoch 3/8 train_loss 0.512 valid_loss 0.431 accuracy 0.874 (12 s)``."""
        text = (
            f"{self._stage_prefix()}epoch {self._epoch_in_stage}/{self._epochs}"
            f" train_loss {number(row.get('train_loss'))} valid_loss {number(row.get('valid_loss'))}"
            f" accuracy {number(row.get('accuracy'))}"
        )
        if row.get("time") is not None:
            text += f" ({duration(float(row['time']))})"
        return self._label(text)

    def on_fit_end(self) -> None:
        self._close_bars()

    def close(self) -> None:
        self._close_bars()

    def _close_batch_bar(self) -> None:
        if self._batch_bar is not None:
            self._batch_bar.close()
            self._batch_bar = None

    def _close_bars(self) -> None:
        self._close_batch_bar()
        if self._epoch_bar is not None:
            self._epoch_bar.close()
            self._epoch_bar = None

