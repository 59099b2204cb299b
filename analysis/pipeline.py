"""``run_analysis``: a run folder in, tables, figures and summary.json out.

Layout written under ``runs/NAME/analysis/``::

    tables/<name>.csv      tidy tables, each with its n
    figures/<name>.png/svg
    summary.json           the contract the report reads (see ``Summary.write``)

A partial run (failed, skipped or unfinished cells, cells without a
checkpoint, no counting or no photo cells) gives partial outputs and a
``missing`` entry per gap; nothing here raises for a bad cell.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import figures, tables
from analysis.cell_analysis import BUDGETS, Budget, CellResult, analyse_cell
from analysis.findings import write_findings
from analysis.rundata import CellRecord, load_cells
from study.store import atomic_write_text
from study.tasks import resolve_device

__all__ = ["run_analysis", "Summary", "SECTIONS"]

SECTIONS = ("sweep", "drivers", "attribution", "photo")


class Summary:
    """Collects what the analysis wrote and writes ``summary.json``.

    Args:
        out_dir: ``runs/NAME/analysis``.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.findings: list[dict[str, str]] = []
        self.figures: list[dict[str, str]] = []
        self.tables: list[dict[str, str]] = []
        self.missing: list[dict[str, str]] = []
        self.data: dict[str, pd.DataFrame] = {}  # name -> table, for the findings

    @contextlib.contextmanager
    def step(self, what: str) -> Iterator[None]:
        """Run a step; an exception becomes a ``missing`` entry (a partial run must not stop the analysis)."""
        try:
            yield
        except Exception as error:  # noqa: BLE001
            self.missing.append({"what": what, "why": f"{type(error).__name__}: {error}"})

    def table(self, frame: pd.DataFrame | None, name: str, title: str, section: str) -> None:
        """Write ``tables/<name>.csv`` when there are rows."""
        if frame is None or frame.empty:
            return
        atomic_write_text(self.out_dir / "tables" / f"{name}.csv", frame.to_csv(index=False))
        self.data[name] = frame
        self.tables.append({"path": f"tables/{name}.csv", "title": title, "section": section})

    def figure(self, make: Any, name: str, title: str, caption: str, section: str) -> None:
        """Build a figure with ``make()`` (a step of its own) and write it when there is one."""
        with self.step(f"figure {name}"):
            figure = make()
            if figure is None:
                return
            png, svg = figures.save_figure(figure, self.out_dir / "figures", name)
            self.figures.append({"path": png, "svg": svg, "title": title, "caption": caption, "section": section})

    def write(self, seconds: float, cells_analysed: int) -> dict[str, Any]:
        """Write and return summary.json (``findings``, ``figures``, ``tables``, ``missing``, ``seconds``, ``cells_analysed``)."""
        summary = {"findings": self.findings, "figures": self.figures, "tables": self.tables,
                   "missing": self.missing, "seconds": round(float(seconds), 2), "cells_analysed": int(cells_analysed)}
        # Atomic: the report never reads half a summary.
        atomic_write_text(self.out_dir / "summary.json", json.dumps(summary, indent=2, default=str))
        return summary


def _note_cells(cells: list[CellRecord], summary: Summary) -> list[CellRecord]:
    """Missing entries for cells that cannot be analysed; returns those that can (done, with checkpoint)."""
    if not cells:
        summary.missing.append({"what": "cells", "why": "the run folder has no cells/ (nothing trained yet)"})
    for cell in cells:
        if cell.status != "done":
            why = cell.error or "no metrics.json (the cell did not finish)"
            summary.missing.append({"what": f"cell {cell.cell_id}", "why": f"{cell.status}: {why}"})
        elif cell.checkpoint is None:
            summary.missing.append({"what": f"attribution/interventions for {cell.cell_id}",
                                    "why": "no checkpoint.pt in the cell folder"})
    done = [cell for cell in cells if cell.status == "done"]
    if done and not any(cell.is_counting for cell in done):
        summary.missing.append({"what": "counting analyses", "why": "the run has no finished counting cells"})
    if done and not any(not cell.is_counting for cell in done):
        summary.missing.append({"what": "photo analyses", "why": "the run has no finished photo (folder) cells"})
    return [cell for cell in done if cell.checkpoint is not None]


