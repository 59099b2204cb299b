"""The one error type the command line turns into a one-line message and exit 2."""

from __future__ import annotations

import os
import tempfile
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
