"""The reproduction table: each experiment of the original post beside this run's number.

A cell matches a published experiment when it has every setting the
experiment names (``reports.published``). Our number is the analysis's
estimate for the matching configuration (mean with its CI and n, from
summary.json ``configurations``), or the cell's own test accuracy when the
analysis has not run. When nothing matches, the row says why and names the
closest finished cell, so a small run still compares.
"""

from __future__ import annotations

from typing import Any

from kit.formatting import ci_sentence, general, number
from study.config.labels import short_value, spelled_value

from reports.published import PUBLISHED, PublishedExperiment
from kit.records import row_accuracy, to_float

__all__ = ["reproduction", "matches"]


def matches(row: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Does a results row have every setting in ``wanted`` (lr numerically, data by folder name)?"""
    for key, value in wanted.items():
        have = row.get(key, "")
        if key == "lr":
            number_ = to_float(have)
            if number_ is None or abs(number_ - value) > 1e-12 * max(1.0, value):
                return False
        elif key == "data":
            if short_value("data", have) != value:
                return False
        elif str(have) != str(value):
            return False
    return True


def _ours(rows: list[dict[str, Any]], configurations: list[dict[str, Any]]) -> list[str]:
    """Our numbers for the matching rows: one line per configuration, else per cell."""
    lines, covered = [], set()
    ids = {row["cell_id"] for row in rows}
    for configuration in configurations:
        cells = set(configuration.get("cells") or []) & ids
        if cells:
            covered |= cells
            lines.append(f"{configuration.get('label', '?')}: "
                         f"{ci_sentence(configuration.get('accuracy'))}")
    for row in rows:
        if row["cell_id"] in covered:
            continue
        if row.get("status") == "done":
            lines.append(f"{row['label']}: {number(row_accuracy(row))} (one cell, no CI: analysis not run)")
        else:
            lines.append(f"{row['label']}: {row.get('status')}" + (f" ({row['error']})" if row.get("error") else ""))
    return lines


def _closest(experiment: PublishedExperiment, rows: list[dict[str, Any]]) -> str:
    """'Closest here: ...' for the finished cell of the same task and count range with fewest differences."""
    anchor = {key: experiment.match[key] for key in ("task", "counts", "data") if key in experiment.match}
    candidates = []
    for row in rows:
        if row.get("status") != "done" or row_accuracy(row) is None or not matches(row, anchor):
            continue
        differs = [key for key, value in experiment.match.items() if not matches(row, {key: value})]
        candidates.append((len(differs), row["label"], row, differs))
    if not candidates:
        return ""
    _, _, row, differs = min(candidates, key=lambda item: item[:2])
    shown = ", ".join(f"{spelled_value(key, general(row.get(key)) if key == 'lr' else row.get(key))} "
                      f"(post: {general(experiment.match[key]) if key == 'lr' else experiment.match[key]})"
                      for key in differs)
    return f"Closest here: {row['label']}, accuracy {number(row_accuracy(row))}; differs in {shown}."


def _not_run_reason(experiment: PublishedExperiment, rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "No cells in this run yet."
    if experiment.match.get("weights") == "imagenet" and not any(r.get("weights") == "imagenet" for r in rows):
        return "Not in this run: it trains without ImageNet weights (the seed preset runs the post's experiments)."
    return "Not in this run (the seed preset runs the post's experiments)."


def reproduction(rows: list[dict[str, Any]], configurations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per published experiment.

    Args:
        rows: results rows with ``label`` (``reports.collect``).
        configurations: summary.json ``configurations`` ([] without analysis).

    Returns:
        ``[{"name", "settings", "published", "ours": [str], "note": str}]`` in the post's order.
    """
    table = []
    for experiment in PUBLISHED:
        matched = [row for row in rows if matches(row, experiment.match)]
        note = "" if matched else " ".join(filter(None, [_not_run_reason(experiment, rows), _closest(experiment, rows)]))
        table.append({"name": experiment.name, "settings": experiment.settings,
                      "published": experiment.published_text, "ours": _ours(matched, configurations), "note": note})
    return table
