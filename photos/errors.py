"""The one error type the command line turns into a one-line message and exit 2, and the checks that raise it."""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


class PhotosError(Exception):
    """Bad input (URL file, output folder) described in one line naming the path."""


def ensure_writable_folder(folder: Path, flag: str) -> None:
    """Create ``folder`` if needed and prove we can write in it.

    A probe file is created and removed, rather than trusting ``os.access``,
    which answers yes for root even on a read-only folder.

    Args:
        folder: the folder to write into.
        flag: how the user named it (e.g. ``--out``), for the message.

    Raises:
        PhotosError: the path is a file, or the folder cannot be created or written.
    """
    if folder.exists() and not folder.is_dir():
        raise PhotosError(f"{flag} {folder}: is a file, not a folder; choose a folder path")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".photos-probe-"):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise PhotosError(f"{flag} {folder}: cannot write there ({reason}); choose a writable folder") from None


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` with forward slashes (stable in CSV files)."""
    return Path(os.path.relpath(path, root)).as_posix()


def check_number(flag: str, value: float, low: float, high: float, *, integer: bool = False,
                 above_low: bool = False, unit: str = "") -> float:
    """``value`` if it is a finite number in range, else a PhotosError naming the flag and the range.

    Args:
        flag: the option as the user typed it (``--timeout``), for the message.
        value: the parsed number (NaN and infinities are refused).
        low, high: the valid range; ``high`` is always included.
        integer: whole numbers only.
        above_low: ``low`` itself is excluded (a timeout must be more than 0).
        unit: what the number counts (``seconds``), for the message.

    Returns:
        ``value`` unchanged.

    Raises:
        PhotosError: ``"--timeout nan: expected a number of seconds > 0 and <= 3600"``.
    """
    inside = math.isfinite(value) and (value > low if above_low else value >= low) and value <= high
    if integer and inside:
        inside = float(value).is_integer()
    if not inside:
        kind = ("a whole number" if integer else "a number") + (f" of {unit}" if unit else "")
        shown = str(value) if isinstance(value, int) else f"{value:g}"
        raise PhotosError(f"{flag} {shown}: expected {kind} {'>' if above_low else '>='} {low:g} and <= {high:g}")
    return value


LOCK_NAME = ".photos.lock"


@contextlib.contextmanager
def folder_lock(folder: Path, command: str, required: bool = True) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` so two ``photos`` runs never move the same files.

    The lock is ``fcntl.flock`` on ``folder/.photos.lock`` (a hidden name, so
    image readers and ``verify`` skip it), which holds the holder's pid for
    the message of a second run. The kernel releases the lock when the
    process ends, however it ends, so a killed run never leaves the folder
    locked (only a stale file that the next run reuses). On a normal end the
    file is removed while still locked; a run that locked a file removed
    meanwhile sees its inode gone and locks the new one.

    Args:
        folder: an existing folder.
        command: ``fetch`` or ``verify``, written into the lock file.
        required: when False (a dry run, which changes nothing), a folder where no lock file can be
            made is used unlocked instead of refused.

    Raises:
        PhotosError: another run holds the lock ("in use by pid N"), or (``required``) the lock file
            cannot be made.
    """
    import fcntl  # POSIX only, as the rest of the kit

    path = folder / LOCK_NAME
    while True:
        try:
            handle = open(path, "a+", encoding="utf-8")
        except OSError as error:
            if not required:
                yield
                return
            raise PhotosError(f"folder {folder}: cannot make the lock file {LOCK_NAME} "
                              f"({error.strerror or type(error).__name__}); choose a writable folder") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise PhotosError(f"folder {folder}: in use by another photos run ({holder}); "
                              "wait for it to finish, then run this again") from None
        if _same_file(handle, path):
            break
        handle.close()  # the holder removed the file after we opened it: lock the current one
    with handle:
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, photos {command}\n")
        handle.flush()
        try:
            yield
        finally:
            path.unlink(missing_ok=True)  # still locked: no other run can hold this inode now


def _same_file(handle, path: Path) -> bool:
    """Whether the open ``handle`` is still the file at ``path``."""
    try:
        return os.path.samestat(os.fstat(handle.fileno()), os.stat(path))
    except FileNotFoundError:
        return False
