"""The typed definition of every file the kit writes that another part of it reads.

One dataclass per file; the writer builds it and the reader gets it back, so
the two cannot drift apart (docs/RUN_FOLDER.md describes the files):

- ``CellMetrics``: a cell's ``metrics.json`` (``study.run.cell`` writes, the sweep,
  ``analysis`` and ``reports`` read).
- ``Checkpoint``: what ``checkpoint.pt`` holds (the writer keeps ``torch.save``).
- ``ResultsRow``: one row of a run's ``results.csv``.
- ``BenchFile`` of ``BenchEntry``: ``.cache/bench/train-<device>.json``, written by
  ``python -m study.bench train`` and read by the sweep's dry run.
- ``AnalysisSummary``: ``analysis/summary.json``, written by ``analysis`` and read by ``reports``.

JSON goes through one cleaner (``plain``: NaN and infinities become None, numpy
and torch scalars become Python numbers) and one reader (``parse_json``), so a
NaN written today and a ``NaN`` token an earlier kit wrote both read back as None.
A file with a key its record does not know, or without one it requires, is
refused with a ``RecordError`` naming the file, the key and the valid keys.

Only the standard library: every package of the kit can import this module.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

__all__ = [
    "RecordError",
    "plain",
    "json_bytes",
    "parse_json",
    "CellMetrics",
    "Checkpoint",
    "ResultsRow",
    "results_csv_rows",
    "to_float",
    "row_accuracy",
    "RESULT_METRICS",
    "RESULT_COUNTS",
    "RESULT_RUN_COLUMNS",
    "BenchEntry",
    "BenchFile",
    "bench_path",
    "AnalysisSummary",
]

R = TypeVar("R", bound="_JsonRecord")


class RecordError(ValueError):
    """A file does not hold the record it should (one line naming the file and what is wrong)."""


# ---------------------------------------------------------------- JSON: one cleaner, one reader


def plain(value: Any, default: Callable[[Any], Any] | None = None) -> Any:
    """``value`` as plain JSON data: NaN/inf -> None, numpy/torch scalars and arrays -> Python, recursively.

    Tuples and sets become lists (sets sorted), paths strings, mapping keys strings.

    Args:
        value: anything a record holds.
        default: turns an object of any other type into JSON data (None: such an object raises).

    Raises:
        TypeError: an object of a type JSON cannot hold (and no ``default``).
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(key): plain(item, default) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item, default) for item in value]
    if isinstance(value, (set, frozenset)):
        return [plain(item, default) for item in sorted(value)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "tolist"):  # numpy arrays and scalars, torch tensors
        return plain(value.tolist(), default)
    if default is not None:
        return plain(default(value))
    raise TypeError(f"cannot write {type(value).__name__} to JSON: {value!r}")


def json_bytes(value: Any) -> bytes:
    """``value`` as the kit writes JSON: cleaned (``plain``), indent 2, sorted keys, trailing newline, UTF-8."""
    return (json.dumps(plain(value), indent=2, sort_keys=True, allow_nan=False) + "\n").encode("utf-8")


def parse_json(data: bytes | str, source: str | os.PathLike) -> Any:
    """JSON text read back, cleaned like a write (a ``NaN`` token an earlier writer left is None).

    Raises:
        RecordError: not UTF-8 or not valid JSON, naming ``source``.
    """
    try:
        return plain(json.loads(data))
    except json.JSONDecodeError as error:
        raise RecordError(f"{source}: not valid JSON at line {error.lineno}, column {error.colno}") from None
    except (UnicodeDecodeError, ValueError):
        raise RecordError(f"{source}: not valid JSON (not UTF-8 text)") from None


# ---------------------------------------------------------------- the record machinery


def _names(cls: type) -> list[str]:
    return [field.name for field in dataclasses.fields(cls)]


