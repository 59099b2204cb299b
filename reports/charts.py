"""The two figures the report draws itself from cell folders.

Per-count accuracy and learning curves are plain views of what each cell
wrote (metrics.json, history.csv), needed even before ``analysis`` has run;
everything interpretive comes from the analysis package's figures. Figures
are returned as ``{"title", "caption", "png": bytes, "svg": bytes}``, the
same shape ``reports.collect`` gives analysis figures.
"""

from __future__ import annotations

import io
from statistics import mean
from typing import Any

from reports.collect import to_float

__all__ = ["figure_bytes", "per_count_figure", "learning_curves_figure", "draw_charts"]

# Beyond this many lines a legend is unreadable; the rest are drawn unlabelled.
MAX_LEGEND = 12
# Count ranges drawn side by side in the per-count figure.
MAX_PANELS = 5
# With more cells than MAX_LEGEND, lines are averaged by the first of these that varies.
GROUP_AXES = ("aug", "weights", "sizes", "n_train", "arch", "epochs", "lr", "seed", "counts")


def figure_bytes(figure: Any) -> tuple[bytes, bytes]:
    """PNG (150 dpi, for the PDF) and SVG (for the HTML) of a matplotlib figure, then close it."""
    import matplotlib.pyplot as plt

    png, svg = io.BytesIO(), io.BytesIO()
    figure.savefig(png, format="png", dpi=150, bbox_inches="tight")
    figure.savefig(svg, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    return png.getvalue(), svg.getvalue()


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display: reports run at the end of headless sweeps
    import matplotlib.pyplot as plt

    return plt


def _integer_ticks() -> Any:
    """Ticks on whole numbers only (counts and epochs have no halves)."""
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True, nbins=5)


def _legend_below(figure: Any, panels: Any, title: str | None) -> None:
    """One legend under the panels, so it never hides a line (labels deduplicated across panels)."""
    handles, labels = [], []
    for axes in panels:
        for handle, label in zip(*axes.get_legend_handles_labels()):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    if handles:
        figure.tight_layout()  # settle the panels first, then hang the legend below the x labels
        figure.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.01), fontsize=7,
                      ncol=min(2, len(handles)), frameon=False, title=title, title_fontsize=7)


