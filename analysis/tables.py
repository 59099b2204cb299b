"""Sweep-level tables from the cells' own files (no model needed).

Each function returns a tidy DataFrame with an ``n`` column; seed-level
summaries carry a 95% t interval over seeds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.rundata import AXES, CellRecord, cells_frame
from analysis.stats import mean_ci, wilson_ci

__all__ = ["accuracy_table", "seed_summary", "per_count_accuracy", "off_by_k", "label_noise_table",
           "learning_curves", "confusion_long"]


def accuracy_table(cells: list[CellRecord]) -> pd.DataFrame:
    """Every cell with its test accuracy, a Wilson 95% interval over test images, and ``n``."""
    frame = cells_frame(cells)
    if frame.empty:
        return frame
    accuracy = frame["test_accuracy"].fillna(frame["valid_accuracy"]).astype(float)
    n = frame["n_test"].where(frame["test_accuracy"].notna(), frame["n_valid"]).fillna(0).astype(int)
    bounds = [wilson_ci(int(round(a * k)), k) if np.isfinite(a) else (np.nan, np.nan) for a, k in zip(accuracy, n)]
    frame["accuracy"], frame["n"] = accuracy, n
    frame["ci_low"], frame["ci_high"] = [b[0] for b in bounds], [b[1] for b in bounds]
    return frame


def seed_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy over seeds per configuration, 95% t interval, ``n`` = seeds (done cells only)."""
    done = table[table["status"] == "done"] if not table.empty else table
    if done.empty:
        return pd.DataFrame()
    axes = [axis for axis in AXES if axis in done and done[axis].notna().any()]
    rows = []
    for key, group in done.groupby([done[a].astype(str) for a in axes], sort=False):
        rows.append({**dict(zip(axes, key)), **mean_ci(group["accuracy"].to_numpy()),
                     "seeds": ",".join(str(s) for s in group["seed"])})
    return pd.DataFrame(rows)


def per_count_accuracy(cells: list[CellRecord]) -> pd.DataFrame:
    """Accuracy per true class of each done cell (test split; valid for folder cells), with n."""
    rows = []
    for cell in cells:
        if cell.status != "done":
            continue
        metrics = cell.metrics or {}
        classes = metrics.get("classes") or []
        matrix = np.asarray(metrics.get("confusion_matrix") or [], dtype=float)
        for index, name in enumerate(classes):
            total = matrix[index].sum() if matrix.ndim == 2 and len(matrix) > index else 0
            accuracy = matrix[index, index] / total if total else np.nan
            rows.append({"cell_id": cell.cell_id, "label": cell.label, "counts": cell.spec.get("counts"),
                         "aug": cell.spec.get("aug"), "task": cell.spec.get("task"), "class": name,
                         "accuracy": accuracy, "n": int(total)})
    return pd.DataFrame(rows)


def confusion_long(cells: list[CellRecord]) -> pd.DataFrame:
    """Confusion matrices of done cells in long form: cell, true, predicted, n."""
    rows = []
    for cell in cells:
        metrics = cell.metrics or {}
        classes, matrix = metrics.get("classes") or [], metrics.get("confusion_matrix") or []
        for i, true in enumerate(classes[: len(matrix)]):
            for j, pred in enumerate(classes[: len(matrix[i])]):
                rows.append({"cell_id": cell.cell_id, "label": cell.label, "true": true, "predicted": pred,
                             "n": int(matrix[i][j])})
    return pd.DataFrame(rows)


def off_by_k(cells: list[CellRecord]) -> pd.DataFrame:
    """Share of test images whose predicted count is off by 0, 1, 2, 3+ (counting cells)."""
    rows = []
    for cell in cells:
        metrics = cell.metrics or {}
        for k, share in (metrics.get("off_by_k") or {}).items():
            rows.append({"cell_id": cell.cell_id, "label": cell.label, "counts": cell.spec.get("counts"),
                         "aug": cell.spec.get("aug"), "k": k, "share": share, "n": metrics.get("n_test")})
    return pd.DataFrame(rows)


def label_noise_table(cells: list[CellRecord]) -> pd.DataFrame:
    """Augmentation label noise (study.augment.count_audit, in metrics.json) beside test accuracy."""
    from study.cell import AUDIT_SAMPLES

    rows = []
    for cell in cells:
        metrics = cell.metrics or {}
        if metrics.get("label_noise_rate") is None:
            continue
        rows.append({"cell_id": cell.cell_id, "label": cell.label, "counts": cell.spec.get("counts"),
                     "aug": cell.spec.get("aug"), "sizes": cell.spec.get("sizes"), "seed": cell.spec.get("seed"),
                     "label_noise_rate": metrics["label_noise_rate"],
                     "clipped_rate": metrics.get("label_noise_clipped_rate"),
                     "miscount_rate": metrics.get("label_noise_miscount_rate"),
                     "n_augmented_samples": AUDIT_SAMPLES, "test_accuracy": metrics.get("test_accuracy"),
                     "n_test": metrics.get("n_test")})
    return pd.DataFrame(rows)


def learning_curves(cells: list[CellRecord]) -> pd.DataFrame:
    """history.csv of every cell stacked, with ``cell_id`` and ``label``."""
    frames = []
    for cell in cells:
        history = cell.table("history.csv")
        if history is not None and not history.empty:
            frames.append(history.assign(cell_id=cell.cell_id, label=cell.label))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
