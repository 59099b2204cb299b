"""The report's own charts: one line per cell, or means per axis level for big sweeps."""

from __future__ import annotations

from reports.charts import MAX_LEGEND, learning_curves_figure, per_count_figure


def _cells(n: int) -> tuple[list[dict], dict]:
    rows, cells = [], {}
    for i in range(n):
        cell_id = f"c{i}"
        aug = ("none", "fastai", "sensible")[i % 3]
        rows.append({"cell_id": cell_id, "task": "counting", "counts": "1-3", "aug": aug, "label": f"aug={aug} #{i}"})
        cells[cell_id] = {
            "metrics": {"per_class_accuracy": {"1": 0.9, "2": 0.5, "3": 0.1 * (i % 5)}},
            "history": [{"epoch": str(e), "valid_loss": str(1 - e / 10), "accuracy": str(e / 10)} for e in range(3)],
        }
    return rows, cells


def test_few_cells_one_line_each() -> None:
    rows, cells = _cells(3)
    figure = per_count_figure(rows, cells)
    assert figure["png"].startswith(b"\x89PNG") and b"<svg" in figure["svg"]
    assert "one line per finished counting cell" in figure["caption"]
    assert "one line per cell" in learning_curves_figure(rows, cells)["caption"]


def test_many_cells_are_averaged_by_the_first_varying_axis() -> None:
    rows, cells = _cells(MAX_LEGEND + 1)
    assert per_count_figure(rows, cells)["caption"].endswith("averaged over cells by aug.")
    assert "averaged over cells by aug" in learning_curves_figure(rows, cells)["caption"]


def test_no_data_no_figure() -> None:
    rows = [{"cell_id": "x", "task": "counting", "label": "x"}]
    assert per_count_figure(rows, {}) is None and learning_curves_figure(rows, {}) is None


def test_charts_the_analysis_already_drew_are_not_repeated() -> None:
    from reports.charts import draw_charts

    rows, cells = _cells(2)
    analysis = {"figures": {"sweep": [{"source": "figures/learning_curves.png"}]}}
    charts = draw_charts({"rows": rows, "cells": cells, "analysis": analysis})
    assert charts["learning_curves"] is None and charts["per_count"] is not None