class _Lines:
    """How a chart draws its cells: one named line each, or, beyond MAX_LEGEND cells,
    grey lines for the cells and one mean line per level of the first axis that varies."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.many = len(rows) > MAX_LEGEND
        varying = [axis for axis in GROUP_AXES if len({str(r.get(axis, "")) for r in rows}) > 1]
        self.axis = varying[0] if self.many and varying else None
        self.levels = sorted({str(r.get(self.axis, "")) for r in rows}) if self.axis else ["all"]
        self.drawn = 0  # cells drawn so far: a cell keeps its colour across panels

    def legend_title(self, total: int) -> str | None:
        if not self.many:
            return None
        return f"mean per {self.axis}; grey: each of {total} cells" if self.axis else f"grey: each of {total} cells"

    def draw(self, axes: Any, series: list[tuple[dict[str, Any], list[tuple[float, float]]]], marker: str) -> None:
        """Plot ``(row, [(x, y), ...])`` series on ``axes``."""
        if not self.many:
            for row, points in series:
                axes.plot(*zip(*points), marker=marker, color=f"C{self.drawn % 10}", label=row["label"])
                self.drawn += 1
            return
        groups: dict[str, dict[float, list[float]]] = {}
        for row, points in series:
            axes.plot(*zip(*points), color="0.7", linewidth=0.6, alpha=0.5, zorder=1)
            by_x = groups.setdefault(str(row.get(self.axis, "")) if self.axis else "all", {})
            for x, y in points:
                by_x.setdefault(x, []).append(y)
        for level, by_x in groups.items():
            xs = sorted(by_x)
            name = f"{self.axis}={level} (mean)" if self.axis else "mean of all cells"
            axes.plot(xs, [mean(by_x[x]) for x in xs], marker=marker, linewidth=2, zorder=3,
                      color=f"C{self.levels.index(level) % 10}", label=name)


def per_count_figure(rows: list[dict[str, Any]], cells: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """Accuracy per true count for each finished counting cell, one panel per count range."""
    ranges: dict[str, list[tuple[dict[str, Any], list[tuple[float, float]]]]] = {}
    for row in rows:
        metrics = cells.get(row.get("cell_id", ""), {}).get("metrics") or {}
        points = sorted((to_float(k), to_float(v)) for k, v in (metrics.get("per_class_accuracy") or {}).items())
        points = [(k, v) for k, v in points if k is not None and v is not None]
        if row.get("task") == "counting" and points:
            ranges.setdefault(str(row.get("counts", "")), []).append((row, points))
    if not ranges:
        return None
    plt = _pyplot()
    # Separate panels: 1-5 and 45-50 on one axis would leave the middle empty.
    panels = list(ranges.items())[:MAX_PANELS]
    figure, axes_list = plt.subplots(1, len(panels), figsize=(min(9, 1.2 + 2.5 * len(panels)), 3.0),
                                     sharey=True, squeeze=False)
    lines = _Lines([row for _, series in panels for row, _ in series])
    for axes, (counts, series) in zip(axes_list[0], panels):
        lines.draw(axes, series, "o")
        axes.set(title=f"counts {counts}", xlabel="true number of circles", ylim=(-0.03, 1.03))
        axes.xaxis.set_major_locator(_integer_ticks())
        axes.grid(alpha=0.3)
    axes_list[0][0].set_ylabel("accuracy")
    _legend_below(figure, axes_list[0], lines.legend_title(sum(len(series) for _, series in panels)))
    png, svg = figure_bytes(figure)
    caption = "Accuracy for each true count (test split), one panel per count range, "
    caption += f"averaged over cells by {lines.axis}." if lines.many else "one line per finished counting cell."
    if len(ranges) > len(panels):
        caption += f" {len(ranges) - len(panels)} more count ranges are in the cells' metrics.json."
    return {"title": "Per-count accuracy", "png": png, "svg": svg, "source": "cells/*/metrics.json", "caption": caption}


def _history_series(history: list[dict[str, str]], column: str) -> list[tuple[float, float]]:
    points = [(to_float(h.get("epoch")), to_float(h.get(column))) for h in history]
    return [(e, v) for e, v in points if e is not None and v is not None]


def learning_curves_figure(rows: list[dict[str, Any]], cells: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """Validation loss and accuracy per epoch for each cell with a history.csv."""
    losses, accuracies = [], []
    for row in rows:
        history = cells.get(row.get("cell_id", ""), {}).get("history") or []
        accuracy = _history_series(history, "accuracy")
        if not accuracy:  # older histories carry only the error rate
            accuracy = [(e, 1.0 - v) for e, v in _history_series(history, "error_rate")]
        loss = _history_series(history, "valid_loss")
        losses += [(row, loss)] if loss else []
        accuracies += [(row, accuracy)] if accuracy else []
    if not losses and not accuracies:
        return None
    plt = _pyplot()
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(7.5, 3.0))
    drawn = {row["cell_id"]: row for row, _ in losses + accuracies}
    lines = _Lines(list(drawn.values()))
    lines.draw(loss_axes, losses, ".")
    lines.drawn = 0  # the same cell gets the same colour in both panels
    lines.draw(accuracy_axes, accuracies, ".")
    loss_axes.set(xlabel="epoch", ylabel="validation loss")
    accuracy_axes.set(xlabel="epoch", ylabel="validation accuracy", ylim=(-0.03, 1.03))
    for axes in (loss_axes, accuracy_axes):
        axes.grid(alpha=0.3)
        axes.xaxis.set_major_locator(_integer_ticks())
    _legend_below(figure, (loss_axes, accuracy_axes), lines.legend_title(len(drawn)))
    png, svg = figure_bytes(figure)
    per = f"averaged over cells by {lines.axis}" if lines.many else "one line per cell"
    return {"title": "Learning curves", "png": png, "svg": svg, "source": "cells/*/history.csv",
            "caption": f"Validation loss and accuracy after each epoch (history.csv), {per}."}


def _analysis_has(data: dict[str, Any], stem: str) -> bool:
    """Does the analysis package already provide a sweep figure named like ``stem``?"""
    figures = data["analysis"]["figures"].get("sweep", [])
    return any(stem in str(figure.get("source", "")).rsplit("/", 1)[-1] for figure in figures)


def draw_charts(data: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
    """Both charts for a collected run (``reports.collect.collect_run``).

    Each is drawn only when the analysis package has not already provided its
    own (figures/per_count*.png, figures/learning_curves*.png): the report is
    then complete before ``analysis`` runs and not repetitive after.
    """
    rows, cells = data["rows"], data["cells"]
    return {
        "per_count": None if _analysis_has(data, "per_count") else per_count_figure(rows, cells),
        "learning_curves": None if _analysis_has(data, "learning_curves") else learning_curves_figure(rows, cells),
    }
