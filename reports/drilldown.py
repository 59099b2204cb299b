"""The configurations legend and the per-cell drill-down the HTML opens on a click.

A configuration is what the analysis pooled over seeds (summary.json
``configurations``: label, cells, n, accuracy with CI). Each of its cells
shows its learning curve, confusion matrix and a few misclassified images
with attributions (summary.json ``cells``). Without an analysis every cell is
its own configuration and its curve and confusion matrix come straight from
its folder (history.csv, metrics.json): shown as written, nothing computed.
"""

from __future__ import annotations

import json
from typing import Any

from kit.formatting import ci_sentence, number
from kit.records import CellMetrics
from study.run.runfolder import CellFolder, CellStatus
from study.config.labels import spelled_value
from study.config.spec import varying_fields

from reports.charts import learning_curve_svg
from reports.collect import RunData
from reports.summary import Analysis, misclassified_png
from kit.records import row_accuracy, to_float

__all__ = ["configurations_view", "MAX_MISCLASSIFIED"]

# Misclassified examples shown per cell (the analysis folder has the rest).
MAX_MISCLASSIFIED = 4


def _plain(value: Any) -> str:
    """A configuration key value as text ('"1-5"' as written by json.dumps -> 1-5)."""
    if isinstance(value, str) and value.startswith('"') and value.endswith('"'):
        try:
            return str(json.loads(value))
        except ValueError:
            return value
    return str(value)


def _confusion(matrix: Any) -> list[list[tuple[int, float]]]:
    """Rows of (count, share of the row) for shading; [] when the matrix is not a list of number lists."""
    rows = []
    for row in matrix if isinstance(matrix, list) else []:
        numbers = [int(to_float(n) or 0) for n in row] if isinstance(row, list) else []
        total = max(sum(numbers), 1)
        rows.append([(n, round(n / total, 3)) for n in numbers])
    return rows


def _cell_files(folder: CellFolder) -> dict[str, Any]:
    """A cell's curve and confusion matrix as its own files state them (no analysis yet)."""
    metrics = folder.read_metrics() or CellMetrics()
    table = folder.table(CellFolder.HISTORY) if folder.file(CellFolder.HISTORY).is_file() else None
    return {"history": table.to_dict("records") if table is not None else [],
            "confusion": metrics.confusion_matrix, "classes": metrics.classes,
            "misclassified": []}


def _cell_view(row: dict[str, Any], run: RunData, analysis: Analysis, embedded: set[str]) -> dict[str, Any]:
    data = analysis.cells.get(row["cell_id"])
    if data is None and row.get("status") == CellStatus.DONE.value:
        data = _cell_files(run.run.cell(row["cell_id"]))
    data = data or {}
    history = [h for h in data.get("history") or [] if isinstance(h, dict)]
    examples = []
    for item in [m for m in data.get("misclassified") or [] if isinstance(m, dict)][:MAX_MISCLASSIFIED]:
        name = str(item.get("file") or "")
        png = None if name in embedded else misclassified_png(run.run, name)
        embedded.add(name)  # each file once in the page
        examples.append({"png": png, "true": run.scrub.text(item.get("true")), "pred": run.scrub.text(item.get("pred"))})
    return {"label": row["label"], "folder": row["folder"], "status": row.get("status"), "reason": row.get("error", ""),
            "curve": learning_curve_svg(history), "classes": [run.scrub.text(c) for c in data.get("classes") or []],
            "confusion": _confusion(data.get("confusion")), "misclassified": examples}


def _settings(keys: list[dict[str, Any]]) -> list[str]:
    """Each configuration's varying settings in words ("count range 1-5 · augmentation fastai").

    Only fields the keys name are compared, and a field a configuration leaves blank (its task
    ignores it) is not shown for that configuration.
    """
    plain = [{name: _plain(value) for name, value in key.items()} for key in keys]
    named = {name for key in plain for name in key}
    names = [name for name in varying_fields(plain) if name in named and name != "task"] if len(keys) > 1 else []
    return [" · ".join(spelled_value(name, key[name]) for name in names if key.get(name) not in (None, ""))
            for key in plain]


def configurations_view(run: RunData, analysis: Analysis) -> list[dict[str, Any]]:
    """The legend rows, each with its cells' drill-down.

    Returns:
        ``[{"anchor", "label", "settings", "n_seeds", "n_images", "accuracy", "dewind", "cells": [cell view]}]``;
        cells the analysis did not pool (failed, skipped, pending) follow as their own rows.
    """
    rows = {row["cell_id"]: row for row in run.rows}
    embedded: set[str] = set()
    views, pooled = [], set()
    configurations = analysis.configurations
    for configuration, settings in zip(configurations, _settings([c.get("key") or {} for c in configurations])):
        cells = [rows[c] for c in configuration.get("cells") or [] if c in rows]
        pooled |= {row["cell_id"] for row in cells}
        views.append({
            "label": str(configuration.get("label") or "?"), "settings": settings,
            "n_seeds": configuration.get("n_seeds", "–"), "n_images": configuration.get("n_images", "–"),
            "accuracy": ci_sentence(configuration.get("accuracy")),
            "dewind": ci_sentence(configuration.get("dewind_accuracy")),
            "cells": [_cell_view(row, run, analysis, embedded) for row in cells]})
    for row in run.rows:
        if row["cell_id"] in pooled:
            continue
        done = row.get("status") == CellStatus.DONE.value
        accuracy = f"{number(row_accuracy(row))} (one cell, no CI)" if done else str(row.get("status"))
        views.append({"label": row["label"], "settings": "", "n_seeds": 1 if done else 0,
                      "n_images": row.get("test_images") or row.get("valid_images") or "–",
                      "accuracy": accuracy, "dewind": "–", "cells": [_cell_view(row, run, analysis, embedded)]})
    for index, view in enumerate(views, start=1):
        view["anchor"] = f"cfg-{index}"
    return views
