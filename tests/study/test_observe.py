"""ObserverList: forwarding, and a broken observer that must not stop training."""

from __future__ import annotations

import logging

import pytest

from study.engine.observe import ObserverList, TrainingObserver


class Recorder(TrainingObserver):
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def on_fit_start(self, stage, epochs, steps_per_epoch):
        self.calls.append(("on_fit_start", stage, epochs, steps_per_epoch))

    def on_step(self, step, lrs, momentum):
        self.calls.append(("on_step", step, lrs, momentum))

    def on_batch_end(self, epoch, batch, batches):
        self.calls.append(("on_batch_end", epoch, batch, batches))

    def on_epoch_end(self, row):
        self.calls.append(("on_epoch_end", row))

    def on_fit_end(self):
        self.calls.append(("on_fit_end",))

    def on_cell_end(self, metrics, confusion, classes, hparams):
        self.calls.append(("on_cell_end", metrics, confusion, classes, hparams))

    def close(self):
        self.calls.append(("close",))


class BreaksOnStep(Recorder):
    def on_step(self, step, lrs, momentum):
        super().on_step(step, lrs, momentum)
        raise ValueError("bad lr")


def drive(observer: TrainingObserver) -> None:
    observer.on_fit_start(1, 2, 3)
    for step in (1, 2):
        observer.on_step(step, [0.1, 0.2], 0.9)
        observer.on_batch_end(1, step, 2)
    observer.on_epoch_end({"epoch": 1, "train_loss": 0.5})
    observer.on_fit_end()
    observer.on_cell_end({"test_accuracy": 0.5}, [[1, 0], [0, 1]], ["1", "2"], {"arch": "resnet18"})
    observer.close()


EXPECTED = [
    ("on_fit_start", 1, 2, 3),
    ("on_step", 1, [0.1, 0.2], 0.9),
    ("on_batch_end", 1, 1, 2),
    ("on_step", 2, [0.1, 0.2], 0.9),
    ("on_batch_end", 1, 2, 2),
    ("on_epoch_end", {"epoch": 1, "train_loss": 0.5}),
    ("on_fit_end",),
    ("on_cell_end", {"test_accuracy": 0.5}, [[1, 0], [0, 1]], ["1", "2"], {"arch": "resnet18"}),
    ("close",),
]


def test_base_hooks_do_nothing():
    drive(TrainingObserver())  # every hook exists and accepts the contract's arguments


def test_forwards_every_hook_in_order_to_every_observer():
    first, second = Recorder(), Recorder()
    drive(ObserverList([first, second]))
    assert first.calls == EXPECTED
    assert second.calls == EXPECTED


def test_broken_observer_is_disabled_after_one_warning(caplog):
    broken, healthy = BreaksOnStep(), Recorder()
    observers = ObserverList([broken, healthy])
    with caplog.at_level(logging.WARNING, logger="study.engine.observe"):
        drive(observers)
    assert healthy.calls == EXPECTED
    # The broken one saw its fit start and the failing step, then was closed and left alone.
    assert broken.calls == [("on_fit_start", 1, 2, 3), ("on_step", 1, [0.1, 0.2], 0.9), ("close",)]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["BreaksOnStep disabled: on_step raised ValueError: bad lr"]
    assert observers.active == [healthy]


def test_keyboard_interrupt_is_not_swallowed():
    class Interrupts(TrainingObserver):
        def on_fit_start(self, stage, epochs, steps_per_epoch):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ObserverList([Interrupts()]).on_fit_start(1, 1, 1)
