"""Gather everything a report shows from a run folder into one plain dict.

The renderers (``reports.html``, ``reports.pdf``) only lay out what this
module returns, so both formats show the same content. Every reader tolerates
a partial run (docs/RUN_FOLDER.md): a missing file becomes an entry in
``data["missing"]``, never an exception. Only a folder that is not a run
folder at all raises ``NotARunFolderError``.
"""

from __future__ import annotations

import csv
import datetime
from pathlib import Path
from typing import Any

from study.store import cell_record, read_json

__all__ = [
    "NotARunFolderError",
    "SECTIONS",
    "KEY_COLUMNS",
    "collect_run",
    "is_run_folder",
    "row_accuracy",
    "to_float",
]

# (id, heading) of each report section, in order; the HTML, the PDF and the
# tests all use these headings.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "Summary"),
    ("reproduction", "Reproduction of the original post"),
    ("sweep", "Sweep results"),
    ("drivers", "What drives counting"),
    ("photo", "Photo tasks"),
    ("provenance", "Provenance"),
)

# results.csv columns worth a glance; the full table stays in the run folder.
KEY_COLUMNS = (
    "cell_id", "task", "counts", "data", "sizes", "aug", "arch", "weights", "epochs", "lr",
    "n_train", "seed", "status", "valid_accuracy", "test_accuracy", "count_mae",
    "label_noise_rate", "seconds", "device", "weights_used",
)

# The ``section`` values of the analysis summary.json contract.
ANALYSIS_SECTIONS = ("sweep", "drivers", "attribution", "photo")

# Analysis tables longer than this are cut in the report (the CSV has them all).
MAX_TABLE_ROWS = 60


class NotARunFolderError(ValueError):
    """The path is not a run folder written by ``python -m study.sweep``."""


def to_float(value: Any) -> float | None:
    """A CSV/JSON value as a float, or None when it is blank or not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number  # NaN is "no number"


def row_accuracy(row: dict[str, Any]) -> float | None:
    """The headline accuracy of a cell: test split when it has one, else valid."""
    test = to_float(row.get("test_accuracy"))
    return test if test is not None else to_float(row.get("valid_accuracy"))


def is_run_folder(path: Path) -> bool:
    """A run folder has at least one of sweep.toml, results.csv or cells/."""
    return path.is_dir() and any(
        (path / name).exists() for name in ("sweep.toml", "results.csv", "cells")
    )


def _read_csv(path: Path) -> list[dict[str, str]] | None:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    except (OSError, csv.Error, UnicodeDecodeError):
        return None


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


# ---------------------------------------------------------------- sweep and results


def _read_sweep(run_dir: Path, missing: list[dict[str, str]]) -> dict[str, Any]:
    """sweep.toml as text and parsed (name, description, seeds)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the same parser, packaged as tomli
        import tomli as tomllib  # type: ignore[no-redef]

    path = run_dir / "sweep.toml"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        missing.append({"what": "sweep.toml", "why": "the run folder has no resolved sweep spec"})
        return {"text": None, "name": run_dir.name, "description": "", "parsed": {}}
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        missing.append({"what": "sweep.toml", "why": f"unreadable TOML: {error}"})
        parsed = {}
    info = parsed.get("sweep", {}) if isinstance(parsed.get("sweep"), dict) else {}
    return {
        "text": text,
        "name": str(info.get("name") or run_dir.name),
        "description": str(info.get("description") or ""),
        "parsed": parsed,
    }


def _spec_fields() -> tuple[list[str], set[str], set[str]]:
    """TrainSpec field names, and the fields only counting / only folder cells use."""
    from study.spec import TRAIN_DEFAULTS, ignored_fields

    return list(TRAIN_DEFAULTS), set(ignored_fields("folder")), set(ignored_fields("counting"))


def _label_rows(rows: list[dict[str, str]]) -> None:
    """Give each row a short ``label`` naming the axes that vary across the sweep.

    Task-specific fields (counts for counting, data for photos) only count as
    varying among rows of that task: a photo cell carries the counting
    defaults, which say nothing about it. Each row's ``ignored`` lists them so
    tables can leave them blank.
    """
    fields, counting_only, folder_only = _spec_fields()

    def ignored_by(row: dict[str, str]) -> set[str]:
        return counting_only if row.get("task") == "folder" else folder_only

    varying = [
        field for field in fields
        if len({row.get(field, "") for row in rows if field not in ignored_by(row)}) > 1
    ]
    for row in rows:
        is_folder = row.get("task") == "folder"
        what = "photos " + Path(row.get("data") or "?").name if is_folder else f"count {row.get('counts', '?')}"
        parts = [
            f"{field}={row.get(field, '')}"
            for field in varying
            if field not in ("task", "counts", "data") and field not in ignored_by(row)
        ]
        row["label"] = ", ".join([what, *parts])
        row["ignored"] = sorted(ignored_by(row))  # type: ignore[assignment]


