"""The exception types every package of the kit shares: a user's mistake, a bad value, a full disk.

A ``UserError`` is the user's to fix and every command line shows it as one
line (``kit.cli.report_error``), no traceback. ``study.errors`` re-exports
these and adds the study's own types.
"""

from __future__ import annotations

import errno

__all__ = ["UserError", "ConfigError", "DiskFullError"]


class UserError(Exception):
    """A problem the user fixes (a bad value, a missing file); shown as one line, no traceback."""


class ConfigError(UserError, ValueError):
    """A configuration value that is unknown, of the wrong type, or out of range."""


class DiskFullError(UserError, OSError):
    """The disk (or quota) filled up while writing a file; the message names the file.

    Nothing is wrong with the work itself, and every later write would fail the
    same way, so a command stops (as rsync does) with this one line; the sweep
    leaves the cell pending, to rerun once there is space
    (``study.run.executors.record_failure``).

    Args:
        path: the file being written.
    """

    def __init__(self, path: str) -> None:
        super().__init__(errno.ENOSPC, "No space left on device", path)

    def __str__(self) -> str:
        return (f"no space left on device while writing {self.filename}; free some space and rerun "
                "(nothing half-written was kept)")
