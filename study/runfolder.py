"""The run folder and its cell folders: the only code that knows their layout.

``docs/RUN_FOLDER.md`` documents the layout; this module is its one writer and
reader. Training (``study.cell``), the executors, the sweep, ``analysis`` and
``reports`` all go through ``RunFolder`` and ``CellFolder``; none of them
builds a path to a cell file by hand.

Every write is atomic (``study.store``): a run killed at any moment, SIGKILL
included, leaves the old file or the new one, never half of one. A cell is
finished when ``metrics.json`` exists *and* its result files parse: a cell
whose files were damaged after the fact is ``pending`` again, with the reason.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import enum
import json
import math
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from study.errors import DamagedFileError, NotARunFolderError, RunLockedError
from study.store import atomic_torch_save, atomic_write_csv, atomic_write_json, atomic_write_text, read_json

__all__ = [
    "CellStatus",
    "CellState",
    "CellFolder",
    "RunFolder",
    "RESULT_METRICS",
    "RESULT_COUNTS",
]


class CellStatus(str, enum.Enum):
    """What became of a cell. ``pending``: not run, interrupted, or its results were damaged."""

    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    PENDING = "pending"

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class CellState:
    """A cell's status and why: the first error line (failed/skipped) or what was damaged (pending)."""

    status: CellStatus
    reason: str = ""


# Headline metrics copied from metrics.json into results.csv, in this order.
# Nested metrics (confusion matrix, per-class accuracy) stay in the cell folder.
RESULT_METRICS = (
    "valid_accuracy",
    "test_accuracy",
    "test_dewind_accuracy",
    "error_rate",
    "count_mae",
    "test_held_out_accuracy",
    "test_held_out_mae",
    "label_noise_rate",
    "lr_used",
)
# Image counts the cell actually used. metrics.json calls them n_train/n_valid/
# n_test, but n_train/n_test are also TrainSpec fields with another meaning
# (images requested before the train/valid split), so the table renames them.
RESULT_COUNTS = {"n_train": "train_images", "n_valid": "valid_images", "n_test": "test_images"}


