"""Run folders on disk: atomic writes, cell status, and the results table.

Every file the study writes goes through one of the ``atomic_*`` helpers: the
bytes go to a temporary file in the destination's folder, are flushed and
fsynced, and the temporary file is renamed over the destination with
``os.replace`` (atomic on POSIX and Windows within one file system). A run
killed at any moment, SIGKILL included, therefore leaves either the old file
or the new one, never half of one; at worst a stray ``.*.tmp`` file that
nothing reads.

The layout is documented in ``docs/RUN_FOLDER.md``. ``results.csv`` is never
appended to: ``write_results`` rebuilds it from the cell folders, so it
cannot disagree with them.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from study.errors import RunLockedError

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_torch_save",
    "read_json",
    "cell_status",
    "cell_record",
    "results_rows",
    "write_results",
    "RESULT_METRICS",
    "RESULT_COUNTS",
    "STATUSES",
    "locked_run_dir",
    "RunLockedError",
]

# A cell is one of these; "pending" means no metrics.json and no error.json.
STATUSES = ("done", "failed", "skipped", "pending")

# Headline metrics copied from metrics.json into results.csv, in this order.
# Nested metrics (confusion matrix, per-class accuracy) stay in the cell folder.
RESULT_METRICS = (
    "valid_accuracy",
    "test_accuracy",
    "error_rate",
    "count_mae",
    "label_noise_rate",
    "lr_used",
)
# Image counts the cell actually used. metrics.json calls them n_train/n_valid/
# n_test, but n_train/n_test are also TrainSpec fields with another meaning
# (images requested before the train/valid split), so the table renames them.
RESULT_COUNTS = {"n_train": "train_images", "n_valid": "valid_images", "n_test": "test_images"}


# ---------------------------------------------------------------- atomic writes


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
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
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


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as JSON (indent 2, sorted keys, trailing newline) atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=_json_default)
    atomic_write_text(path, text + "\n")


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save(obj, path)`` atomically (same argument order as torch.save)."""
    import torch  # lazy: store is imported by the CLI before torch is needed

    with _atomic_file(path) as handle:
        torch.save(obj, handle)


def read_json(path: str | os.PathLike) -> Any | None:
    """Parse a JSON file, or return None if it is missing or unreadable.

    Readers must tolerate a partial run; since every write is atomic an
    unreadable file means something outside the study touched it.
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------- cell folders


def cell_status(cell_dir: str | os.PathLike) -> str:
    """``done`` if metrics.json exists, else error.json's status, else ``pending``."""
    cell_dir = Path(cell_dir)
    if (cell_dir / "metrics.json").is_file():
        return "done"
    error = read_json(cell_dir / "error.json")
    if isinstance(error, dict) and error.get("status") in ("failed", "skipped"):
        return error["status"]
    return "pending"


def _number_or_blank(value: Any) -> Any:
    """Keep CSV cells scalar: NaN and non-scalars become blank."""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else value


def cell_record(spec_dict: dict[str, Any], cell_id: str, cell_dir: str | os.PathLike) -> dict[str, Any]:
    """One results.csv row: the spec, cell_id, status, error, headline metrics.

    Args:
        spec_dict: ``TrainSpec.to_dict()`` of the cell.
        cell_id: its folder name.
        cell_dir: the cell folder (may not exist yet: status ``pending``).
    """
    cell_dir = Path(cell_dir)
    status = cell_status(cell_dir)
    row: dict[str, Any] = {"cell_id": cell_id, **spec_dict, "status": status, "error": ""}
    metrics = read_json(cell_dir / "metrics.json") if status == "done" else None
    error = read_json(cell_dir / "error.json") if status in ("failed", "skipped") else None
    source = metrics if isinstance(metrics, dict) else error if isinstance(error, dict) else {}
    if error:
        # One line: the table is for scanning; the traceback stays in error.json.
        lines = str(error.get("error") or "").strip().splitlines()
        row["error"] = lines[0] if lines else ""
    for key in RESULT_METRICS:
        row[key] = source.get(key, "")
    for key, column in RESULT_COUNTS.items():
        row[column] = source.get(key, "")
    row["seconds"] = source.get("seconds", "")
    row["device"] = source.get("device", "")
    row["weights_used"] = source.get("weights_used", "")
    return {key: _number_or_blank(value) for key, value in row.items()}


def results_rows(cells: Iterable[tuple[dict[str, Any], str]], run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows for ``(spec_dict, cell_id)`` pairs, read from ``run_dir/cells/<cell_id>``."""
    cells_root = Path(run_dir) / "cells"
    return [cell_record(spec, cell_id, cells_root / cell_id) for spec, cell_id in cells]


def write_results(rows: Sequence[dict[str, Any]], path: str | os.PathLike) -> None:
    """Write rows as CSV atomically; columns are the union of keys in first-seen order."""
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


@contextlib.contextmanager
def locked_run_dir(run_dir: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on a run folder for the duration of a sweep.

    Two sweeps writing one run folder would clear each other's cells. The
    lock is an OS file lock (``flock``) on ``run_dir/.lock``, released by the
    OS when the process dies, even by SIGKILL, so it never goes stale.

    Raises:
        RunLockedError: another process holds the lock.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    handle = open(run_dir / ".lock", "a+")  # noqa: SIM115 - held open until the sweep ends
    try:
        try:
            import fcntl
        except ImportError:  # Windows: no flock; one sweep per folder is then the user's job
            fcntl = None
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunLockedError(
                    f"another sweep is running in {run_dir} (it holds {run_dir / '.lock'}); "
                    "wait for it to finish or choose another --out"
                ) from None
        yield run_dir
    finally:
        handle.close()

