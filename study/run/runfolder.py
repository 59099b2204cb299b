"""The run folder and its cell folders: the only code that knows their layout.

``docs/RUN_FOLDER.md`` documents the layout; this module is its one writer and
reader. What a file holds (metrics.json, checkpoint.pt, a results.csv row) is
its record's in ``kit.records``; this module knows where the files go. Training (``study.run.cell``), the executors, the sweep, ``analysis`` and
``reports`` all go through ``RunFolder`` and ``CellFolder``; none of them
builds a path to a cell file by hand.

Every write is atomic (``kit.store``): a run killed at any moment, SIGKILL
included, leaves the old file or the new one, never half of one. A cell is
finished when ``metrics.json`` exists, its result files parse *and* they
still match the manifest (sizes and sha256) written when it finished: a cell
whose files were damaged or replaced after the fact is ``pending`` again,
with the reason. The kit writes only into folders that carry its marker
(``MARKER``), that are empty, or that an earlier kit laid out.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import enum
import hashlib
import os
import shutil
import stat
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from kit.records import CellMetrics, Checkpoint, RecordError, ResultsRow, results_csv_rows
from study.errors import DamagedFileError, NotARunFolderError, NotOurFolderError, RunLockedError
from kit.store import (atomic_write_bytes, atomic_write_csv, atomic_write_json, atomic_write_text, atomic_write_with,
                       read_json)

__all__ = [
    "CellStatus",
    "CellState",
    "CellFolder",
    "RunFolder",
    "MARKER",
]

# The file the kit writes into every folder it owns (a run folder, a cell folder):
# {"kit": "study", "kind": "run"|"cell", "format": FORMAT}. A folder without it is
# the user's, and is written into only when it is empty or laid out exactly as an
# earlier kit wrote it (docs/RUN_FOLDER.md, "Whose folder is it").
MARKER = ".study.json"
FORMAT = 1


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


class CellFolder:
    """One cell folder: ``runs/NAME/cells/<cell_id>/``.

    Args:
        path: the folder (it need not exist yet).
    """

    SPEC = "spec.json"
    METRICS = "metrics.json"
    MANIFEST = "manifest.json"
    ERROR = "error.json"
    LOG = "log.txt"
    HISTORY = "history.csv"
    PREDICTIONS = "predictions.csv"
    CHECKPOINT = "checkpoint.pt"
    LR_FIND = "lr_find"  # lr_find.csv and lr_find.png
    EVENTS = "events"  # TensorBoard event files
    # Written after the cell finished (executors append the console output to log.txt),
    # or not results at all: left out of the manifest.
    UNRECORDED = (MANIFEST, ERROR, LOG, MARKER)

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
        """Done only if metrics.json parses, the manifest matches the files and the tables parse.

        A cell written by this kit (it holds the marker) is done only with a
        manifest whose sizes and sha256 match every recorded file; a cell of
        an earlier kit (no marker, no manifest) is done by the older checks
        plus a checkpoint that is at least a torch archive. Readers never
        write: the sweep adopts old cells (``RunFolder.claim``).
        """
        if self.path.is_symlink():
            return CellState(CellStatus.PENDING, f"{self.path} is a symbolic link to {os.path.realpath(self.path)}, "
                                                 "not a cell folder the kit wrote; the link is replaced on rerun")
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
        """'' when the finished cell's files are intact, else which file is damaged and how."""
        try:
            CellMetrics.read(self.path / self.METRICS)
        except RecordError as error:
            return f"{self.METRICS} is damaged ({_why(error)})"
        except OSError as error:
            return f"{self.METRICS} cannot be read ({error.strerror or error})"
        for name in (self.HISTORY, self.PREDICTIONS):
            path = self.path / name
            if path.exists() and _csv_problem(path):
                return f"{name} is damaged ({_csv_problem(path)})"
        if self.is_ours() or self.file(self.MANIFEST).exists():
            return self._manifest_problem()
        return self._legacy_problem()

    def _manifest_problem(self) -> str:
        """'' when manifest.json lists this cell and every recorded file still has its size and sha256."""
        manifest = read_json(self.path / self.MANIFEST)
        if manifest is None:
            return (f"{self.MANIFEST} is missing, so what the cell wrote cannot be checked (the run stopped "
                    "while finishing, or the file was removed)")
        files = manifest.get("files") if isinstance(manifest, dict) else None
        if not isinstance(files, dict) or not all(isinstance(entry, dict) for entry in files.values()):
            return f"{self.MANIFEST} is damaged (no files table)"
        if manifest.get("cell_id") != self.cell_id:
            return (f"{self.MANIFEST} belongs to cell {manifest.get('cell_id')!r}, not {self.cell_id!r} "
                    "(the folder was copied or renamed)")
        for name in (self.SPEC, self.METRICS):
            if name not in files:
                return f"{self.MANIFEST} is damaged (it does not record {name})"
        for name, entry in sorted(files.items()):
            problem = _file_problem(self.path / name, entry)
            if problem:
                return f"{name} {problem} since the cell finished"
        return ""

    def _legacy_problem(self) -> str:
        """A cell of an earlier kit: its checkpoint, when there is one, must at least be a torch archive."""
        path = self.path / self.CHECKPOINT
        if path.is_symlink():
            return f"{self.CHECKPOINT} is a symbolic link, not a file the cell wrote"
        if path.exists() and not _is_torch_archive(path):
            return f"{self.CHECKPOINT} is damaged (not a torch checkpoint archive)"
        return ""

    # ------------------------------------------------------------ ownership

    def is_ours(self) -> bool:
        """True when the folder holds the kit's marker for a cell folder."""
        return _marker_kind(self.path) == "cell"

    def looks_like_earlier_kit(self) -> bool:
        """A cell folder an earlier kit wrote: a TrainSpec's spec.json and nothing but the kit's cell files."""
        spec = read_json(self.path / self.SPEC) if self.path.is_dir() and not _marker_kind(self.path) else None
        return isinstance(spec, dict) and {"task", "arch"} <= set(spec) and all(
            _is_cell_file(entry) for entry in self.path.iterdir())

    def claim(self) -> None:
        """Make ``path`` a cell folder of the kit for ``python -m study.train --out``, refusing anyone else's.

        A missing or empty folder is created and marked; a kit cell folder (or
        an earlier kit's, which is adopted) has the kit's files of an earlier
        attempt removed, nothing else; anything else is refused untouched.

        Raises:
            NotOurFolderError: a non-empty folder the kit did not write, or a run folder.
            OSError: the folder cannot be made (a file is in the way, no permission).
        """
        kind = _marker_kind(self.path) if self.path.is_dir() else None
        if kind == "run" or (kind is None and self.path.is_dir() and RunFolder(self.path).looks_like_earlier_kit()):
            raise NotOurFolderError(f"--out {self.path} is a run folder, not a cell folder; pass a new folder, "
                                    "or use python -m study.sweep --out for a run folder")
        if self.path.is_dir() and not self.is_ours() and _holds_anything(self.path) \
                and not self.looks_like_earlier_kit():
            raise NotOurFolderError(_not_ours(self.path, "cell"))
        if self.path.is_dir():
            for entry in self.path.iterdir():
                if not _is_cell_file(entry) or entry.name == MARKER:
                    continue  # the user's own files stay
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        self.path.mkdir(parents=True, exist_ok=True)
        _write_marker(self.path, "cell")

    def adopt(self) -> bool:
        """Give a finished cell of an earlier kit the marker and a manifest (the sweep does this on claim).

        Returns:
            True when the cell was adopted (it was an earlier kit's and finished intact).
        """
        if not self.looks_like_earlier_kit() or self.file(self.MANIFEST).exists():
            return False
        if self.status is CellStatus.DONE:
            self.write_manifest()
        _write_marker(self.path, "cell")
        return True

    # ------------------------------------------------------------ lifecycle

    def reset(self, spec: dict[str, Any]) -> None:
        """Start a fresh attempt: clear what an earlier, unfinished attempt left, then write spec.json.

        A cell folder that is a symbolic link is replaced by a real folder: the
        link is removed, never what it points to.
        """
        if self.path.is_symlink():
            self.path.unlink()
        elif self.path.exists() and self.status is not CellStatus.DONE:
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        _write_marker(self.path, "cell")
        self.write_spec(spec)

    def _check_spec_is_there(self) -> None:
        if not (self.path / self.SPEC).is_file():
            raise DamagedFileError(f"{self.path}: spec.json disappeared while the cell ran (was the folder deleted "
                                   "or cleared?); its results are not recorded as finished")

    def write_manifest(self, metrics: dict[str, dict[str, Any]] | None = None) -> None:
        """manifest.json: size and sha256 of every result file (spec, metrics, checkpoint, tables...).

        Args:
            metrics: ``{"metrics.json": {size, sha256}}`` of a metrics.json about to be written
                (``write_metrics``); None records the one on disk (adopting an earlier kit's cell).

        Raises:
            DamagedFileError: spec.json is gone: the folder was deleted or
                cleared while the cell ran, so what is there is not this cell's.
        """
        self._check_spec_is_there()
        files = {entry.name: _file_entry(entry) for entry in sorted(self.path.iterdir())
                 if entry.is_file() and not entry.is_symlink() and entry.name not in self.UNRECORDED
                 and not entry.name.startswith(".") and not (metrics and entry.name in metrics)}
        files.update(metrics or {})
        atomic_write_json(self.path / self.MANIFEST, {"format": FORMAT, "cell_id": self.cell_id, "files": files})

    # ------------------------------------------------------------ spec, metrics, error, log

    def write_spec(self, spec: dict[str, Any]) -> None:
        atomic_write_json(self.path / self.SPEC, spec)

    def read_spec(self) -> dict[str, Any]:
        """spec.json, or {} when missing or unreadable."""
        spec = read_json(self.path / self.SPEC)
        return spec if isinstance(spec, dict) else {}

    def write_metrics(self, metrics: CellMetrics) -> None:
        """Finish the cell: the manifest of every result file, then metrics.json. Call it last.

        Raises:
            DamagedFileError: spec.json vanished while the cell ran (see ``write_manifest``).
        """
        data = metrics.to_bytes()
        # The manifest first (recording metrics.json's bytes to come), so metrics.json stays the
        # last file written: a run killed between the two leaves a cell that is plainly unfinished.
        digest = hashlib.sha256(data).hexdigest()
        self.write_manifest({self.METRICS: {"size": len(data), "sha256": digest}})
        atomic_write_bytes(self.path / self.METRICS, data)
        _DIGESTS[_identity((self.path / self.METRICS).stat())] = digest  # the next read need not hash it

    def read_metrics(self) -> CellMetrics | None:
        """metrics.json of a finished cell, or None when there is none or it is damaged (``state`` says why)."""
        try:
            return CellMetrics.read(self.path / self.METRICS)
        except (OSError, RecordError):
            return None

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

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """checkpoint.pt: the record as a plain dict that loads with ``torch.load(weights_only=True)``."""
        import torch  # deferred: reading a run folder's tables needs no torch

        atomic_write_with(self.path / self.CHECKPOINT, lambda handle: torch.save(checkpoint.to_dict(), handle))

    def load_checkpoint(self, map_location: Any = "cpu") -> Checkpoint:
        """The checkpoint.

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
        try:
            return Checkpoint.from_dict(checkpoint, path)
        except RecordError as error:
            raise DamagedFileError(f"{error}; not a study checkpoint, rerun the cell to rebuild it") from None

    # ------------------------------------------------------------ results row

    def record(self, spec: dict[str, Any] | None = None) -> ResultsRow:
        """The cell's results.csv row: cell_id, the spec, status, error, headline metrics.

        Args:
            spec: the cell's TrainSpec dict (default: its spec.json).
        """
        state = self.state()
        spec = spec if spec is not None else self.read_spec()
        source: CellMetrics | dict[str, Any] | None = None
        if state.status is CellStatus.DONE:
            source = self.read_metrics()
        elif state.status in (CellStatus.FAILED, CellStatus.SKIPPED):
            source = self.read_error()
        return ResultsRow.from_cell(self.cell_id, spec, state.status.value, state.reason, source)


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
        """True when it holds a sweep spec, a results table or cell folders (what a reader needs)."""
        return self.sweep_path.is_file() or self.results_path.is_file() or self.cells_dir.is_dir()

    # Everything an earlier kit wrote at the top of a run folder.
    KIT_ENTRIES = (SWEEP, RESULTS, CELLS, ANALYSIS, CACHE, LOCK, REPORT_HTML, REPORT_PDF)

    def looks_like_earlier_kit(self) -> bool:
        """A run folder an earlier kit wrote (no marker): nothing but the kit's entries.

        It holds a sweep.toml, a results.csv whose first column is the kit's
        ``cell_id``, or a cells/ folder, and nothing else at the top; every
        entry of cells/ is a folder holding only the file names a cell writes.
        """
        if not self.path.is_dir() or _marker_kind(self.path):
            return False
        entries = [entry for entry in self.path.iterdir() if not _is_temp(entry)]
        if not any(entry.name in (self.SWEEP, self.RESULTS, self.CELLS) for entry in entries):
            return False
        if not all(entry.name in self.KIT_ENTRIES for entry in entries):
            return False
        if self.results_path.exists() and not _first_line(self.results_path).startswith("cell_id"):
            return False
        if self.cells_dir.exists():
            if not self.cells_dir.is_dir():
                return False
            return all(entry.is_dir() and not entry.is_symlink()
                       and all(_is_cell_file(item) for item in entry.iterdir())
                       for entry in self.cells_dir.iterdir())
        return True

    def check_claim(self) -> None:
        """Refuse, before writing anything, a folder the sweep must not write into.

        Missing, empty, marked as a run folder, or an earlier kit's run folder
        (see ``looks_like_earlier_kit``): fine. Anything else is the user's.

        Raises:
            NotOurFolderError: a non-empty folder the kit did not write, or a cell folder.
        """
        if not self.path.is_dir():
            return  # missing (made later), or a file in the way (mkdir says so)
        kind = _marker_kind(self.path)
        if kind == "cell" or (kind is None and CellFolder(self.path).looks_like_earlier_kit()):
            raise NotOurFolderError(f"--out {self.path} is a cell folder (written by python -m study.train), "
                                    "not a run folder; choose another --out")
        if kind is None and _holds_anything(self.path) and not self.looks_like_earlier_kit():
            raise NotOurFolderError(_not_ours(self.path, "run"))

    def claim(self) -> None:
        """Make ``path`` the kit's run folder: check it (``check_claim``), create it, write the marker,
        and adopt the finished cells of an earlier kit (marker and manifest)."""
        self.check_claim()
        earlier = self.looks_like_earlier_kit()
        self.path.mkdir(parents=True, exist_ok=True)
        if earlier:
            for cell in self.cells():
                cell.adopt()
        _write_marker(self.path, "run")

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

    def write_results(self, rows: Sequence[ResultsRow]) -> None:
        """results.csv, rebuilt whole (never appended): columns in first-seen order."""
        flat = [row.to_csv() for row in rows]
        columns: list[str] = []
        for row in flat:
            columns.extend(key for key in row if key not in columns)
        atomic_write_csv(self.results_path, flat, columns)

    def read_results(self) -> list[ResultsRow]:
        """results.csv rows ([] when missing or unreadable as text).

        Raises:
            DamagedFileError: its columns are not those of a results.csv (naming the file and the column).
        """
        try:
            text = self.results_path.read_bytes().decode("utf-8")
            return results_csv_rows(text, self.results_path)
        except (OSError, UnicodeDecodeError, csv.Error):
            return []
        except RecordError as error:
            raise DamagedFileError(str(error)) from None

    @contextlib.contextmanager
    def lock(self) -> Iterator[RunFolder]:
        """Hold an exclusive lock on the folder for the duration of a sweep.

        Two sweeps writing one run folder would clear each other's cells. The
        lock is an OS file lock (``flock``) on ``.lock``, released by the OS
        when the process dies, even by SIGKILL, so it never goes stale.

        A folder that is not the kit's is refused before anything is written
        into it (``check_claim``); once locked, the folder is claimed (``claim``).

        Raises:
            RunLockedError: another process holds the lock.
            NotOurFolderError: the folder is not empty and not a run folder of the kit.
        """
        self.check_claim()
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
            self.claim()
            yield self
        finally:
            handle.close()


# ---------------------------------------------------------------- markers and manifests


def _marker_kind(folder: Path) -> str | None:
    """'run' or 'cell' when ``folder`` holds the kit's marker, else None."""
    marker = read_json(folder / MARKER)
    if isinstance(marker, dict) and marker.get("kit") == "study" and marker.get("kind") in ("run", "cell"):
        return marker["kind"]
    return None