def _read_cells(run_dir: Path, rows: list[dict[str, str]]) -> dict[str, dict[str, Any]]:
    """Per-cell files: metrics, error, history, spec and the lr-finder plot."""
    cells_dir = run_dir / "cells"
    ids = [row["cell_id"] for row in rows if row.get("cell_id")]
    if cells_dir.is_dir():
        ids += sorted(p.name for p in cells_dir.iterdir() if p.is_dir() and p.name not in ids)
    cells = {}
    for cell_id in ids:
        folder = cells_dir / cell_id
        cells[cell_id] = {
            "metrics": read_json(folder / "metrics.json"),
            "error": read_json(folder / "error.json"),
            "spec": read_json(folder / "spec.json"),
            "history": _read_csv(folder / "history.csv") or [],
            "lr_find_png": _read_bytes(folder / "lr_find.png"),
        }
    return cells


def _rows_from_cells(run_dir: Path, cells: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """Rebuild table rows from cell folders when results.csv is not written yet (as the sweep would)."""
    rows = []
    for cell_id, cell in cells.items():
        row = cell_record(cell["spec"] or {}, cell_id, run_dir / "cells" / cell_id)
        rows.append({key: "" if value is None else str(value) for key, value in row.items()})
    return rows


def _read_results(run_dir: Path, missing: list[dict[str, str]]) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """results.csv rows (or rows rebuilt from cells/) with labels, and the cell files."""
    rows = _read_csv(run_dir / "results.csv")
    if rows is None:
        missing.append({"what": "results.csv", "why": "not written yet (the sweep has not finished a cell); "
                        "rows below are read from the cell folders"})
        rows = []
    cells = _read_cells(run_dir, rows)
    if not rows:
        rows = _rows_from_cells(run_dir, cells)
    _label_rows(rows)
    for row in rows:
        row["accuracy"] = "" if row_accuracy(row) is None else f"{row_accuracy(row):.4f}"
    return rows, cells


def _overview(rows: list[dict[str, str]]) -> dict[str, Any]:
    """Cell counts by status, devices, weights actually used, total seconds."""
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row.get("status") or "pending"] = statuses.get(row.get("status") or "pending", 0) + 1
    seconds = sum(to_float(row.get("seconds")) or 0.0 for row in rows)
    return {
        "cells": len(rows),
        "by_status": statuses,
        "devices": sorted({row["device"] for row in rows if row.get("device")}),
        "weights_used": sorted({row["weights_used"] for row in rows if row.get("weights_used")}),
        "seconds": seconds,
        "tasks": sorted({row["task"] for row in rows if row.get("task")}),
    }


