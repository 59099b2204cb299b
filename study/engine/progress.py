"""Progress display for training and for long loops, in one of four modes.

- ``bar``: tqdm bars (one per training stage over its epochs, plus a nested
  per-batch bar when an epoch is long).
- ``lines``: plain lines, for logs and pipes: one line per epoch, or one line
  every ~10% of a loop.
- ``quiet``: nothing.
- ``auto``: ``bar`` when the stream is a terminal, else ``lines``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO, TypeVar

from tqdm.auto import tqdm

from kit.formatting import duration, number
from study.errors import ConfigError
from study.engine.observe import TrainingObserver

__all__ = ["PROGRESS_MODES", "BATCH_BAR_MIN_BATCHES", "resolve_mode", "ProgressObserver", "progress_iter"]

PROGRESS_MODES = ("auto", "bar", "lines", "quiet")
# Epochs with more batches than this get a nested per-batch bar; shorter ones finish too fast to need it.
BATCH_BAR_MIN_BATCHES = 50

T = TypeVar("T")


def resolve_mode(mode: str, stream: TextIO) -> str:
    """The concrete mode (``bar``, ``lines`` or ``quiet``) for ``mode`` on ``stream``.

    Raises:
        ConfigError: ``mode`` is not one of :data:`PROGRESS_MODES`.
    """
    if mode not in PROGRESS_MODES:
        raise ConfigError(f"progress mode {mode!r} is not one of: {', '.join(PROGRESS_MODES)}")
    if mode != "auto":
        return mode
    isatty = getattr(stream, "isatty", None)
    return "bar" if isatty is not None and isatty() else "lines"


class ProgressObserver(TrainingObserver):
    """Shows training progress on a stream.

    Args:
        mode: one of :data:`PROGRESS_MODES`.
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
        self._epoch_bar: tqdm | None = None
        self._batch_bar: tqdm | None = None

    def _label(self, text: str) -> str:
        return f"{self.desc} {text}" if self.desc else text

    def _stage_prefix(self) -> str:
        # A single-stage fit reads "epoch 3/8"; from a second stage on, lines say which stage they belong to.
        return f"stage {self._stage} " if self._stage > 1 else ""

    def on_fit_start(self, stage: int, epochs: int, steps_per_epoch: int) -> None:
        self._close_bars()
        self._stage, self._epochs, self._epoch_in_stage = stage, epochs, 0
        if self.mode == "bar":
            self._epoch_bar = tqdm(
                total=epochs, desc=self._label(f"stage {stage}"), unit="epoch", file=self.stream,
                leave=True, dynamic_ncols=True,
            )

    def on_batch_end(self, epoch: int, batch: int, batches: int) -> None:
        if self.mode != "bar" or batches <= BATCH_BAR_MIN_BATCHES:
            return
        if self._batch_bar is None:
            self._batch_bar = tqdm(
                total=batches, desc=self._label(f"epoch {epoch}/{self._epochs}"), unit="batch",
                file=self.stream, leave=False, dynamic_ncols=True,
                position=1 if self._epoch_bar is not None else 0,
            )
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


def progress_iter(
    iterable: Iterable[T], total: int | None = None, desc: str = "", mode: str = "auto",
    stream: TextIO | None = None,
) -> Iterator[T]:
    """Iterate ``iterable`` while showing progress.

    ``bar``: a tqdm bar. ``lines``: a line every ~10% (``desc: 3/30 (10%) 4 s``) and one at the end.
    ``quiet``: nothing. ``auto``: ``bar`` on a terminal, else ``lines``.

    Args:
        iterable: the items.
        total: number of items (default: ``len(iterable)`` when it has one).
        desc: what is being done, e.g. ``"analysing cells"``.
        mode: one of :data:`PROGRESS_MODES`.
        stream: where to write (default: standard error).

    Returns:
        an iterator over the items of ``iterable``.

    Raises:
        ConfigError: unknown ``mode`` (raised at the call, before any item is read).
    """
    stream = sys.stderr if stream is None else stream
    resolved = resolve_mode(mode, stream)
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    if resolved == "quiet":
        return iter(iterable)
    if resolved == "bar":
        return iter(tqdm(iterable, total=total, desc=desc or None, file=stream, dynamic_ncols=True))
    return _progress_lines(iterable, total, desc, stream)


def _progress_lines(iterable: Iterable[T], total: int | None, desc: str, stream: TextIO) -> Iterator[T]:
    """``lines`` mode of :func:`progress_iter`: a line at each tenth of ``total`` and at the end."""
    started = time.perf_counter()
    prefix = f"{desc}: " if desc else ""
    # Item counts at which to report: the first count past each 10% mark (all of them for short loops).
    marks = {max(1, (total * k + 9) // 10) for k in range(1, 11)} if total else set()
    done = 0

    def report() -> None:
        share = f" ({100 * done // total}%)" if total else ""
        of = f"/{total}" if total else ""
        stream.write(f"{prefix}{done}{of}{share} {duration(time.perf_counter() - started)}\n")
        stream.flush()

    for item in iterable:
        yield item
        done += 1
        if done in marks:
            report()
    if done not in marks:  # unknown total, or fewer items than announced
        report()
