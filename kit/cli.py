"""What every command line of the kit shares: one-line errors, exit statuses, Ctrl-C and SIGTERM.

The contract (checked by the ``tests/*/test_*_cli_errors.py`` catalogues): a
bad input is one line on stderr, ``error: ...``, naming the value and what is
valid, with exit status 2; Ctrl-C (or SIGTERM) is one line ``interrupted: ...``
saying what is kept and how to resume, with exit status 130; never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import signal
import sys
from typing import Any, NoReturn

__all__ = [
    "USAGE_ERROR",
    "INTERRUPTED",
    "ArgumentParser",
    "report_error",
    "report_interrupt",
    "stop_on_sigterm",
    "path_problem",
]

# The exit status of a command given bad input (as argparse uses).
USAGE_ERROR = 2
# The exit status of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line ``error: MESSAGE (see PROG --help)`` and exit status 2.

    Plain argparse prints the whole usage text before the error; in a log the
    error is then easy to miss. Sub-commands (``add_subparsers``) get the same
    class, so their errors are one line too.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"error: {message} (see {self.prog} --help)\n")


def report_error(message: Any) -> int:
    """Print ``error: MESSAGE`` as one line on stderr; return ``USAGE_ERROR`` for ``main`` to return.

    Args:
        message: the problem, naming the bad value and what is valid (an exception's ``str``).
    """
    print(f"error: {message}", file=sys.stderr)
    return USAGE_ERROR


def report_interrupt(what_resumes: str) -> int:
    """Say in one line that the command was interrupted and what to do next; return ``INTERRUPTED``.

    Every command line of the kit catches ``KeyboardInterrupt`` in its ``main``
    and returns this, so Ctrl-C never prints a traceback. The line starts on a
    new line, after whatever progress line was being drawn.

    Args:
        what_resumes: what is kept and how to resume, e.g. "finished cells are
            kept; rerun the same command to resume".
    """
    print(f"\ninterrupted: {what_resumes}", file=sys.stderr)
    return INTERRUPTED


def _raise_interrupt(signum: int, frame: Any) -> NoReturn:
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """Make SIGTERM (a batch scheduler's stop, ``kill``) stop the command as Ctrl-C does.

    The command's ``except KeyboardInterrupt`` then leaves its work resumable
    and reports it in one line. Outside the main thread signals cannot be set;
    the default handling is kept there.
    """
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGTERM, _raise_interrupt)


# What an OS error on an output path usually means, by errno name.
_PATH_HINTS = {
    "ENOTDIR": "a file is in the way of a folder",
    "EEXIST": "a file is in the way of a folder",
    "EISDIR": "a folder is in the way of a file",
    "EACCES": "no permission to write there",
    "EROFS": "the file system is read-only",
    "EPERM": "the operating system does not allow it",
}


def path_problem(error: OSError, option: str = "--out") -> str:
    """One line for an OS error on an output path: the path, what is wrong, and what to do.

    Args:
        error: the error the OS raised.
        option: the command-line option that chose the path, named in the advice.

    Returns:
        e.g. ``"runs/x/cells: Not a directory (a file is in the way of a folder; choose another --out)"``.
    """
    path = error.filename if error.filename is not None else "a path"
    hint = _PATH_HINTS.get(errno.errorcode.get(error.errno or 0, ""), "")
    reason = error.strerror or type(error).__name__
    return f"{path}: {reason}" + (f" ({hint}; choose another {option})" if hint else "")
