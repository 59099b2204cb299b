"""Atomic file writes and tolerant JSON reads, for every file the kit writes.

Every file the kit writes goes through one of the ``atomic_*`` helpers: the
bytes go to a temporary file in the destination's folder, are flushed and
fsynced, and the temporary file is renamed over the destination with
``os.replace`` (atomic on POSIX and Windows within one file system). A run
killed at any moment, SIGKILL included, therefore leaves either the old file
or the new one, never half of one; at worst a stray ``.*.tmp`` file that
nothing reads. A full disk is raised as ``DiskFullError`` naming the file.

What goes where in a run folder is ``study.run.runfolder``'s business
(documented in ``docs/RUN_FOLDER.md``); this module only knows files.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from kit.errors import DiskFullError

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "json_bytes",
    "atomic_write_csv",
    "atomic_write_with",
    "read_json",
]


# ---------------------------------------------------------------- atomic writes

# errno values that mean "the disk or the quota is full".
_FULL = {errno.ENOSPC, errno.EDQUOT}
# How torch.save reports a failed write (its C++ zip writer hides the errno), for ``atomic_write_with``:
# "[enforce fail at inline_container.cc:...] . PytorchStreamWriter failed writing file ...".
_TORCH_WRITE_FAILED = ("inline_container.cc", "PytorchStreamWriter failed")


def _disk_full(path: Path) -> DiskFullError:
    return DiskFullError(str(path))


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable; best effort (not every OS can open a folder)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _umask() -> int:
    """The process umask (reading it means setting it, so set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _atomic_file(path: str | os.PathLike) -> Iterator[io.BufferedWriter]:
    """Yield a binary file object whose contents replace ``path`` on success.

    The temporary file lives in the destination's folder (so ``os.replace``
    never crosses file systems) and is removed if the body raises.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates 0600; give the file the mode a plain open() would (0666 minus umask).
        os.chmod(tmp_name, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        if isinstance(error, OSError) and error.errno in _FULL and not isinstance(error, DiskFullError):
            raise _disk_full(path) from None
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file + fsync + rename)."""
    with _atomic_file(path) as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(value: Any) -> Any:
    """Serialise the odd types metrics carry (paths, numpy and torch scalars)."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "tolist"):  # numpy arrays and scalars, torch tensors
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON: {value!r}")


def atomic_write_csv(path: str | os.PathLike, rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> None:
    """Write dict rows as CSV (header first, ``\\n`` line ends, missing keys blank) atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def json_bytes(obj: Any) -> bytes:
    """``obj`` as the kit writes JSON: indent 2, sorted keys, trailing newline, UTF-8."""
    return (json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n").encode("utf-8")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as JSON (``json_bytes``) atomically."""
    atomic_write_bytes(path, json_bytes(obj))


def atomic_write_with(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> None:
    """Let ``write`` fill a binary file object whose contents then replace ``path`` atomically.

    For writers that want a file object rather than bytes, e.g. a checkpoint:
    ``atomic_write_with(path, lambda handle: torch.save(checkpoint, handle))``.
    The error torch's zip writer raises when the disk fills (a ``RuntimeError``
    without an errno) becomes a ``DiskFullError`` like any other full disk.

    Args:
        path: the destination.
        write: called once with the open temporary file.

    Raises:
        DiskFullError: the disk or the quota filled up; ``path`` is unchanged.
    """
    with _atomic_file(path) as handle:
        try:
            write(handle)
        except RuntimeError as error:
            if any(sign in str(error) for sign in _TORCH_WRITE_FAILED):
                raise _disk_full(Path(path)) from None
            raise


def read_json(path: str | os.PathLike) -> Any | None:
    """Parse a JSON file, or return None if it is missing or unreadable.

    Readers must tolerate a partial run; since every write is atomic an
    unreadable file means something outside the kit touched it.
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
