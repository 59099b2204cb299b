"""``run_analysis``: a run folder in, tables, figures and summary.json out.

Layout written under ``runs/NAME/analysis/`` (documented in docs/ANALYSIS.md)::

    tables/<id>.csv        tidy tables, each with its n
    figures/<id>.png       figures rendered at the size the report shows them
    examples/<cell>.png    per cell: test images with Grad-CAM and IG overlays, one edit before/after
    cells/<cell>/*.png     per cell: its highest-loss misclassified test images
    summary.json           the report's single source of numbers and words

A partial run (failed, skipped or unfinished cells, cells without a
checkpoint, no counting or no photo cells) gives partial outputs and a
``missing`` entry per gap. Bad input (no run folder, a read-only one, a
damaged checkpoint or sweep.toml) raises ``UserError`` before anything is
half-written.
"""

from __future__ import annotations

import io
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from PIL import Image

from analysis import figures, findings, numerosity, tables
from analysis.cell_analysis import BUDGETS, STEPS, Budget, CellResult, analyse_cell
from analysis.comparisons import paired_comparisons
from analysis.instruments import run_instruments
from analysis.rundata import CellResults, load_cells, open_run
from analysis.summary import Summary
from kit.progress import progress_bar
from kit.records import CellMetrics
from kit.store import atomic_write_bytes
from study.run.runfolder import CellStatus, RunFolder
from study.data.tasks import resolve_device

__all__ = ["run_analysis"]

DEFAULT_QUESTION = "Can convolutional networks count?"


def _description(run: RunFolder) -> str:
    """The sweep's description, '' when none (raises DamagedFileError for a non-UTF-8 sweep.toml)."""
    text = run.read_sweep_text()
    if not text:
        return ""
    try:
        return str(tomllib.loads(text).get("sweep", {}).get("description") or "")
    except tomllib.TOMLDecodeError:
        return ""


def _note_cells(cells: list[CellResults], summary: Summary) -> list[CellResults]:
    """Missing entries for cells that cannot be analysed; returns those that can (done, with checkpoint)."""
    if not cells:
        summary.missing.append({"what": "cells", "why": "the run folder has no cells/ (nothing trained yet)"})
    for cell in cells:
        if cell.status is not CellStatus.DONE:
            why = cell.error or "no metrics.json (the cell did not finish)"
            summary.missing.append({"what": f"cell {cell.cell_id}", "why": f"{cell.status.value}: {why}"})
        elif cell.checkpoint is None:
            summary.missing.append({"what": f"attribution/interventions for {cell.cell_id}",
                                    "why": "no checkpoint.pt in the cell folder"})
    done = [cell for cell in cells if cell.status is CellStatus.DONE]
    if done and not any(cell.is_counting for cell in done):
        summary.missing.append({"what": "counting analyses", "why": "the run has no finished counting cells"})
    return [cell for cell in done if cell.checkpoint is not None]


def _progress(cells: list[CellResults]) -> tuple[Callable[[CellResults], Callable[[str], None]], Callable[[], None]]:
    """Per-cell, per-step progress: a tqdm bar on a terminal (stderr), else one line per cell on stdout.

    Lines go to stdout, beside the command's result, so that stderr holds
    nothing but the one-line error when something is wrong.
    """
    total = sum(len(STEPS) if cell.is_counting else 2 for cell in cells)
    if sys.stderr.isatty():
        bar = progress_bar(total, "analysis", "step", "bar")

        def starter(cell: CellResults) -> Callable[[str], None]:
            def on_step(name: str) -> None:
                bar.set_postfix_str(f"{cell.label}: {name}", refresh=False)
                bar.update(1)
            return on_step
        return starter, bar.close

    def line_starter(cell: CellResults) -> Callable[[str], None]:
        print(f"analysis: cell {cells.index(cell) + 1}/{len(cells)} {cell.label} ({cell.cell_id})", flush=True)
        return lambda name: None
    return line_starter, lambda: None


def _stack(results: list[CellResult], name: str) -> pd.DataFrame:
    frames = [result.tables[name] for result in results if name in result.tables]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _write_png(path: Path, image: torch.Tensor) -> None:
    buffer = io.BytesIO()
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