def _write_marker(folder: Path, kind: str) -> None:
    if _marker_kind(folder) != kind:
        atomic_write_json(folder / MARKER, {"kit": "study", "kind": kind, "format": FORMAT})


def _holds_anything(folder: Path) -> bool:
    """True when ``folder`` holds more than a lock file or temp files left by a killed write."""
    return any(entry.name != RunFolder.LOCK and not _is_temp(entry) for entry in folder.iterdir())


def _is_temp(entry: Path) -> bool:
    """A temporary file of ``kit.store`` (``.<name>.<random>.tmp``), left by a killed write."""
    return entry.name.startswith(".") and entry.name.endswith(".tmp")


def _is_cell_file(entry: Path) -> bool:
    """One of the names the kit writes in a cell folder (or its marker, or a temp file)."""
    names = {CellFolder.SPEC, CellFolder.METRICS, CellFolder.MANIFEST, CellFolder.ERROR, CellFolder.LOG,
             CellFolder.HISTORY, CellFolder.PREDICTIONS, CellFolder.CHECKPOINT, CellFolder.EVENTS, MARKER}
    return entry.name in names or entry.name.startswith(CellFolder.LR_FIND) or _is_temp(entry)


def _not_ours(path: Path, kind: str) -> str:
    entries = sorted(entry.name for entry in path.iterdir())
    shown = ", ".join(entries[:3]) + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")
    return (f"--out {path} is not empty and is not a {kind} folder of the study kit (it holds {shown}); "
            "nothing was written: choose a new or empty folder")


