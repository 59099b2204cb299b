"""The study's exception types, in one place so callers catch real classes.

Every layer (sweep, executors, the command lines, analysis) decides what to do
with an error by its type: a ``UserError`` is the user's to fix and is shown as
one line; ``CannotRunHere`` means a cell cannot run on this machine (missing
photo folder, weights that cannot be had offline) and is recorded as
``skipped``; anything else is a failure of the cell itself.
"""

from __future__ import annotations

import sys

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
    "INTERRUPTED",
    "report_interrupt",
]


class UserError(Exception):
    """A problem the user fixes (a bad value, a missing file); shown as one line, no traceback."""


class ConfigError(UserError, ValueError):
    """A configuration value that is unknown, of the wrong type, or out of range."""


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


class DiskFullError(UserError, OSError):
    """The disk (or quota) filled up while writing a file; the message names the file.

    Nothing is wrong with the cell itself, and every later cell would fail the
    same way, so the run stops (as rsync does) with this one line and the cell
    is left pending, to rerun once there is space
    (``study.run.executors.record_failure``).

    Args:
        path: the file being written.
    """

    def __init__(self, path: str) -> None:
        super().__init__(28, "No space left on device", path)  # errno.ENOSPC on every POSIX system

    def __str__(self) -> str:
        return (f"no space left on device while writing {self.filename}; free some space and rerun "
                "(nothing half-written was kept)")


# The exit status of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130


def report_interrupt(what_resumes: str) -> int:
    """Say in one line that the command was interrupted and what to do next; return ``INTERRUPTED``.

    Every command line of the kit catches ``KeyboardInterrupt`` in its ``main``
    and returns this, so Ctrl-C never prints a traceback.

    Args:
        what_resumes: what is kept and how to resume, e.g. "finished cells are
            kept; rerun the same command to resume".
    """
    print(f"\ninterrupted: {what_resumes}", file=sys.stderr)
    return INTERRUPTED