def _sweep_outputs(cells: list[CellRecord], summary: Summary) -> None:
    """Tables and figures from the cells' own files."""
    accuracy = tables.accuracy_table(cells)
    summary.table(accuracy, "cells", "Every cell: status, axes and test accuracy (Wilson 95% CI over test images)", "sweep")
    summary.table(tables.seed_summary(accuracy), "seed_summary", "Mean test accuracy per configuration (95% t CI over seeds)", "sweep")
    per_count = tables.per_count_accuracy(cells)
    summary.table(per_count, "per_count_accuracy", "Accuracy per true class, with n", "sweep")
    confusion = tables.confusion_long(cells)
    summary.table(confusion, "confusion", "Confusion matrices (long form)", "sweep")
    off_by = tables.off_by_k(cells)
    summary.table(off_by, "off_by_k", "Off-by-k count errors", "sweep")
    noise = tables.label_noise_table(cells)
    summary.table(noise, "label_noise", "Augmentation label noise per policy and count range, beside accuracy", "drivers")
    history = tables.learning_curves(cells)
    summary.table(history, "history", "Learning curves of every cell", "sweep")
    if accuracy.empty:
        return
    summary.figure(lambda: figures.accuracy_heatmaps(accuracy), "accuracy_heatmap", "Accuracy by count range and augmentation",
                   "Mean test accuracy; panels by initialisation and circle-size regime; n = test images.", "sweep")
    summary.figure(lambda: figures.accuracy_vs_train_size(accuracy), "accuracy_vs_train_size", "Accuracy vs training-set size",
                   "Mean and 95% CI over seeds.", "sweep")
    summary.figure(lambda: figures.learning_curves(history), "learning_curves", "Learning curves",
                   "Validation loss and accuracy per epoch (history.csv).", "sweep")
    summary.figure(lambda: figures.per_count_accuracy(per_count), "per_count_accuracy", "Per-count accuracy",
                   "Test accuracy per true count.", "sweep")
    summary.figure(lambda: figures.confusion_matrices(confusion), "confusion_matrices", "Confusion matrices",
                   "Row-normalised; n = test images.", "sweep")
    summary.figure(lambda: figures.off_by_k(off_by), "off_by_k", "Off-by-k errors",
                   "Share of test images off by k counts.", "sweep")
    summary.figure(lambda: figures.seed_spread(accuracy), "seed_spread", "Seed spread",
                   "Each seed as a dot; mean and 95% CI over seeds.", "sweep")
    summary.figure(lambda: figures.label_noise(noise), "label_noise", "Augmentation label noise vs accuracy",
                   "Fraction of augmented training samples whose visible count differs from the label "
                   "(study.augment.count_audit), beside test accuracy.", "drivers")


def _stack(results: list[CellResult], name: str) -> pd.DataFrame:
    frames = [result.tables[name] for result in results if name in result.tables]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _cell_outputs(results: list[CellResult], summary: Summary) -> None:
    """Tables and figures of the per-cell analyses, pooled over cells."""
    specs = (
        ("localization", "Attribution on circles vs area, pointing game, per-circle coverage (per image and method)", "attribution"),
        ("interventions", "Counterfactual edits: predicted count before and after (per scene and edit)", "drivers"),
        ("interventions_summary", "Counterfactual edits: consistency with a counter per edit kind", "drivers"),
        ("deletion", "Deletion curves: attribution order vs random order", "attribution"),
        ("confounds", "DeWind regression of log predicted count on log N, log Size, log Spacing (bootstrap 95% CI)", "drivers"),
        ("baselines", "Network vs ink-area and connected-component counters on the same test set", "drivers"),
        ("probes", "Linear probes of the count per ResNet stage", "drivers"),
    )
    pooled = {name: _stack(results, name) for name, _, _ in specs}
    for name, title, section in specs:
        summary.table(pooled[name], name, title, section)
    for name, make, title, caption, section in (
        ("localization", figures.localization_vs_count, "Attribution on the circles",
         "Share of attribution on circles (dashed: their area share) and fraction of circles above their fair "
         "share, vs N. IG and Occlusion are ~1 by construction (blank-canvas baseline).", "attribution"),
        ("interventions", figures.intervention_changes, "Counterfactual edits", "Distribution of predicted-count change per edit.", "drivers"),
        ("deletion", figures.deletion_curves, "Deletion faithfulness", "Expected count as circles are removed (95% CI over scenes).", "attribution"),
        ("confounds", figures.confound_weights, "Numerosity vs size and spacing cues", "Weights with 95% bootstrap CIs; n = DeWind images.", "drivers"),
        ("probes", figures.probe_curves, "Linear probes", "3-fold CV accuracy of a logistic probe per stage.", "drivers"),
        ("baselines", figures.baseline_bars, "Non-learned baselines", "Same test sets as the networks.", "drivers"),
    ):
        summary.figure(lambda make=make, name=name: make(pooled[name]), name, title, caption, section)
    for result in results:
        _example_figures(result, summary)


