"""Read a run folder (docs/RUN_FOLDER.md) into cell records, tolerating partial runs.

The cell folders are the source of truth (``results.csv`` is rebuilt from
them by ``study``): a cell is ``done`` when it has ``metrics.json``,
``failed``/``skipped`` when it has ``error.json``, and ``incomplete``
otherwise. Nothing here raises on a missing or unreadable file.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd

from study.store import read_json

__all__ = ["CellRecord", "load_cells", "cells_frame", "AXES"]

# TrainSpec fields that define a configuration (everything but the seed varies the study).
AXES = ("task", "counts", "sizes", "aug", "weights", "arch", "n_train", "size", "epochs", "head", "data")


@dataclasses.dataclass
class CellRecord:
    """One cell folder.

    Attributes:
        cell_id: folder name; path: the folder.
        spec: TrainSpec dict (``{}`` if spec.json is missing).
        status: ``done`` | ``failed`` | ``skipped`` | ``incomplete``.
        metrics: metrics.json (done cells) or None.
        error: the error message of a failed/skipped cell.
    """

    cell_id: str
    path: Path
    spec: dict[str, Any]
    status: str
    metrics: dict[str, Any] | None = None
    error: str = ""

    @property
    def is_counting(self) -> bool:
        return self.spec.get("task", "counting") == "counting"

    @property
    def checkpoint(self) -> Path | None:
        path = self.path / "checkpoint.pt"
        return path if path.is_file() else None

    @property
    def label(self) -> str:
        """Short human name: counts/data, aug, init, seed."""
        what = self.spec.get("counts", "?") if self.is_counting else Path(str(self.spec.get("data", "folder"))).name
        return f"{what} {self.spec.get('aug', '?')} {self.spec.get('weights', '?')} s{self.spec.get('seed', 0)}"

    def table(self, name: str) -> pd.DataFrame | None:
        """``history.csv`` or ``predictions.csv`` as a DataFrame, or None."""
        try:
            return pd.read_csv(self.path / name)
        except (OSError, ValueError, pd.errors.EmptyDataError):
            return None


def load_cells(run_dir: str | Path) -> list[CellRecord]:
    """Every cell folder under ``run_dir/cells`` (sorted by name)."""
    folder = Path(run_dir) / "cells"
    records = []
    for path in sorted(p for p in folder.glob("*") if p.is_dir()) if folder.is_dir() else []:
        spec = read_json(path / "spec.json") or {}
        metrics = read_json(path / "metrics.json")
        error = read_json(path / "error.json")
        if isinstance(metrics, dict):
            records.append(CellRecord(path.name, path, spec, "done", metrics))
        elif isinstance(error, dict):
            records.append(CellRecord(path.name, path, spec, str(error.get("status", "failed")), None,
                                      str(error.get("error", ""))))
        else:
            records.append(CellRecord(path.name, path, spec, "incomplete"))
    return records


def cells_frame(cells: list[CellRecord]) -> pd.DataFrame:
    """One row per cell: id, label, status, spec axes, seed and the headline metrics."""
    rows = []
    for cell in cells:
        metrics = cell.metrics or {}
        row = {"cell_id": cell.cell_id, "label": cell.label, "status": cell.status, "error": cell.error,
               **{axis: cell.spec.get(axis) for axis in AXES}, "seed": cell.spec.get("seed")}
        for key in ("test_accuracy", "valid_accuracy", "count_mae", "label_noise_rate", "label_noise_clipped_rate",
                    "label_noise_miscount_rate", "n_train", "n_valid", "n_test", "seconds", "weights_used"):
            row[key if key != "n_train" else "n_train_images"] = metrics.get(key)
        rows.append(row)
    return pd.DataFrame(rows)
