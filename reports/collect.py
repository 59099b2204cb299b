"""Read a run folder's own files (sweep.toml, cells) through ``study.run.runfolder``.

Only ``study.run.runfolder`` knows the layout; this module asks it for the sweep
text and one results row per cell (``CellFolder.record``), labels the cells as
the analysis does (``study.config.labels.cell_labels``) and lists the cells
that did not finish. Every string from the run is passed through a
``PathScrubber`` so no absolute local path reaches the report.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from study.errors import DamagedFileError, NotARunFolderError
from study.run.runfolder import CellStatus, RunFolder
from study.config.labels import cell_labels, short_value
from study.config.spec import TRAIN_DEFAULTS

from reports.privacy import PathScrubber

__all__ = ["NotARunFolderError", "RunData", "Problem", "collect_run"]




@dataclasses.dataclass
class Problem:
    """A cell that did not finish: its label, status and the first line of why."""

    label: str
    folder: str  # relative to the run folder
    status: str
    reason: str


@dataclasses.dataclass
class RunData:
    """What the run folder itself says, with local paths scrubbed.

    Attributes:
        rows: one results.csv row per cell (``CellFolder.record().to_csv()``: strings and numbers), plus
            ``label`` and ``folder``.
        missing: (what, why) notes for files a partial run lacks.
    """

    run: RunFolder
    name: str
    description: str
    sweep_text: str | None
    rows: list[dict[str, Any]]
    problems: list[Problem]
    missing: list[tuple[str, str]]
    scrub: PathScrubber


def _sweep(run: RunFolder, scrub: PathScrubber, missing: list[tuple[str, str]]) -> tuple[str, str, str | None]:
    """(name, description, text) of sweep.toml; a missing or unreadable file is noted, not raised."""
    try:
        text = run.read_sweep_text()
    except DamagedFileError as error:
        missing.append(("sweep.toml", scrub.text(error)))
        return run.path.name, "", None
    if text is None:
        missing.append(("sweep.toml", "the run folder has no resolved sweep spec"))
        return run.path.name, "", None
    try:
        info = tomllib.loads(text).get("sweep", {})
    except tomllib.TOMLDecodeError as error:
        missing.append(("sweep.toml", f"not valid TOML: {error}"))
        info = {}
    info = info if isinstance(info, dict) else {}
    return (scrub.text(info.get("name") or run.path.name), scrub.text(info.get("description") or ""),
            scrub.text(text))


def _rows(run: RunFolder, scrub: PathScrubber, missing: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """One record per cell folder, and a pending row for cells results.csv lists without a folder
    (a results.csv that is not one is noted in ``missing``)."""
    rows = [cell.record().to_csv() for cell in run.cells()]
    on_disk = {row["cell_id"] for row in rows}
    try:
        listed_rows = run.read_results()
    except DamagedFileError as error:
        missing.append((RunFolder.RESULTS, scrub.text(error)))
        listed_rows = []
    for listed in listed_rows:
        if listed.cell_id and listed.cell_id not in on_disk:
            rows.append({**listed.to_csv(), "status": CellStatus.PENDING.value, "error": ""})
    specs = [{key: row.get(key, TRAIN_DEFAULTS[key]) for key in TRAIN_DEFAULTS} for row in rows]
    for row, label in zip(rows, cell_labels(specs)):
        row["label"] = label.text
        row["folder"] = f"{RunFolder.CELLS}/{row['cell_id']}"
        row["error"] = scrub.text(row.get("error", ""))
        row["data"] = short_value("data", row["data"]) if row.get("data") else ""
    return rows


def collect_run(run_dir: str | Path) -> RunData:
    """Read a (possibly partial) run folder.

    Raises:
        NotARunFolderError: the path does not exist, is a file, or holds no run files.
    """
    run = RunFolder.existing(run_dir)
    scrub = PathScrubber(run.path)
    missing: list[tuple[str, str]] = []
    name, description, sweep_text = _sweep(run, scrub, missing)
    rows = _rows(run, scrub, missing)
    problems = [Problem(row["label"], row["folder"], row["status"], row["error"] or "not run yet")
                for row in rows if row["status"] != CellStatus.DONE.value]
    if not rows:
        missing.append(("cells", "no cell has started yet"))
    return RunData(run, name, description, sweep_text, rows, problems, missing, scrub)
