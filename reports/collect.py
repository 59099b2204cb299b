"""Read a run folder's own files (sweep.toml, cells) through ``study.run.runfolder``.

Only ``study.run.runfolder`` knows the layout; this module asks it for the sweep
text and one results row per cell (``CellFolder.record``), labels the cells by
the settings that vary (``study.config.spec.varying_fields``) and lists the cells
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
from study.config.labels import MAX_FULL_LABEL_FIELDS, field_value, short_value, usual_values
from study.config.spec import TRAIN_DEFAULTS, ignored_fields, varying_fields

from reports.privacy import PathScrubber

__all__ = ["NotARunFolderError", "RunData", "Problem", "collect_run", "cell_label", "short_value"]




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


def cell_label(spec: dict[str, Any], settings: list[str], seeds: list[str], usual: dict[str, str] | None = None) -> str:
    """A short human label ("45-50 · sensible · seed 1") from the fields that vary among cells of its task.

    Args:
        spec: the cell's TrainSpec dict.
        settings: the setting fields to name (the count range or photo folder always comes first).
        seeds: the seed fields to name.
        usual: ``study.config.labels.usual_values`` of the run: settings holding their usual value are left
            out (a sweep of blocks); None names every setting in ``settings``.
    """
    what = "counts" if spec.get("task", "counting") == "counting" else "data"
    ignored = set(ignored_fields(str(spec.get("task", "counting"))))
    names = [what] + [name for name in settings if name not in ignored and name not in ("task", what)
                      and not (usual and name in usual and field_value(spec, name) == usual[name])]
    parts = [short_value(name, spec.get(name, TRAIN_DEFAULTS.get(name, ""))) for name in names]
    parts += [f"{name.replace('_', ' ')} {spec.get(name, '')}" for name in seeds]
    return " · ".join(parts)


def _labels(specs: list[dict[str, Any]]) -> list[str]:
    """Each cell's label, naming the settings that vary among the cells of the same task."""
    by_task: dict[str, list[dict[str, Any]]] = {}
    for spec in specs:
        by_task.setdefault(str(spec.get("task")), []).append(spec)
    varying = {task: (varying_fields(group), varying_fields(group, roles=("seed",))) for task, group in by_task.items()}
    # The analysis's rule (study.config.labels): past a few varying settings, name only the unusual ones.
    usual = {task: usual_values(group, varying[task][0]) if len(varying[task][0]) > MAX_FULL_LABEL_FIELDS else {}
             for task, group in by_task.items()}
    return [cell_label(spec, *varying[str(spec.get("task"))], usual[str(spec.get("task"))]) for spec in specs]


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
    for row, label in zip(rows, _labels(specs)):
        row["label"] = label
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
