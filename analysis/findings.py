"""Headline sentences for summary.json: each states its numbers and their n.

Each function reads the pooled tables the pipeline wrote (``summary.data``)
and appends at most one finding; a table that is missing adds nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["write_findings"]


def _fmt(value: Any, digits: int = 2) -> str:
    try:
        return "n/a" if value is None or not np.isfinite(float(value)) else f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def _accuracy(data: dict[str, pd.DataFrame]) -> tuple[str, str] | None:
    table = data.get("seed_summary")
    if table is None or table.empty:
        return None
    parts = []
    for _, row in table.head(12).iterrows():
        what = row.get("counts") if row.get("task") == "counting" else row.get("data")
        ci = f" (95% CI {_fmt(row['ci_low'])}-{_fmt(row['ci_high'])})" if row["n"] > 1 else ""
        parts.append(f"{what} {row.get('aug')} init={row.get('weights')}: {_fmt(row['mean'])}{ci}, n={row['n']} seed(s)")
    return "Test accuracy per configuration", "; ".join(parts) + "."


def _label_noise(data: dict[str, pd.DataFrame]) -> tuple[str, str] | None:
    table = data.get("label_noise")
    if table is None or table.empty:
        return None
    grouped = table.groupby(["aug", "counts"]).agg(noise=("label_noise_rate", "mean"), accuracy=("test_accuracy", "mean"),
                                                   cells=("cell_id", "count"), samples=("n_augmented_samples", "first"))
    parts = [f"{aug} on {counts}: {_fmt(row.noise)} of augmented samples mislabelled (n={int(row.samples)} per cell, "
             f"{int(row.cells)} cell(s)), test accuracy {_fmt(row.accuracy)}" for (aug, counts), row in grouped.iterrows()]
    return "Augmentation label noise", "; ".join(parts) + "."


def _localization(data: dict[str, pd.DataFrame]) -> tuple[str, str] | None:
    table = data.get("localization")
    if table is None or table.empty:
        return None
    parts = []
    for method, group in table.groupby("method"):
        small, large = group[group["count"] <= 5], group[group["count"] >= 45]
        coverage = f"per-circle coverage {_fmt(group['circle_coverage'].mean())}"
        if len(small) and len(large):
            coverage = (f"per-circle coverage {_fmt(small['circle_coverage'].mean())} at N<=5 (n={len(small)}) vs "
                        f"{_fmt(large['circle_coverage'].mean())} at N>=45 (n={len(large)})")
        parts.append(f"{method}: {_fmt(group['mass_share'].mean())} of attribution on circles covering "
                     f"{_fmt(group['area_share'].mean(), 3)} of the image, pointing game "
                     f"{_fmt(group['pointing_hit'].mean())}, {coverage} (n={len(group)} images)")
    return "Where attribution falls", ("; ".join(parts) + ". IG and Occlusion use a blank-canvas baseline and are "
                                       "near 1 by construction; Grad-CAM and Saliency are the informative ones.")


def _interventions(data: dict[str, pd.DataFrame]) -> tuple[str, str] | None:
    table = data.get("interventions")
    if table is None or table.empty:
        return None
    parts = []
    for (counts, kind), group in table.groupby([table["label"].str.split().str[0], "kind"], sort=False):
        done = group[group["status"] == "ok"]
        excluded = len(group) - len(done)
        consistent = float((done["pred_change"] == done["expected_change"]).mean()) if len(done) else np.nan
        parts.append(f"{counts} {kind} ({int(group['expected_change'].iloc[0]):+d}): {_fmt(consistent)} "
                     f"(n={len(done)}, {excluded} excluded)")
    return "Counterfactual edits: share of predictions that moved exactly as the count", "; ".join(parts) + "."


def _deletion(data: dict[str, pd.DataFrame]) -> tuple[str, str] | None:
    table = data.get("deletion")
    if table is None or table.empty:
        return None
    removed = table[table["step"] >= 1].assign(per_circle=lambda t: t["delta_expected"] / t["step"])
    parts = []
    for label, group in removed.groupby("label", sort=False):
        means = group.groupby("order")["per_circle"].agg(["mean", "count"])
        if {"attribution", "random"} <= set(means.index):
            parts.append(f"{label}: {_fmt(means.loc['attribution', 'mean'])} per removed circle in IG order "
                         f"(n={int(means.loc['attribution', 'count'])} scene-steps) vs {_fmt(means.loc['random', 'mean'])} "
                         f"in random order (n={int(means.loc['random', 'count'])})")
    return ("Deletion faithfulness: change of the expected count per removed circle (a counter: -1)",
            "; ".join(parts) + ".") if parts else None


def _confounds(data: dict[str, pd.DataFrame]) -> tuple[str, str] | None:
    table = data.get("confounds")
    if table is None or table.empty:
        return None
    parts = []
    for label, group in table.groupby("label", sort=False):
        rows = group.set_index("term")
        terms = ", ".join(f"{name} {_fmt(rows.loc[term, 'coef'])} [{_fmt(rows.loc[term, 'ci_low'])}, "
                          f"{_fmt(rows.loc[term, 'ci_high'])}]"
                          for term, name in (("log_n", "log N"), ("log_size", "log Size"), ("log_spacing", "log Spacing")))
        parts.append(f"{label}: {terms} (n={int(rows['n'].iloc[0])}, DeWind accuracy {_fmt(rows['dewind_accuracy'].iloc[0])})")
    return "Numerosity vs size and spacing (a counter: log N = 1, the others 0)", "; ".join(parts) + "."


def _probes(data: dict[str, pd.DataFrame]) -> tuple[str, str] | None:
    table = data.get("probes")
    if table is None or table.empty:
        return None
    last = table[table["stage"] == table["stage"].iloc[-1] if "layer4" not in set(table["stage"]) else table["stage"] == "layer4"]
    parts = [f"{label}: " + ", ".join(f"{row['init']} {_fmt(row['accuracy'])}" for _, row in group.iterrows())
             + f" (chance {_fmt(group['chance'].iloc[0])}, n={int(group['n'].iloc[0])})"
             for label, group in last.groupby("label", sort=False)]
    return "Linear probe accuracy of the count at the last stage", "; ".join(parts) + "."


def _baselines(data: dict[str, pd.DataFrame]) -> tuple[str, str] | None:
    table = data.get("baselines")
    if table is None or table.empty:
        return None
    parts = [f"{label}: " + ", ".join(f"{row['counter']} {_fmt(row['accuracy'])}" for _, row in group.iterrows())
             + f" (n={int(group['n'].iloc[0])} test images)" for label, group in table.groupby("label", sort=False)]
    return "Network vs non-learned counters (test accuracy)", "; ".join(parts) + "."


def write_findings(summary: Any) -> None:
    """Append every finding that the available tables support to ``summary.findings``."""
    for make in (_accuracy, _label_noise, _localization, _interventions, _deletion, _confounds, _probes, _baselines):
        with summary.step(f"finding {make.__name__.strip('_')}"):
            finding = make(summary.data)
            if finding:
                summary.findings.append({"title": finding[0], "text": finding[1]})
