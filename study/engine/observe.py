"""Training observers: hooks the learner calls so progress and logging stay out of the training loop.

A :class:`TrainingObserver` receives the events of one cell's training, in this
order::

    on_fit_start(stage, epochs, steps_per_epoch)      once per stage
        on_step(step, lrs, momentum)                   after every optimizer step
        on_batch_end(epoch, batch, batches)            after every training batch
        on_epoch_end(row)                              after every epoch (with validation)
    on_fit_end()                                       once per stage
    on_cell_end(metrics, confusion, classes, hparams)  once, after evaluation
    close()                                            once, whether the cell succeeded or not

Hooks receive host values only (floats, ints, lists), so an observer never
forces a device sync. Every hook is a no-op here; subclasses override what
they need. :class:`ObserverList` fans the events out to several observers and
keeps training alive when one of them breaks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["TrainingObserver", "ObserverList"]

_LOG = logging.getLogger(__name__)


class TrainingObserver:
    """Base class: every hook does nothing. Override the ones you need."""

    def on_fit_start(self, stage: int, epochs: int, steps_per_epoch: int) -> None:
        """A training stage begins.

        Args:
            stage: 1-based stage number (a plain fit is stage 1; fine-tuning's unfrozen part is stage 2).
            epochs: epochs in this stage.
            steps_per_epoch: optimizer steps (training batches) per epoch.
        """

    def on_step(self, step: int, lrs: list[float], momentum: float) -> None:
        """An optimizer step was taken. No loss here: reading it would wait for the device.

        Args:
            step: 1-based optimizer step, counted over the whole cell (across stages).
            lrs: learning rate of each parameter group after the step, in group order.
            momentum: momentum (or Adam's beta1) of the first parameter group after the step.
        """

    def on_batch_end(self, epoch: int, batch: int, batches: int) -> None:
        """A training batch finished.

        Args:
            epoch: 1-based epoch within the current stage.
            batch: batches finished so far in this epoch (1..batches).
            batches: training batches in this epoch.
        """

    def on_epoch_end(self, row: dict[str, Any]) -> None:
        """An epoch (training + validation) finished.

        Args:
            row: the history row: ``epoch`` (over the whole cell), ``train_loss``, ``valid_loss``,
                ``error_rate``, ``accuracy`` (validation), ``time`` (seconds) and ``stage``.
        """

    def on_fit_end(self) -> None:
        """The current stage finished all its epochs."""

    def on_cell_end(
        self, metrics: dict[str, Any], confusion: list[list[int]], classes: list[str], hparams: dict[str, Any]
    ) -> None:
        """The cell was trained and evaluated.

        Args:
            metrics: the metrics dict written to ``metrics.json``.
            confusion: confusion matrix, shape (n_classes, n_classes): row = true class, column = predicted.
            classes: class names, in the order of the matrix rows.
            hparams: the cell's settings (the spec as a dict).
        """

    def close(self) -> None:
        """Release files and terminal bars. Called once at the end, also when the cell failed."""


class ObserverList(TrainingObserver):
    """Forwards every hook to several observers, in order.

    An observer that raises in a hook is disabled for the rest of the cell after
    one warning line; training goes on. ``KeyboardInterrupt`` and other
    non-``Exception`` errors still propagate.

    Args:
        observers: the observers to call.
    """

    def __init__(self, observers: Iterable[TrainingObserver] = ()) -> None:
        self.observers: list[TrainingObserver] = list(observers)
        self._disabled: set[int] = set()

    @property
    def active(self) -> Sequence[TrainingObserver]:
        """The observers still receiving events."""
        return [o for i, o in enumerate(self.observers) if i not in self._disabled]

    def _forward(self, hook: str, *args: Any) -> None:
        for index, observer in enumerate(self.observers):
            if index in self._disabled:
                continue
            try:
                getattr(observer, hook)(*args)
            except Exception as error:  # an observer must never stop training
                self._disabled.add(index)
                _LOG.warning(
                    "%s disabled: %s raised %s: %s", type(observer).__name__, hook, type(error).__name__, error
                )
                if hook != "close":
                    self._close_quietly(observer)

    @staticmethod
    def _close_quietly(observer: TrainingObserver) -> None:
        """Let a broken observer release its files; a second failure is not worth another warning."""
        try:
            observer.close()
        except Exception:
            pass

    def on_fit_start(self, stage: int, epochs: int, steps_per_epoch: int) -> None:
        self._forward("on_fit_start", stage, epochs, steps_per_epoch)

    def on_step(self, step: int, lrs: list[float], momentum: float) -> None:
        self._forward("on_step", step, lrs, momentum)

    def on_batch_end(self, epoch: int, batch: int, batches: int) -> None:
        self._forward("on_batch_end", epoch, batch, batches)

    def on_epoch_end(self, row: dict[str, Any]) -> None:
        self._forward("on_epoch_end", row)

    def on_fit_end(self) -> None:
        self._forward("on_fit_end")

    def on_cell_end(
        self, metrics: dict[str, Any], confusion: list[list[int]], classes: list[str], hparams: dict[str, Any]
    ) -> None:
        self._forward("on_cell_end", metrics, confusion, classes, hparams)

    def close(self) -> None:
        self._forward("close")