def _check_keys(cls: type, data: Any, source: str | os.PathLike, required: Sequence[str]) -> dict[str, Any]:
    """``data`` as a dict whose keys are all fields of ``cls`` and include ``required``; else RecordError."""
    what = getattr(cls, "FILE", cls.__name__)
    if not isinstance(data, dict):
        raise RecordError(f"{source}: expected a JSON object ({what}), got {type(data).__name__}")
    names = _names(cls)
    unknown = [key for key in data if key not in names]
    if unknown:
        raise RecordError(f"{source}: unknown key(s) {', '.join(map(repr, unknown))} in {what}; "
                          f"valid: {', '.join(names)}")
    missing = [key for key in required if key not in data]
    if missing:
        raise RecordError(f"{source}: {what} lacks the key(s) {', '.join(map(repr, missing))}")
    return data


class _JsonRecord:
    """A dataclass written as one JSON object: every field a key.

    ``REQUIRED`` keys must be in a file read back; the others take their
    defaults (files of earlier kits lack the keys added since). ``OMIT_NONE``
    keys are left out of the file while None (what one kind of cell does not
    measure).
    """

    FILE: ClassVar[str] = ""
    REQUIRED: ClassVar[tuple[str, ...]] = ()
    OMIT_NONE: ClassVar[frozenset[str]] = frozenset()

    def to_json(self) -> dict[str, Any]:
        """The record as plain JSON data (the file's contents)."""
        values = {name: getattr(self, name) for name in _names(type(self))}
        return plain({name: value for name, value in values.items()
                      if not (value is None and name in self.OMIT_NONE)})

    def to_bytes(self) -> bytes:
        """The file's bytes (``json_bytes``)."""
        return json_bytes(self.to_json())

    @classmethod
    def from_json(cls: type[R], data: Any, source: str | os.PathLike = "") -> R:
        """The record from parsed JSON.

        Raises:
            RecordError: not an object, an unknown key or a missing required one (naming ``source``).
        """
        return cls(**plain(_check_keys(cls, data, source or cls.FILE, cls.REQUIRED)))

    @classmethod
    def read(cls: type[R], path: str | os.PathLike) -> R:
        """The record in the file at ``path``.

        Raises:
            FileNotFoundError: no such file (OSError for other read failures).
            RecordError: not valid JSON, or not this record.
        """
        return cls.from_json(parse_json(Path(path).read_bytes(), path), path)


# ---------------------------------------------------------------- metrics.json


@dataclasses.dataclass
class CellMetrics(_JsonRecord):
    """A finished cell's ``metrics.json`` (written last: its presence means the cell finished).

    Accuracies are fractions; None where the split is empty or the cell has no
    such split. The counting fields (``count_mae`` .. ``label_noise_per_count``)
    are left out of a cell that does not count (a photo folder). See
    docs/RUN_FOLDER.md ("metrics.json", "Split metrics") for each field.
    """

    FILE: ClassVar[str] = "metrics.json"
    REQUIRED: ClassVar[tuple[str, ...]] = ("status",)
    OMIT_NONE: ClassVar[frozenset[str]] = frozenset({
        "count_mae", "off_by_k", "label_noise_rate", "label_noise_clipped_rate", "label_noise_miscount_rate",
        "label_noise_per_count"})

    status: str = "done"
    valid_accuracy: float | None = None
    test_accuracy: float | None = None  # the i.i.d. test split
    test_dewind_accuracy: float | None = None  # the DeWind-controlled test split (counting)
    error_rate: float | None = None  # 1 - valid_accuracy
    valid_loss: float | None = None
    classes: list[str] = dataclasses.field(default_factory=list)
    per_class_split: str | None = None  # the split per_class_accuracy, confusion_matrix, count_mae describe
    per_class_accuracy: dict[str, float | None] = dataclasses.field(default_factory=dict)
    confusion_matrix: list[list[int]] = dataclasses.field(default_factory=list)  # rows true, columns predicted
    most_confused: list[list[Any]] = dataclasses.field(default_factory=list)  # [true, predicted, n]
    device: str | None = None
    precision: str | None = None  # what ran: fp32 or bf16
    channels_last: bool | None = None
    weights_used: str | None = None
    skipped_files: list[str] = dataclasses.field(default_factory=list)
    lr_used: float | list[float] | None = None  # the first stage's (head) learning rate
    stages: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # {kind, epochs, lr} as run
    eval_resize: str | None = None
    n_train: int | None = None  # images used (not the TrainSpec's n_train, images requested)
    n_valid: int | None = None
    n_test: int | None = None
    n_test_dewind: int | None = None
    n_test_held_out: int | None = None
    test_held_out_accuracy: float | None = None
    test_held_out_mae: float | None = None
    splits: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # {split: {accuracy, mae, ...}}
    count_mae: float | None = None
    off_by_k: dict[str, float] | None = None  # {"0", "1", "2", "3+"}: share of images off by k
    label_noise_rate: float | None = None
    label_noise_clipped_rate: float | None = None
    label_noise_miscount_rate: float | None = None
    label_noise_per_count: dict[str, float] | None = None
    seconds: float | None = None
    phase_seconds: dict[str, float] = dataclasses.field(default_factory=dict)