def _problems(rows: list[dict[str, str]], cells: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """Failed, skipped and pending cells with their error text."""
    problems = []
    for row in rows:
        status = row.get("status") or "pending"
        if status == "done":
            continue
        error = (cells.get(row.get("cell_id", ""), {}).get("error") or {})
        problems.append({
            "cell_id": row.get("cell_id", ""),
            "label": row.get("label", ""),
            "status": status,
            "error": str(error.get("error") or row.get("error") or ("not run yet" if status == "pending" else "")),
        })
    return problems


# ---------------------------------------------------------------- analysis


def _inside(base: Path, relative: Any) -> Path | None:
    """``base/relative`` if it stays inside ``base`` (summary.json is data, not trusted paths)."""
    if not isinstance(relative, str) or not relative:
        return None
    path = (base / relative).resolve()
    return path if path.is_relative_to(base.resolve()) and path.is_file() else None


def _figure(base: Path, entry: dict[str, Any]) -> dict[str, Any] | None:
    png_path, svg_path = _inside(base, entry.get("path")), _inside(base, entry.get("svg"))
    if png_path is None and svg_path is None:
        return None
    return {
        "title": str(entry.get("title") or ""), "caption": str(entry.get("caption") or ""),
        "png": _read_bytes(png_path) if png_path and png_path.suffix.lower() == ".png" else None,
        "svg": _read_bytes(svg_path) if svg_path else None,
        "source": str(entry.get("path") or entry.get("svg")),
    }


def read_table(path: Path, title: str, source: str, max_rows: int = MAX_TABLE_ROWS) -> dict[str, Any] | None:
    """A CSV as {title, columns, rows (lists of str), total_rows, source, numeric}."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            records = list(csv.reader(handle))
    except (OSError, csv.Error, UnicodeDecodeError):
        return None
    if not records:
        return None
    columns, body = records[0], records[1:]
    numeric = [all(to_float(r[i]) is not None for r in body if i < len(r) and r[i] != "") and
               any(i < len(r) and r[i] != "" for r in body) for i in range(len(columns))]
    return {"title": title, "columns": columns, "rows": body[:max_rows], "total_rows": len(body),
            "source": source, "numeric": numeric}


def _list(value: Any) -> list[Any]:
    """A summary.json list, or [] when the key is absent or not a list."""
    return value if isinstance(value, list) else []


def _section(entry: dict[str, Any]) -> str:
    """The report section an analysis figure/table belongs to; unknown ones go with the sweep."""
    section = str(entry.get("section") or "sweep")
    return section if section in ANALYSIS_SECTIONS else "sweep"


def _read_analysis(run_dir: Path, missing: list[dict[str, str]]) -> dict[str, Any]:
    """analysis/summary.json with its figures and tables loaded, grouped by section."""
    base = run_dir / "analysis"
    empty = {"present": False, "findings": [], "figures": {}, "tables": {}, "missing": [],
             "seconds": None, "cells_analysed": None}
    summary = read_json(base / "summary.json")
    if not isinstance(summary, dict):
        why = ("no analysis folder: run `python -m analysis " + str(run_dir) + "`" if not base.is_dir()
               else "analysis/summary.json is missing or unreadable")
        missing.append({"what": "analysis", "why": why})
        return empty
    figures: dict[str, list[dict[str, Any]]] = {}
    for entry in _list(summary.get("figures")):
        figure = _figure(base, entry) if isinstance(entry, dict) else None
        if figure is None:
            missing.append({"what": f"figure {entry.get('path') if isinstance(entry, dict) else entry}",
                            "why": "listed in summary.json but the file is not in analysis/"})
            continue
        figures.setdefault(_section(entry), []).append(figure)
    tables: dict[str, list[dict[str, Any]]] = {}
    for entry in _list(summary.get("tables")):
        path = _inside(base, entry.get("path")) if isinstance(entry, dict) else None
        table = read_table(path, str(entry.get("title") or ""), str(entry.get("path"))) if path else None
        if table is None:
            missing.append({"what": f"table {entry.get('path') if isinstance(entry, dict) else entry}",
                            "why": "listed in summary.json but missing or unreadable"})
            continue
        tables.setdefault(_section(entry), []).append(table)
    return {
        "present": True,
        "findings": [{"title": str(f.get("title") or ""), "text": str(f.get("text") or "")}
                     for f in _list(summary.get("findings")) if isinstance(f, dict)],
        "figures": figures, "tables": tables,
        "missing": [{"what": str(m.get("what") or ""), "why": str(m.get("why") or "")}
                    for m in _list(summary.get("missing")) if isinstance(m, dict)],
        "seconds": to_float(summary.get("seconds")), "cells_analysed": summary.get("cells_analysed"),
    }


# ---------------------------------------------------------------- photo cells


def _photo_cells(rows: list[dict[str, str]], cells: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Folder-task cells: accuracy, confusion matrix, most confused, lr finder."""
    photos = []
    for row in rows:
        if row.get("task") != "folder":
            continue
        cell = cells.get(row.get("cell_id", ""), {})
        metrics = cell.get("metrics") or {}
        error = (cell.get("error") or {}).get("error") or row.get("error") or ""
        photos.append({
            "cell_id": row.get("cell_id", ""), "label": row.get("label", ""),
            "status": row.get("status") or "pending", "error": str(error),
            "accuracy": row_accuracy(row), "data": row.get("data", ""),
            "classes": [str(c) for c in metrics.get("classes") or []],
            "confusion": metrics.get("confusion_matrix") or [],
            "most_confused": metrics.get("most_confused") or [],
            "per_class_accuracy": metrics.get("per_class_accuracy") or {},
            "skipped_files": [str(f) for f in metrics.get("skipped_files") or []],
            "lr_used": metrics.get("lr_used"), "lr_find_png": cell.get("lr_find_png"),
        })
    return photos


# ---------------------------------------------------------------- entry point


def collect_run(run_dir: str | Path) -> dict[str, Any]:
    """Read a run folder into the plain dict the renderers lay out.

    Args:
        run_dir: a folder written by ``python -m study.sweep`` (possibly partial).

    Returns:
        A dict with keys run_dir, name, description, generated, sections,
        sweep, rows, cells, overview, problems, reproduction, analysis,
        photo, missing and provenance (see the renderers for their use).

    Raises:
        NotARunFolderError: the path does not exist or holds no run files.
    """
    from reports.provenance import provenance  # one concern per module
    from reports.reproduction import reproduction

    run_dir = Path(run_dir)
    if not is_run_folder(run_dir):
        what = "does not exist" if not run_dir.exists() else "has no sweep.toml, results.csv or cells/"
        raise NotARunFolderError(f"{run_dir} is not a run folder ({what})")
    missing: list[dict[str, str]] = []
    sweep = _read_sweep(run_dir, missing)
    rows, cells = _read_results(run_dir, missing)
    analysis = _read_analysis(run_dir, missing)
    problems = _problems(rows, cells)
    for problem in problems:
        missing.append({"what": f"cell {problem['cell_id']} ({problem['status']})", "why": problem["error"]})
    missing.extend(analysis["missing"])
    return {
        "run_dir": str(run_dir), "name": sweep["name"], "description": sweep["description"],
        "generated": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "sections": SECTIONS, "sweep": sweep, "rows": rows, "cells": cells,
        "key_columns": [c for c in KEY_COLUMNS if any(c in row for row in rows)],
        "overview": _overview(rows), "problems": problems,
        "reproduction": reproduction(rows, cells), "analysis": analysis,
        "photo": _photo_cells(rows, cells), "missing": missing,
        "provenance": provenance(run_dir, rows, cells, sweep),
    }
