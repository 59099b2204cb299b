"""The study's exception types, in one place so callers catch real classes.

Every layer (sweep, executors, the command lines, analysis) decides what to do
with an error by its type: a ``UserError`` is the user's to fix and is shown as
one line; ``CannotRunHere`` means a cell cannot run on this machine (missing
photo folder, weights that cannot be had offline) and is recorded as
``skipped``; anything else is a failure of the cell itself.

``UserError``, ``ConfigError`` and ``DiskFullError`` are the kit's own
(``kit.errors``, below every package), re-exported here so the study
catches and raises them from one place.
"""

from __future__ import annotations

from kit.errors import ConfigError, DiskFullError, UserError

__all__ = [
    "UserError",
    "ConfigError",
    "CannotRunHere",
    "DataError",
    "WeightsUnavailableError",
    "NonFiniteLossError",
    "RunLockedError",
    "DamagedFileError",
    "NotARunFolderError",
    "DeviceUnavailableError",
    "NotOurFolderError",
    "DiskFullError",
]


class CannotRunHere(UserError):
    """A cell that cannot run on this machine; the sweep records it as ``skipped``."""


class DataError(CannotRunHere, ValueError):
    """A dataset that cannot be used: missing folder, too few classes, no usable images."""


class WeightsUnavailableError(CannotRunHere, RuntimeError):
    """Pretrained weights were asked for but cannot be loaded (offline, no cached file)."""


class NonFiniteLossError(RuntimeError):
    """Training diverged: the loss (or the predictions) became NaN or infinite.

    Attributes:
        epoch: the 1-based epoch in which it happened (0 when unknown).
    """

    def __init__(self, message: str, epoch: int = 0) -> None:
        super().__init__(message)
        self.epoch = epoch


class RunLockedError(UserError, RuntimeError):
    """Another sweep is writing the same run folder."""


class DamagedFileError(UserError, ValueError):
    """A file the study wrote can no longer be read (truncated, edited by hand)."""


class DeviceUnavailableError(UserError, RuntimeError):
    """A device was asked for that this machine does not have (``--device cuda`` without CUDA)."""


class NotARunFolderError(UserError):
    """The path is not a run folder written by ``python -m study.sweep``."""


class NotOurFolderError(UserError):
    """An output folder that holds someone else's files: the kit writes only into its own folders."""