# ---------------------------------------------------------------- checkpoint.pt


@dataclasses.dataclass
class Checkpoint:
    """What ``checkpoint.pt`` holds: a plain dict that loads with ``torch.load(weights_only=True)``.

    Checkpoints of earlier kits lack the optional fields (None): the readout's
    ``class_counts``/``reg_target``/``reg_loss`` then come from the class names
    and the TrainSpec defaults; ``spec``/``classes`` from spec.json/metrics.json.
    """

    FILE: ClassVar[str] = "checkpoint.pt"
    REQUIRED: ClassVar[tuple[str, ...]] = ("model", "arch", "head", "num_classes", "size")

    model: Mapping[str, Any]  # the state dict (tensors)
    arch: str
    head: str
    num_classes: int
    size: int
    classes: list[str] | None = None
    class_counts: list[int] | None = None  # the count each class stands for
    reg_target: str | None = None
    reg_loss: str | None = None
    spec: dict[str, Any] | None = None  # the TrainSpec as a dict
    normalize: dict[str, list[float]] | None = None  # {"mean": [3], "std": [3]}

    def to_dict(self) -> dict[str, Any]:
        """The dict to ``torch.save`` (optional fields left out while None; tensors untouched)."""
        return {name: getattr(self, name) for name in _names(type(self))
                if getattr(self, name) is not None or name in self.REQUIRED}

    @classmethod
    def from_dict(cls, data: Any, source: str | os.PathLike = FILE) -> Checkpoint:
        """The record from a loaded checkpoint dict.

        Raises:
            RecordError: not a dict, an unknown key or a missing required one (naming ``source``).
        """
        return cls(**_check_keys(cls, data, source, cls.REQUIRED))


# ---------------------------------------------------------------- results.csv

# Headline metrics copied from metrics.json into results.csv, in this order.
# Nested metrics (confusion matrix, per-class accuracy) stay in the cell folder.
RESULT_METRICS = ("valid_accuracy", "test_accuracy", "test_dewind_accuracy", "error_rate", "count_mae",
                  "test_held_out_accuracy", "test_held_out_mae", "label_noise_rate", "lr_used")
# Image counts the cell actually used. metrics.json calls them n_train/n_valid/n_test, but
# n_train/n_test are also TrainSpec fields with another meaning (images requested before the
# train/valid split), so the table renames them.
RESULT_COUNTS = {"n_train": "train_images", "n_valid": "valid_images", "n_test": "test_images"}
# What ran, from metrics.json (or error.json for a cell that failed).
RESULT_RUN_COLUMNS = ("seconds", "device", "precision", "weights_used")


