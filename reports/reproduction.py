"""The reproduction table: each experiment of the original post beside our matching cells.

A results row matches a published experiment when it has every axis value
the experiment names (``reports.published``); when none does, the table says
why and names our closest finished cell so a small run still compares.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reports.collect import row_accuracy, to_float
from reports.published import PUBLISHED, PublishedExperiment

__all__ = ["reproduction"]


def _matches(row: dict[str, str], experiment: PublishedExperiment) -> bool:
    """Does a results row have every axis value the published experiment names?"""
    for key, wanted in experiment.match.items():
        value = row.get(key, "")
        if key == "lr":
            number = to_float(value)
            if number is None or abs(number - wanted) > 1e-12 * max(1.0, wanted):
                return False
        elif key == "data":
            if Path(value.rstrip("/")).name != wanted:
                return False
        elif str(value) != str(wanted):
            return False
    return True


def _our_settings(row: dict[str, str]) -> str:
    """The settings of our cell, in the words the post uses."""
    if row.get("task") == "folder":
        what = f"folder {row.get('data', '')}"
    else:
        what = f"{row.get('n_train', '?')} images, sizes {row.get('sizes', '?')}"
    weights = row.get("weights_used") or row.get("weights", "?")
    return (f"{row.get('arch', '?')} ({weights}), {row.get('size', '?')} px, {what}, aug {row.get('aug', '?')}, "
            f"{row.get('epochs', '?')} epochs, lr {row.get('lr', '?')}")


def _not_run_reason(experiment: PublishedExperiment, rows: list[dict[str, str]]) -> str:
    """Why a published experiment has no cell in this sweep."""
    if not rows:
        return "no cells in this run yet"
    if experiment.match.get("weights") == "imagenet" and not any(r.get("weights") == "imagenet" for r in rows):
        return "not in this sweep's preset (it trains without ImageNet weights; the seed preset runs the post)"
    return "not in this sweep's preset (the seed preset runs the post's experiments)"


def _closest(experiment: PublishedExperiment, rows: list[dict[str, str]]) -> dict[str, Any] | None:
    """The finished cell of the same task and count range (or photo folder) nearest the experiment.

    Nearest = fewest differing match axes. Lets a quick run say "ours, under
    other settings" instead of only "not run".
    """
    anchor = {key: experiment.match[key] for key in ("task", "counts", "data") if key in experiment.match}
    candidates = []
    for row in rows:
        if row.get("status") != "done" or row_accuracy(row) is None:
            continue
        if not _matches(row, PublishedExperiment("", "", None, "", anchor)):
            continue
        differs = [key for key in experiment.match
                   if not _matches(row, PublishedExperiment("", "", None, "", {key: experiment.match[key]}))]
        candidates.append((len(differs), row.get("cell_id", ""), row, differs))
    if not candidates:
        return None
    _, _, row, differs = min(candidates, key=lambda item: item[:2])
    return {"label": row.get("label", ""), "accuracy": row_accuracy(row), "settings": _our_settings(row),
            "differs": ", ".join(f"{key} {row.get(key, '')} (post: {experiment.match[key]})" for key in differs)}


def reproduction(rows: list[dict[str, str]], cells: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each published experiment beside our matching cells (or why none ran)."""
    table = []
    for experiment in PUBLISHED:
        ours = []
        for row in (r for r in rows if _matches(r, experiment)):
            status = row.get("status") or "pending"
            note = ""
            if status != "done":
                error = (cells.get(row.get("cell_id", ""), {}).get("error") or {}).get("error") or row.get("error")
                note = str(error or "not run yet")
            elif row.get("weights_used") and row.get("weights_used") != row.get("weights"):
                note = f"asked for {row.get('weights')} weights, used {row.get('weights_used')}"
            ours.append({
                "cell_id": row.get("cell_id", ""), "label": row.get("label", ""), "status": status,
                "accuracy": row_accuracy(row) if status == "done" else None,
                "settings": _our_settings(row), "note": note,
            })
        table.append({
            "name": experiment.name, "settings": experiment.settings,
            "published_text": experiment.published_text,
            "published_accuracy": experiment.published_accuracy,
            "ours": ours, "reason": "" if ours else _not_run_reason(experiment, rows),
            "closest": None if ours else _closest(experiment, rows),
        })
    return table
