"""Sweep-level tables from the cells' own files (no model needed).

Each function returns a tidy DataFrame with an ``n`` column. Accuracies of a
configuration pool its seed replicates (``CellResults.key``) through
``kit.intervals.accuracy_estimate``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.rundata import CellResults, cells_frame
from kit.intervals import Estimate, accuracy_estimate, wilson_ci
from kit.records import CellMetrics
from study.run.cell import AUDIT_SAMPLES
from study.run.runfolder import CellStatus

__all__ = ["TEST_SPLITS", "ERROR_SPLITS", "split_correctness", "split_hits", "split_estimates", "accuracy_table",
           "configurations", "per_count_accuracy", "off_by_k", "label_noise_table", "learning_curves", "confusion_long"]

# predictions.csv split names: the i.i.d. test set, the DeWind-controlled one and the counts held out of
# training (paired comparisons run on each; two heads on the same held-out images is the direct contrast).
TEST_SPLITS = {"test": "i.i.d. test", "test_dewind": "DeWind test", "test_held_out": "held-out counts"}


def split_correctness(cell: CellResults, split: str) -> pd.DataFrame | None:
    """Per test image of one split: ``index``, ``label``, ``pred``, ``correct`` (None when absent)."""
    predictions = cell.table(cell.folder.PREDICTIONS)
    if predictions is None or "split" not in predictions:
        return None
    rows = predictions[predictions["split"] == split]
    if rows.empty:
        return None
    return pd.DataFrame({"index": rows["index"].to_numpy(), "label": rows["label"].astype(str).to_numpy(),
                         "pred": rows["pred"].astype(str).to_numpy(),
                         "correct": (rows["label"].astype(str) == rows["pred"].astype(str)).to_numpy()})


# Splits whose count errors the numerosity section reports: the two test sets and the held-out counts.
ERROR_SPLITS = dict(TEST_SPLITS)


def split_estimates(cell: CellResults, split: str) -> pd.DataFrame | None:
    """Per image of one split of a counting cell: the head's count estimate beside the true count.

    The ``estimate`` column (the head's point estimate of the count: a
    regression head's raw output, a classifier's argmax count) is read when
    predictions.csv has it; older run folders have none, and there the
    predicted class's count is the estimate (what a classifier head estimates).

    Returns:
        ``index``, ``count`` (true), ``pred`` (the rounded, clamped count the
        accuracy scores), ``estimate`` (float), ``correct``, ``error``
        (estimate - count) and ``abs_error``; None when the split is absent or
        its labels are not counts.
    """
    predictions = cell.table(cell.folder.PREDICTIONS)
    if predictions is None or "split" not in predictions or not cell.is_counting:
        return None
    rows = predictions[predictions["split"] == split]
    if rows.empty:
        return None
    count = pd.to_numeric(rows["label"], errors="coerce").to_numpy(dtype=float)
    pred = pd.to_numeric(rows["pred"], errors="coerce").to_numpy(dtype=float)
    estimate = pd.to_numeric(rows["estimate"], errors="coerce").to_numpy(dtype=float) if "estimate" in rows else pred
    if not (np.isfinite(count).all() and np.isfinite(pred).all()):
        return None
    estimate = np.where(np.isfinite(estimate), estimate, pred)  # a blank estimate: the predicted count
    return pd.DataFrame({"index": rows["index"].to_numpy(), "count": count.astype(int), "pred": pred.astype(int),
                         "estimate": estimate, "correct": pred == count, "error": estimate - count,
                         "abs_error": np.abs(estimate - count)})


def split_hits(cell: CellResults, split: str) -> tuple[int, int] | None:
    """(correct, images) of a done cell on a split: predictions.csv, else metrics.json."""
    table = split_correctness(cell, split)
    if table is not None:
        return int(table["correct"].sum()), len(table)
    metrics = cell.metrics or CellMetrics()
    accuracy, n = getattr(metrics, f"{split}_accuracy", None), getattr(metrics, f"n_{split}", None)
    if accuracy is None or not n:
        return None
    return int(round(float(accuracy) * int(n))), int(n)


def accuracy_table(cells: list[CellResults]) -> pd.DataFrame:
    """Every cell with its i.i.d. test accuracy, a Wilson 95% interval over its test images, and ``n``."""
    frame = cells_frame(cells)
    if frame.empty:
        return frame
    accuracy, low, high, n = [], [], [], []
    for cell in cells:
        hits = split_hits(cell, "test") if cell.status is CellStatus.DONE else None
        if hits is None and cell.status is CellStatus.DONE:
            hits = split_hits(cell, "valid")  # folder cells without a test split
        k, total = hits or (0, 0)
        bounds = wilson_ci(k, total) if total else (np.nan, np.nan)
        accuracy.append(k / total if total else np.nan)
        low.append(bounds[0])
        high.append(bounds[1])
        n.append(total)
    return frame.assign(accuracy=accuracy, ci_low=low, ci_high=high, n=n)


def _estimate(cells: list[CellResults], split: str,
              fallback: dict[str, tuple[int, int]] | None = None) -> Estimate | None:
    hits = [h for h in (split_hits(cell, split) or (fallback or {}).get(cell.cell_id) for cell in cells) if h]
    return accuracy_estimate([k for k, _ in hits], [n for _, n in hits])


def configurations(cells: list[CellResults], dewind_fallback: dict[str, tuple[int, int]] | None = None) -> list[dict]:
    """The configurations legend: done cells pooled by configuration key.

    Args:
        cells: every cell of the run (only done ones are pooled).
        dewind_fallback: cell id -> (correct, images) on a DeWind set the analysis
            generated, for cells whose predictions.csv has no ``test_dewind`` split.

    Returns:
        one dict per configuration, in first-seen order: ``label``, ``key``
        (setting field -> value, task-ignored fields left out), ``cells``,
        ``n_seeds``, ``n_images``, ``accuracy`` and ``dewind_accuracy``
        (``Estimate.to_dict()`` or None), and ``seed_hits``: per member cell,
        ``[[correct, images] on test, [correct, images] on the DeWind set]`` (None where absent).
    """
    groups: dict[tuple, list[CellResults]] = {}
    for cell in cells:
        if cell.status is CellStatus.DONE:
            groups.setdefault(cell.key, []).append(cell)
    legend = []
    for key, members in groups.items():
        iid, dewind = _estimate(members, "test"), _estimate(members, "test_dewind", dewind_fallback)
        recorded = all(split_hits(cell, "test_dewind") for cell in members)
        legend.append({
            "label": members[0].config_label, "key": {name: members[0].settings.get(name) for name, value in key if value},
            "cells": [cell.cell_id for cell in members], "n_seeds": len(members),
            "n_images": iid.n_images if iid else 0,
            "accuracy": iid.to_dict() if iid else None,
            "dewind_accuracy": {**dewind.to_dict(), "source": "test_dewind split" if recorded else
                                "DeWind set generated by the analysis"} if dewind else None,
            "seed_hits": [[split_hits(cell, "test"),
                           split_hits(cell, "test_dewind") or (dewind_fallback or {}).get(cell.cell_id)]
                          for cell in members],
        })
    return legend


def per_count_accuracy(cells: list[CellResults]) -> pd.DataFrame:
    """Accuracy per true class of each done cell (the metrics' split: test, or valid for folder cells), with n."""
    rows = []
    for cell in cells:
        if cell.status is not CellStatus.DONE:
            continue
        metrics = cell.metrics or CellMetrics()
        classes = metrics.classes
        matrix = np.asarray(metrics.confusion_matrix, dtype=float)
        for index, name in enumerate(classes):
            total = matrix[index].sum() if matrix.ndim == 2 and len(matrix) > index else 0
            rows.append({"cell_id": cell.cell_id, "label": cell.label, "configuration": cell.config_label,
                         "task": cell.settings.get("task", "counting"), "class": name,
                         "accuracy": matrix[index, index] / total if total else np.nan, "n": int(total)})
    return pd.DataFrame(rows)


def confusion_long(cells: list[CellResults]) -> pd.DataFrame:
    """Confusion matrices of done cells in long form: cell, true, predicted, n."""
    rows = []
    for cell in cells:
        metrics = cell.metrics or CellMetrics()
        classes, matrix = metrics.classes, metrics.confusion_matrix
        for i, true in enumerate(classes[: len(matrix)]):
            for j, pred in enumerate(classes[: len(matrix[i])]):
                rows.append({"cell_id": cell.cell_id, "label": cell.label, "true": true, "predicted": pred,
                             "n": int(matrix[i][j])})
    return pd.DataFrame(rows)


def off_by_k(cells: list[CellResults]) -> pd.DataFrame:
    """Share of test images whose predicted count is off by 0, 1, 2, 3+ (counting cells)."""
    rows = []
    for cell in cells:
        metrics = cell.metrics or CellMetrics()
        for k, share in (metrics.off_by_k or {}).items():
            rows.append({"cell_id": cell.cell_id, "label": cell.label, "configuration": cell.config_label,
                         "k": k, "share": share, "n": metrics.n_test})
    return pd.DataFrame(rows)


def label_noise_table(cells: list[CellResults]) -> pd.DataFrame:
    """Augmentation label noise (study.data.augment.count_audit, in metrics.json) beside test accuracy."""
    rows = []
    for cell in cells:
        metrics = cell.metrics or CellMetrics()
        if metrics.label_noise_rate is None:
            continue
        rows.append({"cell_id": cell.cell_id, "label": cell.label, "configuration": cell.config_label,
                     "counts": cell.settings.get("counts"), "aug": cell.settings.get("aug"),
                     "label_noise_rate": metrics.label_noise_rate,
                     "clipped_rate": metrics.label_noise_clipped_rate,
                     "miscount_rate": metrics.label_noise_miscount_rate,
                     "n_augmented_samples": AUDIT_SAMPLES, "test_accuracy": metrics.test_accuracy,
                     "n_test": metrics.n_test})
    return pd.DataFrame(rows)


def learning_curves(cells: list[CellResults]) -> pd.DataFrame:
    """history.csv of every cell stacked, with ``cell_id`` and ``label``."""
    frames = []
    for cell in cells:
        history = cell.table(cell.folder.HISTORY)
        if history is not None and not history.empty:
            frames.append(history.assign(cell_id=cell.cell_id, label=cell.label))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
