"""TensorBoard event files for one cell: curves, schedules, confusion matrix and hparams.

``TensorBoardObserver(log_dir)`` writes, in one run folder per cell:

- ``epoch/<column>``: every numeric column of the history row (``train_loss``,
  ``valid_loss``, ``error_rate``, ``accuracy``, ``time``) at the epoch counted
  over the whole cell (stage 2 continues where stage 1 stopped);
- ``schedule/lr_group<i>`` and ``schedule/momentum`` at every optimizer step;
- ``confusion_matrix``: an image of the confusion matrix when the cell ends;
- the hparams plugin's record: the cell's scalar and string settings with the
  final ``final/<name>_accuracy`` metrics, so runs can be compared in the HParams tab.

Events are flushed after every epoch and the writer is closed when the cell
ends, so the files are complete even if the cell fails later. The
``tensorboard`` package is optional: without it the observer logs one line
and does nothing.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from study.engine.observe import TrainingObserver

__all__ = ["TensorBoardObserver", "MISSING_NOTE", "confusion_image"]

_LOG = logging.getLogger(__name__)
MISSING_NOTE = "tensorboard is not installed; pip install tensorboard to get event files"
# The note is said once per process, not once per cell of a sweep.
_missing_noted = False
# Class names are written in the cells only while they stay legible.
_ANNOTATE_MAX_CLASSES = 20


def _summary_writer_class() -> type | None:
    """``SummaryWriter``, or None (after one logged note) when tensorboard is not installed."""
    global _missing_noted
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        if not _missing_noted:
            _LOG.warning(MISSING_NOTE)
            _missing_noted = True
        return None
    return SummaryWriter


def _finite_number(value: Any) -> float | None:
    """``value`` as a float when it is a finite real number (bools excluded), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def confusion_image(confusion: list[list[int]], classes: list[str]) -> np.ndarray:
    """Render a confusion matrix (rows = true, columns = predicted) as an RGB image.

    Uses matplotlib's object API (no pyplot, no global backend change).

    Args:
        confusion: counts, shape (n, n).
        classes: the n class names.

    Returns:
        uint8 array, shape (height, width, 3).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    matrix = np.asarray(confusion, dtype=np.int64).reshape(len(classes), len(classes))
    n = len(classes)
    side = min(12.0, max(4.0, 0.3 * n + 2.0))
    figure = Figure(figsize=(side, side), dpi=80)
    canvas = FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.imshow(matrix, cmap="Blues", interpolation="nearest")
    ticks = np.arange(n)
    # Long class lists (counting 1..50) keep every 5th label so they stay readable.
    shown = ticks if n <= _ANNOTATE_MAX_CLASSES else ticks[::5]
    axes.set_xticks(shown, [classes[i] for i in shown], rotation=90 if max(map(len, classes), default=0) > 3 else 0)
    axes.set_yticks(shown, [classes[i] for i in shown])
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if n <= _ANNOTATE_MAX_CLASSES:
        threshold = matrix.max() / 2 if matrix.size else 0
        for (row, column), count in np.ndenumerate(matrix):
            axes.text(column, row, str(count), ha="center", va="center", fontsize=8,
                      color="white" if count > threshold else "black")
    figure.tight_layout()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


class TensorBoardObserver(TrainingObserver):
    """Writes a cell's training to TensorBoard event files under ``log_dir``.

    The folder is created at the first event, so a cell that fails before training leaves none.

    Args:
        log_dir: the cell's events folder.
    """

    def __init__(self, log_dir: str | Path) -> None:
        self.log_dir = Path(log_dir)
        self._writer_class = _summary_writer_class()
        self._writer: Any = None
        self._summary_class: Any = None
        self._closed = False
        self._epoch = 0
        self._step = 0

    @property
    def enabled(self) -> bool:
        """Whether event files are written (tensorboard is installed)."""
        return self._writer_class is not None

    def _write(self) -> Any:
        """The open SummaryWriter, or None when disabled or already closed."""
        if self._writer_class is None or self._closed:
            return None
        if self._writer is None:
            from tensorboard.compat.proto.summary_pb2 import Summary  # installed with SummaryWriter's tensorboard

            self._summary_class = Summary
            self._writer = self._writer_class(log_dir=str(self.log_dir))
        return self._writer

    def on_step(self, step: int, lrs: list[float], momentum: float) -> None:
        writer = self._write()
        if writer is None:
            return
        # Counted here rather than trusting ``step`` so the curve is monotonic across stages whatever the caller counts.
        self._step += 1
        Summary = self._summary_class
        values = [
            Summary.Value(tag=f"schedule/lr_group{group}", simple_value=float(lr)) for group, lr in enumerate(lrs)
        ]
        if _finite_number(momentum) is not None:
            values.append(Summary.Value(tag="schedule/momentum", simple_value=float(momentum)))
        # One event for all of a step's values: a third of the cost of one add_scalar per value.
        writer.file_writer.add_summary(Summary(value=values), self._step)

    def on_epoch_end(self, row: dict[str, Any]) -> None:
        writer = self._write()
        if writer is None:
            return
        self._epoch += 1
        for name, value in row.items():
            number = _finite_number(value)
            if number is not None and name not in ("epoch", "stage"):
                writer.add_scalar(f"epoch/{name}", number, self._epoch)
        writer.flush()  # once an epoch: a cell that dies later keeps its curves

    def on_fit_end(self) -> None:
        if self._writer is not None and not self._closed:
            self._writer.flush()

    def on_cell_end(
        self, metrics: dict[str, Any], confusion: list[list[int]], classes: list[str], hparams: dict[str, Any]
    ) -> None:
        writer = self._write()
        if writer is None:
            return
        try:
            if classes and confusion:
                writer.add_image("confusion_matrix", confusion_image(confusion, classes), self._epoch,
                                 dataformats="HWC")
            self._write_hparams(writer, metrics, hparams)
        finally:
            self.close()

    def _write_hparams(self, writer: Any, metrics: dict[str, Any], hparams: dict[str, Any]) -> None:
        """The hparams plugin record in this run (not a timestamped sub-run, as ``add_hparams`` would make)."""
        from torch.utils.tensorboard.summary import hparams as hparams_summaries

        # Only values the plugin can hold; torch records bools as numbers (0/1).
        settings = {k: v for k, v in hparams.items() if isinstance(v, (bool, int, float, str))}
        final = {
            f"final/{name}": number
            for name, value in metrics.items()
            if name.endswith("accuracy") and (number := _finite_number(value)) is not None
        }
        experiment, session_start, session_end = hparams_summaries(settings, final)
        for summary in (experiment, session_start, session_end):
            writer.file_writer.add_summary(summary)
        for tag, number in final.items():
            writer.add_scalar(tag, number, self._epoch)

    def close(self) -> None:
        if self._writer is not None and not self._closed:
            self._writer.close()
        self._closed = True
