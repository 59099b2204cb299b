"""A run folder's cells as records for the analysis, read through ``study.run.runfolder``.

``study.run.runfolder`` is the only code that knows the run-folder layout; this
module adds what the analysis needs on top: a human label per cell and per
configuration (``study.config.labels.cell_labels``), and the grouping of cells into
configurations (``study.config.spec.configuration_key``: cells with equal keys are
seed replicates and are pooled).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from kit.records import CellMetrics
from study.errors import UserError
from study.run.runfolder import CellFolder, CellState, CellStatus, RunFolder
from study.config.labels import cell_labels
from study.config.spec import configuration_key, seed_fields, setting_fields

__all__ = ["CellResults", "open_run", "load_cells", "cells_frame"]

@dataclasses.dataclass
class CellResults:
    """One cell folder as the analysis sees it.

    Attributes:
        folder: the ``CellFolder``.
        settings: the cell's TrainSpec fields as a dict, from spec.json (``{}`` if it is missing).
        state: ``CellState`` (status and reason).
        metrics: metrics.json of a done cell (``kit.records.CellMetrics``), else None.
        config_label: the configuration's human label (varying settings only).
        label_fields: the fields ``config_label`` shows, in order.
        label: ``config_label`` plus the seed when seeds vary.
    """

    folder: CellFolder
    settings: dict[str, Any]
    state: CellState
    metrics: CellMetrics | None = None
    config_label: str = ""
    label: str = ""
    label_fields: tuple[str, ...] = ()

    @property
    def cell_id(self) -> str:
        return self.folder.cell_id

    @property
    def path(self) -> Path:
        return self.folder.path

    @property
    def status(self) -> CellStatus:
        return self.state.status

    @property
    def error(self) -> str:
        return self.state.reason

    @property
    def is_counting(self) -> bool:
        return self.settings.get("task", "counting") == "counting"

    @property
    def checkpoint(self) -> Path | None:
        return self.folder.checkpoint_path

    @property
    def key(self) -> tuple[tuple[str, str], ...]:
        """The configuration key: equal for seed replicates."""
        return configuration_key(self.settings)

    @property
    def classes(self) -> list[str]:
        """The class names metrics.json records ([] for a cell that did not finish)."""
        return list(self.metrics.classes) if self.metrics is not None else []

    @property
    def count_range(self) -> tuple[int, int] | None:
        """The inclusive class range of a counting cell, from its classes (None otherwise)."""
        classes = self.classes
        try:
            counts = [int(c) for c in classes]
        except (TypeError, ValueError):
            return None
        return (min(counts), max(counts)) if counts and self.is_counting else None

    def table(self, name: str) -> pd.DataFrame | None:
        """``history.csv`` or ``predictions.csv`` as a DataFrame, or None."""
        return self.folder.table(name)


def open_run(path: str | os.PathLike, writable: bool = True) -> RunFolder:
    """The run folder at ``path``, checked before any work starts.

    Raises:
        NotARunFolderError: missing, not a folder, not a run folder (no
            sweep.toml, results.csv or cells/); UserError: (``writable``) the
            analysis cannot be written there. One line naming the folder.
    """
    run = RunFolder.existing(path)
    where = str(path)
    if writable:
        # Try it (permission bits say nothing for root or immutable folders): a probe file, removed at once.
        try:
            run.analysis_dir.mkdir(exist_ok=True)
            tempfile.TemporaryFile(dir=run.analysis_dir).close()
        except OSError as error:
            raise UserError(f"run folder {where!r} is read-only ({error.strerror}): the analysis cannot be written "
                            "to its analysis/ folder; copy the run folder somewhere writable") from None
    return run


def load_cells(run: str | os.PathLike | RunFolder) -> list[CellResults]:
    """Every cell folder of a run (sorted by id), labelled by what sets its configuration apart:
    the count range (or photo folder) and each varying setting that differs from its usual value."""
    run = run if isinstance(run, RunFolder) else RunFolder(run)
    records = []
    for folder in run.cells():
        state = folder.state()
        metrics = folder.read_metrics() if state.status is CellStatus.DONE else None
        records.append(CellResults(folder, folder.read_spec(), state, metrics))
    labelled = [record for record in records if record.settings]
    for record, label in zip(labelled, cell_labels([record.settings for record in labelled])):
        record.config_label, record.label_fields, record.label = label.configuration, label.fields, label.text
    for record in records:
        record.label = record.label or record.cell_id  # no readable spec: its folder names it
    return records


def cells_frame(cells: list[CellResults]) -> pd.DataFrame:
    """One row per cell: id, labels, status, every setting and seed field, and the headline metrics."""
    rows = []
    for cell in cells:
        metrics = cell.metrics or CellMetrics()
        row = {"cell_id": cell.cell_id, "label": cell.label, "configuration": cell.config_label,
               "status": cell.status.value, "error": cell.error,
               **{name: cell.settings.get(name) for name in (*setting_fields(), *seed_fields())}}
        for key in ("test_accuracy", "test_dewind_accuracy", "test_held_out_accuracy", "test_held_out_mae",
                    "valid_accuracy", "count_mae", "label_noise_rate",
                    "n_valid", "n_test", "n_test_dewind", "seconds", "weights_used"):
            row[key] = getattr(metrics, key)
        row["train_images"] = metrics.n_train
        rows.append(row)
    return pd.DataFrame(rows)