@dataclasses.dataclass
class ResultsRow:
    """One row of ``results.csv``: ``cell_id``, the TrainSpec fields, ``status``, ``error``, then the
    headline metrics (``RESULT_METRICS``), the images used (``RESULT_COUNTS``) and ``RESULT_RUN_COLUMNS``.

    ``values`` holds the columns after ``error``; a blank cell (None or NaN) is None.
    """

    FILE: ClassVar[str] = "results.csv"

    cell_id: str
    settings: dict[str, Any]  # the TrainSpec fields, in the spec's order
    status: str
    error: str = ""
    values: dict[str, Any] = dataclasses.field(default_factory=dict)

    @staticmethod
    def value_columns() -> tuple[str, ...]:
        """The columns after ``error``, in order."""
        return (*RESULT_METRICS, *RESULT_COUNTS.values(), *RESULT_RUN_COLUMNS)

    def __post_init__(self) -> None:
        unknown = [key for key in self.values if key not in self.value_columns()]
        if unknown:
            raise RecordError(f"{self.FILE}: unknown column(s) {', '.join(map(repr, unknown))}; "
                              f"valid: {', '.join(self.value_columns())}")

    @classmethod
    def from_cell(cls, cell_id: str, settings: dict[str, Any], status: str, error: str,
                  source: CellMetrics | Mapping[str, Any] | None) -> ResultsRow:
        """The row of a cell, its values from its metrics (a done cell) or its error.json (failed, skipped)."""
        data = source.to_json() if isinstance(source, CellMetrics) else dict(source or {})
        values = {key: data.get(key) for key in (*RESULT_METRICS, *RESULT_RUN_COLUMNS)}
        values.update({column: data.get(key) for key, column in RESULT_COUNTS.items()})
        return cls(cell_id, dict(settings), status, error, values)

    def get(self, column: str) -> Any:
        """The value of one value column (None when blank)."""
        return self.values.get(column)

    def to_csv(self) -> dict[str, Any]:
        """The CSV row: every value scalar (None and NaN blank, lists and dicts as JSON)."""
        row = {"cell_id": self.cell_id, **self.settings, "status": self.status, "error": self.error}
        row.update({column: self.values.get(column) for column in self.value_columns()})
        return {key: _cell_text(value) for key, value in row.items()}

    @classmethod
    def from_csv(cls, row: Mapping[str, str], source: str | os.PathLike = FILE) -> ResultsRow:
        """A row read back (``csv.DictReader``): settings stay text; number columns become numbers.

        A results.csv of an earlier kit may lack some value columns (they read as None).

        Raises:
            RecordError: no ``cell_id``/``status`` column, or a column after ``error`` that is not a known one.
        """
        columns = list(row)
        for needed in ("cell_id", "status", "error"):
            if needed not in columns:
                raise RecordError(f"{source}: no {needed!r} column; a results.csv starts cell_id, the TrainSpec "
                                  "fields, status, error")
        after = columns[columns.index("error") + 1:]
        unknown = [column for column in after if column not in cls.value_columns()]
        if unknown:
            raise RecordError(f"{source}: unknown column(s) {', '.join(map(repr, unknown))}; "
                              f"valid after error: {', '.join(cls.value_columns())}")
        settings = {key: row[key] for key in columns[1:columns.index("status")]}
        values = {column: _read_cell(column, row[column]) for column in after}
        return cls(row["cell_id"], settings, row["status"], row["error"] or "", values)


_TEXT_COLUMNS = frozenset({"device", "precision", "weights_used"})


def _cell_text(value: Any) -> Any:
    """A CSV cell: None and NaN blank, lists and dicts JSON, the rest as is."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return value


def _read_cell(column: str, text: str | None) -> Any:
    """A value column read back: blank None, text columns text, numbers numbers (lists, a staged lr, JSON)."""
    if text is None or text == "":
        return None
    if column in _TEXT_COLUMNS:
        return text
    try:
        number = float(text)
    except ValueError:
        try:
            return json.loads(text)
        except ValueError:
            return text
    if column in RESULT_COUNTS.values() and number.is_integer():
        return int(number)
    return number if math.isfinite(number) else None


def results_csv_rows(text: str, source: str | os.PathLike = ResultsRow.FILE) -> list[ResultsRow]:
    """Parse results.csv text into rows (``ResultsRow.from_csv``)."""
    return [ResultsRow.from_csv(row, source) for row in csv.DictReader(io.StringIO(text))]


def to_float(value: Any) -> float | None:
    """A CSV/JSON value as a float, or None when it is blank, text, a bool or NaN."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def row_accuracy(row: Mapping[str, Any] | ResultsRow) -> float | None:
    """A results row's headline accuracy: the test split when it has one, else validation (photo folders)."""
    test = to_float(row.get("test_accuracy"))
    return test if test is not None else to_float(row.get("valid_accuracy"))


# ---------------------------------------------------------------- the bench file