def _cell_files(results: list[CellResult], summary: Summary) -> dict[str, list[dict[str, str]]]:
    """The examples PNG of each cell, and its misclassified images; returns cell id -> misclassified entries."""
    misclassified: dict[str, list[dict[str, str]]] = {}
    for result in results:
        cell = result.cell
        with summary.step(f"examples of {cell.cell_id}"):
            figure = figures.example_panel(result.examples, result.edit)
            if figure is not None:
                path = figures.save_figure(figure, summary.out_dir / "examples", cell.cell_id)
                summary.examples.append({"cell_id": cell.cell_id, "label": cell.label, "file": path,
                                         "caption": findings.example_caption(result)})
        entries = []
        for k, wrong in enumerate(result.misclassified):
            name = f"cells/{cell.cell_id}/wrong{k}.png"
            _write_png(summary.out_dir / name, wrong["image"])
            entries.append({"file": name, "true": wrong["true"], "pred": wrong["pred"]})
        misclassified[cell.cell_id] = entries
    return misclassified


def _cells_drilldown(cells: list[CellResults], misclassified: dict[str, list[dict[str, str]]]) -> dict[str, Any]:
    drill = {}
    for cell in cells:
        if cell.status is not CellStatus.DONE:
            continue
        history = cell.table(cell.folder.HISTORY)
        columns = [c for c in ("epoch", "train_loss", "valid_loss", "accuracy", "stage") if history is not None
                   and c in history]
        metrics = cell.metrics or CellMetrics()
        drill[cell.cell_id] = {
            "label": cell.label,
            "history": history[columns].to_dict("records") if history is not None else [],
            "confusion": metrics.confusion_matrix, "classes": metrics.classes,
            "misclassified": misclassified.get(cell.cell_id, []),
        }
    return drill


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
        quick: the small budget (a few images per cell, Grad-CAM and IG only).
        max_cells: analyse at most this many cells in depth (None: all).
        budget: overrides the budget ``quick`` chooses (tests use a tiny one).

    Returns:
        the summary dict also written to ``run_dir/analysis/summary.json``.

    Raises:
        UserError: not a run folder, read-only, a damaged checkpoint or sweep.toml.
    """
    started = time.perf_counter()
    run = open_run(run_dir)
    description = _description(run)
    torch_device = resolve_device(device)
    summary = Summary(run.analysis_dir)
    cells = load_cells(run)
    analysable = _note_cells(cells, summary)[:max_cells]
    budget = budget or BUDGETS["quick" if quick else "default"]
    results = []
    cells_of: dict[str, list[str]] = {}  # a per-cell limitation -> the cells it applies to
    starter, finish = _progress(analysable)
    try:
        for cell in analysable:
            result = analyse_cell(cell, run.cache_dir if run.cache_dir.is_dir() else None, torch_device, budget,
                                  on_step=starter(cell))
            results.append(result)
            summary.missing.extend(result.missing)
            for sentence in dict.fromkeys(result.limitations):
                cells_of.setdefault(sentence, []).append(cell.label)
    finally:
        finish()
    summary.limitations.extend(f"{sentence} (cells: {', '.join(labels)})" for sentence, labels in cells_of.items())
    configurations = tables.configurations(cells, {result.cell.cell_id: tuple(result.notes["dewind_hits"])
                                                   for result in results if "dewind_hits" in result.notes})
    comparisons: list[dict[str, Any]] = []
    with summary.step("paired comparisons"):
        comparisons = paired_comparisons(cells)
    with summary.step("tables and figures"):
        findings.write_outputs(summary, cells, results, configurations, comparisons)
    with summary.step("numerosity tables and figures"):
        numerosity.write_numerosity(summary, cells)
    with summary.step("numerosity instruments"):  # Weber fits and number units, per analysable cell
        run_instruments(analysable, summary, budget, torch_device)
    misclassified = _cell_files(results, summary)
    # The study's question heads every report; the sweep's description says what this run did.
    answer = {**findings.answer(DEFAULT_QUESTION, summary, cells, configurations, comparisons), "run": description}
    summary.limitations.extend(findings.limitations(cells, results, configurations))
    summary.limitations.extend(numerosity.limitations(cells))
    return summary.write({
        "answer": answer, "configurations": configurations, "comparisons": comparisons,
        "cells": _cells_drilldown(cells, misclassified),
        "measurement": {result.cell.cell_id: result.notes for result in results},
        "seconds": round(time.perf_counter() - started, 2), "cells_analysed": len(results),
    })