def _first_line(path: Path) -> str:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return handle.readline()
    except OSError:
        return ""


def _is_torch_archive(path: Path) -> bool:
    """A file ``torch.save`` wrote: a zip archive with a ``data.pkl`` (a quick look, no unpickling)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/data.pkl") or name == "data.pkl" for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


# sha256 by file identity: the sweep rebuilds results.csv (every cell's state) after each
# cell, so a run of N cells would otherwise hash every checkpoint N times. ctime cannot be
# set back by hand, so an edited file never hits a stale entry.
_DIGESTS: dict[tuple[int, int, int, int, int], str] = {}
_HASH_CHUNK = 1 << 20


def _identity(info: os.stat_result) -> tuple[int, int, int, int, int]:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _sha256(path: Path, info: os.stat_result) -> str:
    """The file's sha256, streamed in 1 MiB chunks (about 1 s per GB on one core); cached by identity."""
    key = _identity(info)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(_HASH_CHUNK):
                digest.update(chunk)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]


def _file_entry(path: Path) -> dict[str, Any]:
    info = path.stat()
    return {"size": info.st_size, "sha256": _sha256(path, info)}


def _file_problem(path: Path, entry: dict[str, Any]) -> str:
    """'' when ``path`` is a regular file with the recorded size and sha256, else what changed."""
    try:
        info = path.lstat()
    except OSError:
        return "has been removed"
    if stat.S_ISLNK(info.st_mode):
        return f"has been replaced by a symbolic link to {os.path.realpath(path)}"
    if not stat.S_ISREG(info.st_mode):
        return "is no longer a file"
    if info.st_size != entry.get("size"):
        return f"has changed (size {info.st_size} bytes, {entry.get('size')} recorded)"
    try:
        digest = _sha256(path, info)
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    if digest != entry.get("sha256"):
        return "has changed (its sha256 differs from the one recorded)"
    return ""


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


def _why(error: RecordError) -> str:
    """A RecordError's message without the path it starts with (the caller names the file)."""
    return str(error).split(": ", 1)[-1]