class CellFolder:
    """One cell folder: ``runs/NAME/cells/<cell_id>/``.

    Args:
        path: the folder (it need not exist yet).
    """

    SPEC = "spec.json"
    METRICS = "metrics.json"
    ERROR = "error.json"
    LOG = "log.txt"
    HISTORY = "history.csv"
    PREDICTIONS = "predictions.csv"
    CHECKPOINT = "checkpoint.pt"
    LR_FIND = "lr_find"  # lr_find.csv and lr_find.png
    EVENTS = "events"  # TensorBoard event files

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"CellFolder({str(self.path)!r})"

    @property
    def cell_id(self) -> str:
        return self.path.name

    def file(self, name: str) -> Path:
        """The path of one of the files above (for tools that write their own format there)."""
        return self.path / name

    # ------------------------------------------------------------ state

    def state(self) -> CellState:
        """Done only if metrics.json parses and the result tables it promises parse too."""
        metrics_path = self.path / self.METRICS
        if metrics_path.exists():
            damaged = self._damage()
            if damaged:
                return CellState(CellStatus.PENDING, damaged)
            return CellState(CellStatus.DONE)
        error = read_json(self.path / self.ERROR)
        if isinstance(error, dict) and error.get("status") in (CellStatus.FAILED.value, CellStatus.SKIPPED.value):
            lines = str(error.get("error") or "").strip().splitlines()
            return CellState(CellStatus(error["status"]), lines[0] if lines else "")
        return CellState(CellStatus.PENDING)

    @property
    def status(self) -> CellStatus:
        return self.state().status

    def _damage(self) -> str:
        """'' when the finished cell's files are readable, else which file is damaged and how."""
        metrics = read_json(self.path / self.METRICS)
        if not isinstance(metrics, dict):
            return f"{self.METRICS} is damaged (not valid JSON)"
        for name in (self.HISTORY, self.PREDICTIONS):
            path = self.path / name
            if path.exists() and _csv_problem(path):
                return f"{name} is damaged ({_csv_problem(path)})"
        return ""

    # ------------------------------------------------------------ lifecycle

    def reset(self, spec: dict[str, Any]) -> None:
        """Start a fresh attempt: clear what an earlier, unfinished attempt left, then write spec.json."""
        if self.path.exists() and self.status is not CellStatus.DONE:
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.write_spec(spec)

    # ------------------------------------------------------------ spec, metrics, error, log

    def write_spec(self, spec: dict[str, Any]) -> None:
        atomic_write_json(self.path / self.SPEC, spec)

    def read_spec(self) -> dict[str, Any]:
        """spec.json, or {} when missing or unreadable."""
        spec = read_json(self.path / self.SPEC)
        return spec if isinstance(spec, dict) else {}

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        """Write metrics.json, the file that marks the cell finished: call it last."""
        clean = {key: (None if isinstance(value, float) and math.isnan(value) else value)
                 for key, value in metrics.items()}
        atomic_write_json(self.path / self.METRICS, clean)

    def read_metrics(self) -> dict[str, Any] | None:
        """metrics.json of a finished cell, or None."""
        metrics = read_json(self.path / self.METRICS)
        return metrics if isinstance(metrics, dict) else None

    def write_error(self, status: CellStatus, message: str, traceback: str = "", **extra: Any) -> None:
        """error.json: why the cell failed or was skipped (replaces an earlier one)."""
        if status not in (CellStatus.FAILED, CellStatus.SKIPPED):
            raise ValueError(f"error.json records failed or skipped cells, not {status}")
        atomic_write_json(self.path / self.ERROR,
                          {"status": status.value, "error": message, "traceback": traceback, **extra})

    def discard_error(self) -> None:
        """Remove error.json (an interrupted attempt is pending, not failed)."""
        with contextlib.suppress(FileNotFoundError):
            (self.path / self.ERROR).unlink()

    def read_error(self) -> dict[str, Any] | None:
        error = read_json(self.path / self.ERROR)
        return error if isinstance(error, dict) else None

    def write_log(self, text: str) -> None:
        atomic_write_text(self.path / self.LOG, text)

    def append_log(self, text: str) -> None:
        """Add console output to log.txt unless it is already there (a log, so append is fine)."""
        if not text.strip():
            return
        existing = self.read_log()
        if not existing:
            self.write_log(text)
        elif text.strip() not in existing:
            with (self.path / self.LOG).open("a", encoding="utf-8") as handle:
                handle.write("\n--- console output ---\n" + text)

    def read_log(self) -> str:
        try:
            return (self.path / self.LOG).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    # ------------------------------------------------------------ tables

    HISTORY_COLUMNS = ("epoch", "train_loss", "valid_loss", "error_rate", "accuracy", "time")

    def write_history(self, rows: Sequence[dict[str, Any]]) -> None:
        """history.csv: one row per epoch (extra keys such as ``stage`` are kept)."""
        columns = list(self.HISTORY_COLUMNS)
        for row in rows:
            columns.extend(key for key in row if key not in columns)
        atomic_write_csv(self.path / self.HISTORY, rows, columns)

    def write_predictions(self, rows: Sequence[dict[str, Any]], classes: Sequence[str]) -> None:
        """predictions.csv: ``split, index, label, pred, estimate, loss, prob_<class>...`` (+ any extra keys).

        Args:
            rows: dicts with split, index, label, pred (class names), estimate (the head's
                point estimate of the count; optional), loss and probs (a sequence in
                ``classes`` order); other keys become columns.
        """
        prob_columns = [f"prob_{name}" for name in classes]
        has_estimate = any("estimate" in row for row in rows)
        flat, columns = [], ["split", "index", "label", "pred", *(["estimate"] if has_estimate else []), "loss"]
        for row in rows:
            probs = row.get("probs", ())
            out = {key: value for key, value in row.items() if key != "probs"}
            out["loss"] = f"{float(out['loss']):.6g}"
            if "estimate" in out:
                out["estimate"] = f"{float(out['estimate']):.6g}"
            out.update({column: f"{float(p):.6g}" for column, p in zip(prob_columns, probs)})
            columns.extend(key for key in out if key not in columns and key not in prob_columns)
            flat.append(out)
        atomic_write_csv(self.path / self.PREDICTIONS, flat, [*columns, *prob_columns])

    def table(self, name: str) -> Any:
        """``history.csv`` or ``predictions.csv`` as a pandas DataFrame, or None if missing or damaged."""
        import pandas as pd  # deferred: the sweep's hot path never reads tables

        try:
            return pd.read_csv(self.path / name)
        except (OSError, ValueError, pd.errors.EmptyDataError):
            return None

    # ------------------------------------------------------------ checkpoint

    @property
    def checkpoint_path(self) -> Path | None:
        path = self.path / self.CHECKPOINT
        return path if path.is_file() else None

    def save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """A plain dict that loads with ``torch.load(weights_only=True)``."""
        atomic_torch_save(checkpoint, self.path / self.CHECKPOINT)

    def load_checkpoint(self, map_location: Any = "cpu") -> dict[str, Any]:
        """The checkpoint dict.

        Raises:
            FileNotFoundError: there is none (the cell did not finish).
            DamagedFileError: it exists but cannot be read (truncated, not a checkpoint).
        """
        import torch  # deferred: reading a run folder's tables needs no torch

        path = self.path / self.CHECKPOINT
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no checkpoint (the cell has not finished)")
        try:
            checkpoint = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as error:  # noqa: BLE001 - torch raises several types for a damaged zip/pickle
            raise DamagedFileError(
                f"{path}: checkpoint is damaged or not a study checkpoint ({type(error).__name__}: "
                f"{str(error).splitlines()[0] if str(error) else 'unreadable'}); rerun the cell to rebuild it"
            ) from None
        if not isinstance(checkpoint, dict) or "model" not in checkpoint:
            raise DamagedFileError(f"{path}: not a study checkpoint (no 'model' state dict)")
        return checkpoint

    # ------------------------------------------------------------ results row

    def record(self, spec: dict[str, Any] | None = None) -> dict[str, Any]:
        """One results.csv row: cell_id, the spec, status, error, headline metrics.

        Args:
            spec: the cell's TrainSpec dict (default: its spec.json).
        """
        state = self.state()
        spec = spec if spec is not None else self.read_spec()
        row: dict[str, Any] = {"cell_id": self.cell_id, **spec, "status": state.status.value, "error": state.reason}
        source: dict[str, Any] = {}
        if state.status is CellStatus.DONE:
            source = self.read_metrics() or {}
        elif state.status in (CellStatus.FAILED, CellStatus.SKIPPED):
            source = self.read_error() or {}
        for key in RESULT_METRICS:
            row[key] = source.get(key, "")
        for key, column in RESULT_COUNTS.items():
            row[column] = source.get(key, "")
        for key in ("seconds", "device", "precision", "weights_used"):
            row[key] = source.get(key, "")
        return {key: _scalar(value) for key, value in row.items()}


