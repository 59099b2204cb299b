"""Headline findings stated with their numbers, read off the results table.

These are descriptive (best and worst cell, means per axis level, label noise
against accuracy); the analysis package's findings, which test hypotheses,
are listed after them in the report.
"""

from __future__ import annotations

from statistics import mean
from typing import Any

from reports.collect import row_accuracy, to_float

__all__ = ["headline_findings"]

# Axes whose levels are compared when the sweep varies them.
COMPARED_AXES = ("counts", "aug", "weights", "sizes", "n_train", "arch", "epochs")


def _done(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("status") == "done" and row_accuracy(r) is not None]


def _axis_finding(rows: list[dict[str, Any]], axis: str) -> dict[str, str] | None:
    """Mean accuracy per level of ``axis`` among counting cells, if it varies."""
    levels: dict[str, list[float]] = {}
    for row in rows:
        if row.get("task", "counting") == "counting":
            levels.setdefault(str(row.get(axis, "")), []).append(row_accuracy(row))
    if len(levels) < 2:
        return None
    ranked = sorted(levels.items(), key=lambda item: -mean(item[1]))
    parts = [f"{axis} {level}: {mean(values):.3f} (n={len(values)})" for level, values in ranked]
    return {"title": f"Accuracy by {axis}", "text": "Mean counting accuracy " + "; ".join(parts) + "."}


def _noise_finding(rows: list[dict[str, Any]]) -> dict[str, str] | None:
    """Label noise from augmentation against accuracy (correlation with 3+ cells)."""
    pairs = [(to_float(r.get("label_noise_rate")), row_accuracy(r)) for r in rows]
    pairs = [(noise, acc) for noise, acc in pairs if noise is not None]
    if not pairs:
        return None
    noises = [noise for noise, _ in pairs]
    text = (f"Augmentation changed the visible count of {min(noises):.1%} to {max(noises):.1%} "
            f"of training samples (label noise) across {len(pairs)} counting cells.")
    if len(pairs) >= 3 and len(set(noises)) > 1:
        mean_n, mean_a = mean(noises), mean(acc for _, acc in pairs)
        cov = sum((n - mean_n) * (a - mean_a) for n, a in pairs)
        var_n = sum((n - mean_n) ** 2 for n in noises)
        var_a = sum((a - mean_a) ** 2 for _, a in pairs)
        if var_a > 0:
            text += f" Pearson r between label noise and accuracy: {cov / (var_n * var_a) ** 0.5:+.2f}."
    return {"title": "Label noise from augmentation", "text": text}


def headline_findings(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Findings with numbers from results rows (empty when no cell finished).

    Args:
        rows: results rows with ``label`` (``reports.collect``).

    Returns:
        ``[{"title", "text"}]`` in reading order.
    """
    done = _done(rows)
    if not done:
        return []
    ranked = sorted(done, key=row_accuracy, reverse=True)
    best, worst = ranked[0], ranked[-1]
    findings = [{
        "title": "Best and worst cell",
        "text": (f"Highest accuracy {row_accuracy(best):.3f} ({best['label']}); "
                 f"lowest {row_accuracy(worst):.3f} ({worst['label']}), over {len(done)} finished cells."),
    }]
    for axis in COMPARED_AXES:
        finding = _axis_finding(done, axis)
        if finding:
            findings.append(finding)
    mae = [(to_float(r.get("count_mae")), r) for r in done]
    mae = [(value, r) for value, r in mae if value is not None]
    if mae:
        value, row = max(mae, key=lambda item: item[0])
        findings.append({"title": "Counting error size",
                         "text": f"Largest mean absolute count error {value:.2f} ({row['label']})."})
    noise = _noise_finding(done)
    if noise:
        findings.append(noise)
    return findings