def bench_path(device: str, root: str | os.PathLike = ".") -> Path:
    """Where ``python -m study.bench train`` keeps a device's measurements: ``.cache/bench/train-<device>.json``."""
    return Path(root) / ".cache" / "bench" / f"train-{device}.json"


@dataclasses.dataclass
class BenchEntry(_JsonRecord):
    """One measurement of ``python -m study.bench train``: training images/s of one setting."""

    FILE: ClassVar[str] = "bench entry"
    REQUIRED: ClassVar[tuple[str, ...]] = ("arch", "size", "precision", "images_per_s")

    arch: str
    size: int
    precision: str  # asked: fp32 or bf16
    images_per_s: float  # (a) the whole training step, what a cell's training runs at
    batch_size: int | None = None
    precision_ran: str | None = None  # bf16 falls back to fp32 where the device has none
    native_bf16: bool | None = None
    device: str | None = None
    hardware: str | None = None
    threads: int | None = None
    compile: bool | None = None
    model_only_images_per_s: float | None = None  # (b) the model alone on staged tensors
    steps: int | None = None
    repeats: int | None = None
    measured: str | None = None  # when, ISO 8601

    def key(self) -> tuple[Any, ...]:
        """Entries with the same key replace each other in the file."""
        return (self.arch, self.size, self.batch_size, self.precision)


@dataclasses.dataclass
class BenchFile(_JsonRecord):
    """``.cache/bench/train-<device>.json``: the measurements on one device type (``bench_path``)."""

    FILE: ClassVar[str] = "bench file"
    REQUIRED: ClassVar[tuple[str, ...]] = ("device", "entries")

    device: str
    entries: list[BenchEntry] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"device": self.device, "entries": [entry.to_json() for entry in self.entries]}

    @classmethod
    def from_json(cls, data: Any, source: str | os.PathLike = "") -> BenchFile:
        data = _check_keys(cls, data, source or cls.FILE, cls.REQUIRED)
        if not isinstance(data["entries"], list):
            raise RecordError(f"{source}: 'entries' is not a list")
        entries = [BenchEntry.from_json(entry, f"{source}, entry {index}")
                   for index, entry in enumerate(data["entries"])]
        for index, entry in enumerate(entries):
            if not (isinstance(entry.images_per_s, (int, float)) and entry.images_per_s > 0):
                raise RecordError(f"{source}, entry {index}: images_per_s must be a number > 0, "
                                  f"got {entry.images_per_s!r}")
        return cls(str(data["device"]), entries)

    def merged(self, new: Sequence[BenchEntry]) -> BenchFile:
        """This file with ``new`` added, replacing the entries of the same setting (``BenchEntry.key``)."""
        replaced = {entry.key() for entry in new}
        return BenchFile(self.device, [entry for entry in self.entries if entry.key() not in replaced] + list(new))


# ---------------------------------------------------------------- analysis/summary.json


@dataclasses.dataclass
class AnalysisSummary(_JsonRecord):
    """``analysis/summary.json``, the report's single source of numbers and words (docs/ANALYSIS.md).

    Every field is optional (a partial run writes what it has). Entries:
    ``figures`` {id, file, title, takeaway, section}; ``tables`` {id, file,
    title, section, columns, rows}; ``examples`` {cell_id, label, file,
    caption}; ``missing`` {what, why}; ``findings`` {title, text}; ``answer``
    {question, abstract, cannot_tell, run, ...}; ``cells`` {cell id: {label,
    history, confusion, classes, misclassified}}. Files are relative to analysis/.
    """

    FILE: ClassVar[str] = "summary.json"

    answer: dict[str, Any] = dataclasses.field(default_factory=dict)
    findings: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    figures: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    tables: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    examples: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    missing: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    limitations: list[str] = dataclasses.field(default_factory=list)
    configurations: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    comparisons: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    cells: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    measurement: dict[str, Any] = dataclasses.field(default_factory=dict)  # cell id -> what was measured how
    seconds: float | None = None
    cells_analysed: int | None = None

    def to_json(self) -> dict[str, Any]:
        # The analysis hands over pandas and numpy objects of every kind; what JSON cannot hold is written as text.
        return plain({name: getattr(self, name) for name in _names(type(self))}, default=str)
