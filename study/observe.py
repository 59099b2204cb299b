"""Training observers: the hooks ``study.learner.Learner`` and ``study.cell.run_cell`` call.

A ``TrainingObserver`` does nothing by default; subclasses override the hooks
they need (a progress display, a TensorBoard writer).
"""

from __future__ import annotations

from typing import Any

__all__ = ["TrainingObserver"]


class TrainingObserver:
    """No-op hooks, called in this order: per stage ``on_fit_start``, then per step ``on_step`` and
    ``on_batch_end``, per epoch ``on_epoch_end``, then ``on_fit_end``; once per cell ``on_cell_end``."""

    def on_fit_start(self, stage: int, epochs: int, steps_per_epoch: int) -> None:
        """A one-cycle fit (stage ``stage``, 1-based) of ``epochs`` epochs begins."""

    def on_step(self, step: int, lrs: list[float], momentum: float) -> None:
        """After optimisation step ``step`` (counted over every stage): per-group lrs and beta1."""

    def on_batch_end(self, epoch: int, batch: int, batches: int) -> None:
        """Batch ``batch`` of ``batches`` in epoch ``epoch`` is done (no device sync here)."""

    def on_epoch_end(self, row: dict[str, Any]) -> None:
        """An epoch's history row: epoch, train_loss, valid_loss, error_rate, accuracy, time, stage."""

    def on_fit_end(self) -> None:
        """The fit is over."""

    def on_cell_end(
        self, metrics: dict[str, Any], confusion: list[list[int]], classes: list[str], hparams: dict[str, Any]
    ) -> None:
        """The cell finished: its metrics, confusion matrix and setting fields."""