def _example_figures(result: CellResult, summary: Summary) -> None:
    """Overlay grids (chosen, correct, wrong) and top losses of one cell."""
    section = "attribution" if result.cell.is_counting else "photo"
    stem, label = result.cell.cell_id, result.cell.label
    examples = result.examples
    if examples:
        correct = [i for i, (t, p) in enumerate(zip(examples["labels"], examples["preds"])) if t == p]
        wrong = [i for i, (t, p) in enumerate(zip(examples["labels"], examples["preds"])) if t != p]
        for kind, rows in (("chosen", list(range(len(examples["labels"])))), ("correct", correct), ("wrong", wrong)):
            subset = _subset(examples, rows[:6])
            summary.figure(lambda subset=subset, kind=kind: figures.overlay_grid(subset, title=f"{label}: {kind} examples"),
                           f"overlays_{kind}_{stem}", f"Grad-CAM and IG overlays, {kind} examples ({label})",
                           "Image, Grad-CAM (last stage, ReLU) and Integrated Gradients (blank-canvas baseline).", section)
    if result.top_losses:
        summary.figure(lambda: figures.overlay_grid(result.top_losses, ("gradcam",), title=f"{label}: top losses"),
                       f"top_losses_{stem}", f"Top losses with Grad-CAM ({label})",
                       "Highest-loss test images: true / predicted class, loss and predicted probability.", section)


def _subset(examples: dict[str, Any], rows: list[int]) -> dict[str, Any]:
    if not rows:
        return {}
    return {"images": examples["images"][rows], "maps": {k: v[rows] for k, v in examples["maps"].items()},
            "labels": [examples["labels"][i] for i in rows], "preds": [examples["preds"][i] for i in rows]}


def run_analysis(
    run_dir: str | Path,
    device: str = "auto",
    quick: bool = False,
    max_cells: int | None = None,
    budget: Budget | None = None,
) -> dict[str, Any]:
    """Analyse a finished (or partial) run folder.

    Args:
        run_dir: ``runs/NAME``.
        device: ``auto`` (CUDA if present), ``cpu``, ``cuda``.
        quick: the small budget (about a dozen images per cell, three attribution methods).
        max_cells: analyse at most this many cells in depth (None: all).
        budget: overrides the images per analysis that ``quick`` chooses (tests use a tiny one).

    Returns:
        the summary dict also written to ``run_dir/analysis/summary.json``.
    """
    started = time.perf_counter()
    run_dir = Path(run_dir)
    out_dir = run_dir / "analysis"
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = Summary(out_dir)
    cells = load_cells(run_dir)
    analysable = _note_cells(cells, summary)
    with summary.step("sweep tables and figures"):
        _sweep_outputs(cells, summary)
    budget, results = budget or BUDGETS["quick" if quick else "default"], []
    for cell in analysable[:max_cells]:
        results.append(analyse_cell(cell, run_dir, resolve_device(device), budget))
        summary.missing.extend(results[-1].missing)
    with summary.step("per-cell tables and figures"):
        _cell_outputs(results, summary)
    with summary.step("findings"):
        write_findings(summary)
    return summary.write(time.perf_counter() - started, len(results))