class RunFolder:
    """A run folder: ``sweep.toml``, ``results.csv``, ``cells/``, ``analysis/`` and the report.

    Args:
        path: the folder (it need not exist yet).
    """

    SWEEP = "sweep.toml"
    RESULTS = "results.csv"
    CELLS = "cells"
    ANALYSIS = "analysis"
    CACHE = ".cache"
    LOCK = ".lock"
    REPORT_HTML = "report.html"
    REPORT_PDF = "report.pdf"

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @property
    def cells_dir(self) -> Path:
        return self.path / self.CELLS

    @property
    def analysis_dir(self) -> Path:
        return self.path / self.ANALYSIS

    @property
    def results_path(self) -> Path:
        return self.path / self.RESULTS

    @property
    def sweep_path(self) -> Path:
        return self.path / self.SWEEP

    @property
    def cache_dir(self) -> Path:
        return self.path / self.CACHE

    @property
    def report_html(self) -> Path:
        return self.path / self.REPORT_HTML

    @property
    def report_pdf(self) -> Path:
        return self.path / self.REPORT_PDF

    @classmethod
    def existing(cls, path: str | os.PathLike) -> RunFolder:
        """The run folder at ``path``, checked before a reader starts work.

        Raises:
            NotARunFolderError: one line naming the path: missing, a file, or
                holding no sweep.toml, results.csv or cells/.
        """
        run, where = cls(path), str(path)
        if not run.path.exists():
            raise NotARunFolderError(f"run folder {where!r} does not exist (no such folder); pass runs/NAME "
                                     "of a sweep written by python -m study.sweep")
        if not run.path.is_dir():
            raise NotARunFolderError(f"run folder {where!r} is a file, not a folder; pass runs/NAME")
        if not run.is_run_folder():
            raise NotARunFolderError(f"{where!r} is not a run folder: it has no {cls.SWEEP}, {cls.RESULTS} "
                                     f"or {cls.CELLS}/")
        return run

    def is_run_folder(self) -> bool:
        """True when it holds a sweep spec, a results table or cell folders."""
        return self.sweep_path.is_file() or self.results_path.is_file() or self.cells_dir.is_dir()

    def cell(self, cell_id: str) -> CellFolder:
        return CellFolder(self.cells_dir / cell_id)

    def cells(self) -> list[CellFolder]:
        """Every cell folder on disk, sorted by id."""
        if not self.cells_dir.is_dir():
            return []
        return [CellFolder(path) for path in sorted(self.cells_dir.iterdir()) if path.is_dir()]

    def read_sweep_text(self) -> str | None:
        """sweep.toml as text, or None when missing.

        Raises:
            DamagedFileError: it is not UTF-8.
        """
        try:
            return self.sweep_path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError as error:
            raise DamagedFileError(f"{self.sweep_path}: not UTF-8 text (byte {error.start}); "
                                   "rewrite it as UTF-8 or delete it to let the sweep rewrite it") from None

    def write_sweep_text(self, text: str) -> None:
        atomic_write_text(self.sweep_path, text)

    def write_results(self, rows: Sequence[dict[str, Any]]) -> None:
        """results.csv, rebuilt whole (never appended): columns in first-seen order."""
        columns: list[str] = []
        for row in rows:
            columns.extend(key for key in row if key not in columns)
        atomic_write_csv(self.results_path, rows, columns)

    def read_results(self) -> list[dict[str, str]]:
        """results.csv rows as strings ([] when missing or unreadable)."""
        try:
            with self.results_path.open(encoding="utf-8", newline="") as handle:
                return list(csv.DictReader(handle))
        except (OSError, UnicodeDecodeError, csv.Error):
            return []

    @contextlib.contextmanager
    def lock(self) -> Iterator[RunFolder]:
        """Hold an exclusive lock on the folder for the duration of a sweep.

        Two sweeps writing one run folder would clear each other's cells. The
        lock is an OS file lock (``flock``) on ``.lock``, released by the OS
        when the process dies, even by SIGKILL, so it never goes stale.

        Raises:
            RunLockedError: another process holds the lock.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        handle = open(self.path / self.LOCK, "a+")  # noqa: SIM115 - held open until the sweep ends
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
                        f"another sweep is running in {self.path} (it holds {self.path / self.LOCK}); "
                        "wait for it to finish or choose another --out"
                    ) from None
            yield self
        finally:
            handle.close()


def _csv_problem(path: Path) -> str:
    """'' if the CSV reads as a header plus rows of the header's width, else what is wrong."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        return f"unreadable: {error}"
    if not rows:
        return "empty"
    width = len(rows[0])
    bad = next((index for index, row in enumerate(rows[1:], start=2) if len(row) != width), None)
    return f"line {bad} has the wrong number of columns" if bad else ""


def _scalar(value: Any) -> Any:
    """Keep CSV cells scalar: NaN and None become blank, lists and dicts JSON."""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return "" if value is None else value
