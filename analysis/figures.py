"""Figures of the analysis, drawn with matplotlib's object API.

No function here touches global state: figures are ``matplotlib.figure.Figure``
objects (no pyplot, no backend selection), and the seaborn style is applied
through ``matplotlib.rc_context`` only while a figure is drawn and saved.
Every figure is rendered at the size it is shown (``WIDTH`` inches at
``DPI``), as PNG only, so the report embeds it without rescaling.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from kit.store import atomic_write_bytes

__all__ = ["WIDTH", "DPI", "style", "save_figure", "accuracy_by_range", "learning_curves", "per_count_accuracy",
           "confusion_matrices", "label_noise", "overlay_grid", "example_panel", "localization_vs_count",
           "intervention_consistency", "deletion_curves", "size_ratio", "probe_curves", "count_errors",
           "resolution_curves"]

WIDTH, HEIGHT, DPI = 6.5, 3.5, 100  # inches and dots per inch of a report-width figure
PALETTE = "colorblind"


def style() -> Any:
    """The rc settings of every figure (seaborn whitegrid, small fonts), as a context manager."""
    rc = {**sns.axes_style("whitegrid"), **sns.plotting_context("paper"),
          "axes.prop_cycle": matplotlib.cycler(color=sns.color_palette(PALETTE))}
    return matplotlib.rc_context(rc)


def _styled(draw: Callable[..., Figure | None]) -> Callable[..., Figure | None]:
    """Run a drawing function inside ``style()`` (the style ends with the call)."""
    @functools.wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> Figure | None:
        with style():
            return draw(*args, **kwargs)
    return wrapper


def _figure(height: float = HEIGHT, width: float = WIDTH) -> Figure:
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def save_figure(figure: Figure, folder: Path, name: str) -> str:
    """Write ``folder/name.png`` atomically at the figure's own size; return ``<folder name>/<name>.png``."""
    buffer = io.BytesIO()  # rendered in memory, then written atomically: no half-written figure
    with style():
        figure.savefig(buffer, format="png", dpi=DPI)
    atomic_write_bytes(folder / f"{name}.png", buffer.getvalue())
    return f"{folder.name}/{name}.png"


@_styled
def accuracy_by_range(configs: pd.DataFrame, baselines: pd.DataFrame | None = None) -> Figure | None:
    """Accuracy per x group and hue with 95% CIs; one panel per test set; baselines as grey markers.

    Args:
        configs: rows ``x``, ``hue``, ``split`` (panel), ``mean``, ``low``, ``high``.
        baselines: rows ``x``, ``split``, ``counter``, ``accuracy`` (optional).
    """
    if configs.empty:
        return None
    splits = list(dict.fromkeys(configs["split"]))
    figure = _figure()
    axes = figure.subplots(1, len(splits), sharey=True, squeeze=False)[0]
    xs = list(dict.fromkeys(configs["x"]))
    hues = list(dict.fromkeys(configs["hue"]))
    colours = sns.color_palette(PALETTE, len(hues))
    offsets = np.linspace(-0.2, 0.2, len(hues)) if len(hues) > 1 else [0.0]
    for axis, split in zip(axes, splits):
        data = configs[configs["split"] == split]
        for offset, colour, hue in zip(offsets, colours, hues):
            rows = data[data["hue"] == hue]
            x = np.array([xs.index(v) for v in rows["x"]]) + offset
            axis.errorbar(x, rows["mean"], yerr=np.clip([rows["mean"] - rows["low"], rows["high"] - rows["mean"]], 0, None),
                          fmt="o",
                          color=colour, capsize=3, label=hue)
        if baselines is not None and not baselines.empty:
            for marker, (counter, rows) in zip("x+", baselines[baselines["split"] == split].groupby("counter")):
                axis.scatter([xs.index(v) for v in rows["x"] if v in xs], rows["accuracy"][rows["x"].isin(xs)],
                             marker=marker, color="0.35", s=40, label=counter.replace("_", " "), zorder=3)
        axis.set_xticks(range(len(xs)), xs)
        axis.set(title=split, ylim=(-0.02, 1.02), xlim=(-0.6, len(xs) - 0.4))
    axes[0].set_ylabel("accuracy (95% CI)")
    axes[-1].legend(fontsize="x-small", loc="lower left")
    return figure


@_styled
def learning_curves(history: pd.DataFrame) -> Figure | None:
    """Validation loss and accuracy per epoch for every cell."""
    if history.empty or "epoch" not in history:
        return None
    figure = _figure()
    axes = figure.subplots(1, 2)
    for axis, column, title in ((axes[0], "valid_loss", "validation loss"), (axes[1], "accuracy", "validation accuracy")):
        if column in history:
            sns.lineplot(data=history, x="epoch", y=column, hue="label", marker="o", ax=axis, legend=axis is axes[1])
        axis.set(xlabel="epoch", ylabel=title)
    if axes[1].get_legend():
        axes[1].legend(fontsize="xx-small")
    return figure


@_styled
def per_count_accuracy(table: pd.DataFrame) -> Figure | None:
    """Accuracy per true count, one line per configuration (counting cells)."""
    data = table[table["task"] == "counting"].copy() if not table.empty else table
    if data.empty:
        return None
    data["count"] = data["class"].astype(int)
    figure = _figure()
    axis = figure.subplots()
    sns.lineplot(data=data, x="count", y="accuracy", hue="configuration", marker="o", errorbar=("ci", 95), ax=axis)
    axis.set(xlabel="true count", ylabel="test accuracy", ylim=(-0.02, 1.02))
    axis.legend(fontsize="x-small")
    return figure


@_styled
def confusion_matrices(confusion: pd.DataFrame, limit: int = 4) -> Figure | None:
    """Row-normalised confusion matrices (first ``limit`` cells)."""
    if confusion.empty:
        return None
    cells = list(confusion.groupby("label", sort=False))[:limit]
    figure = _figure(height=2.0 * ((len(cells) + 1) // 2) + 0.4)
    axes = figure.subplots((len(cells) + 1) // 2, min(2, len(cells)), squeeze=False).flat
    for axis, (label, group) in zip(axes, cells):
        matrix = group.pivot_table(index="true", columns="predicted", values="n", aggfunc="sum", sort=False)
        share = matrix.div(matrix.sum(axis=1).replace(0, np.nan), axis=0)
        sns.heatmap(share, vmin=0, vmax=1, cmap="viridis", ax=axis, cbar=False, square=True)
        axis.set(title=f"{label} (n={int(matrix.values.sum())})", xlabel="predicted", ylabel="true")
    return figure


@_styled
def label_noise(table: pd.DataFrame) -> Figure | None:
    """Label-noise rate of each configuration beside the accuracy its cells reached."""
    if table.empty:
        return None
    data = table.melt(id_vars=["configuration"], value_vars=["label_noise_rate", "test_accuracy"],
                      var_name="measure", value_name="value")
    data["measure"] = data["measure"].map({"label_noise_rate": "augmented samples mislabelled",
                                           "test_accuracy": "test accuracy"})
    figure = _figure()
    axis = figure.subplots()
    sns.barplot(data=data, x="configuration", y="value", hue="measure", errorbar=None, ax=axis)
    axis.set(xlabel="", ylabel="rate", ylim=(0, 1.02))
    axis.legend(fontsize="x-small")
    return figure


def _heat(axis: Any, image: np.ndarray, heat: np.ndarray | None, title: str) -> None:
    axis.imshow(image)
    if heat is not None:
        axis.imshow(heat, cmap="magma", alpha=0.55, extent=(0, image.shape[1], image.shape[0], 0))
    axis.set_title(title, fontsize=7)
    axis.axis("off")


@_styled
def overlay_grid(examples: dict[str, Any], methods: tuple[str, ...] = ("gradcam", "integrated_gradients"),
                 limit: int = 4, title: str = "") -> Figure | None:
    """Rows of examples: the image, then each method's map overlaid.

    Args:
        examples: ``images`` uint8 ``[E, 3, H, W]``, ``maps`` {method: ``[E, h, w]``}, ``labels``, ``preds``.
    """
    if not examples or len(examples.get("images", [])) == 0:
        return None
    methods = tuple(m for m in methods if m in examples["maps"])
    count = min(limit, len(examples["images"]))
    figure = _figure(height=1.4 * count + 0.3, width=1.5 * (1 + len(methods)))
    axes = figure.subplots(count, 1 + len(methods), squeeze=False)
    for row in range(count):
        image = examples["images"][row].permute(1, 2, 0).numpy()
        _heat(axes[row, 0], image, None, f"true {examples['labels'][row]} / pred {examples['preds'][row]}")
        for column, method in enumerate(methods, start=1):
            heat = examples["maps"][method][row].numpy()
            _heat(axes[row, column], image, heat / max(float(heat.max()), 1e-12), method.replace("_", " "))
    if title:
        figure.suptitle(title, fontsize=8)
    return figure


@_styled
def example_panel(examples: dict[str, Any], edit: dict[str, Any] | None, limit: int = 3) -> Figure | None:
    """A cell's examples: test images with Grad-CAM and IG overlays, then one counterfactual edit before/after.

    Args:
        examples: as for ``overlay_grid``.
        edit: ``before``/``after`` uint8 ``[3, H, W]``, ``kind``, ``pred_before``, ``pred_after``, ``true_before``,
            ``true_after`` (None: no edit row).
    """
    if not examples or len(examples.get("images", [])) == 0:
        return None
    count = min(limit, len(examples["images"]))
    methods = [m for m in ("gradcam", "integrated_gradients") if m in examples["maps"]]
    columns = max(count, 2)
    figure = _figure(height=1.5 * (1 + len(methods) + (edit is not None)) / 1.6 + 0.4, width=WIDTH)
    rows = 1 + len(methods) + (edit is not None)
    axes = figure.subplots(rows, columns, squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for column in range(count):
        image = examples["images"][column].permute(1, 2, 0).numpy()
        _heat(axes[0, column], image, None, f"true {examples['labels'][column]} / pred {examples['preds'][column]}")
        for row, method in enumerate(methods, start=1):
            heat = examples["maps"][method][column].numpy()
            name = "Grad-CAM" if method == "gradcam" else "IG"
            _heat(axes[row, column], image, heat / max(float(heat.max()), 1e-12), name)
    if edit is not None:
        for column, when in enumerate(("before", "after")):
            _heat(axes[-1, column], edit[when].permute(1, 2, 0).numpy(), None,
                  f"{edit['kind']} {when}: {edit[f'true_{when}']} circles, pred {edit[f'pred_{when}']}")
    return figure


@_styled
def localization_vs_count(table: pd.DataFrame) -> Figure | None:
    """Attribution mass share on circles against the number of circles, per method (area share dashed)."""
    if table.empty:
        return None
    figure = _figure()
    axis = figure.subplots()
    sns.lineplot(data=table, x="count", y="mass_share", hue="method", marker="o", errorbar=("ci", 95), ax=axis)
    sns.lineplot(data=table, x="count", y="area_share", color="0.3", linestyle="--", label="area share",
                 errorbar=None, ax=axis)
    axis.set(xlabel="circles in the image (N)", ylabel="share of attribution on circles")
    axis.legend(fontsize="x-small")
    return figure


@_styled
def intervention_consistency(table: pd.DataFrame) -> Figure | None:
    """Share of edits whose prediction moved as the count did: all edits vs edits of correctly predicted scenes.

    Args:
        table: ``interventions_summary`` rows: ``label``, ``kind``, ``consistent``, ``consistent_if_correct``.
    """
    if table.empty:
        return None
    data = table.melt(id_vars=["label", "kind"], value_vars=["consistent", "consistent_if_correct"],
                      var_name="scenes", value_name="share")
    data["scenes"] = data["scenes"].map({"consistent": "all edited scenes",
                                         "consistent_if_correct": "scenes predicted correctly before"})
    data["edit"] = data["kind"] + " · " + data["label"]
    figure = _figure()
    axis = figure.subplots()
    sns.barplot(data=data, x="edit", y="share", hue="scenes", errorbar=None, ax=axis)
    axis.set(xlabel="", ylabel="moved as a counter would", ylim=(0, 1.02))
    axis.tick_params(axis="x", rotation=30, labelsize=6)
    axis.legend(fontsize="x-small")
    return figure


@_styled
def deletion_curves(table: pd.DataFrame) -> Figure | None:
    """Change of the expected count as circles are removed, attribution order vs random."""
    if table.empty:
        return None
    figure = _figure()
    axis = figure.subplots()
    sns.lineplot(data=table, x="step", y="delta_expected", hue="order", style="label", marker="o",
                 errorbar=("ci", 95), ax=axis)
    steps = np.arange(0, int(table["step"].max()) + 1)
    axis.plot(steps, -steps, color="0.5", linestyle=":", label="a counter")
    axis.set(xlabel="circles removed", ylabel="change of expected count")
    axis.legend(fontsize="xx-small")
    return figure


@_styled
def size_ratio(rows: list[dict[str, Any]], counter_band: float, ink_from: float) -> Figure | None:
    """bSize/bN of each configuration on the DeWind set with its 95% CI: 0 is a counter, 1 an ink reader.

    Args:
        rows: ``analysis.verdict.verdict_rows``; configurations without a fit are left out, and
            those whose bN is not resolved above 0 are named at the left edge instead of drawn.
        counter_band, ink_from: the verdict rule's thresholds, drawn as bands.
    """
    rows = [row for row in rows if row["ratio"]]
    if not rows:
        return None
    figure = _figure(height=max(2.2, 0.42 * len(rows) + 1.2))
    axis = figure.subplots()
    axis.axvspan(-counter_band, counter_band, color="0.9", zorder=0, label=f"counts (|ratio| < {counter_band})")
    axis.axvspan(ink_from, max(2.0, ink_from + 1), color="#fde6c8", zorder=0, label=f"ink-like (> {ink_from})")
    for value, name in ((0, "counter"), (1, "ink reader")):
        axis.axvline(value, color="0.4", linewidth=0.8, linestyle="--")
        axis.text(value, len(rows) - 0.4, name, ha="center", va="bottom", fontsize="x-small", color="0.3")
    colours = sns.color_palette(PALETTE, 2)
    for y, row in enumerate(rows):
        ratio = row["ratio"]
        colour = colours[1] if row.get("covered") is False else colours[0]
        if ratio["resolved"]:
            axis.errorbar([ratio["ratio"]], [y], xerr=[[max(ratio["ratio"] - ratio["low"], 0)],
                                                     [max(ratio["high"] - ratio["ratio"], 0)]],
                          fmt="o", color=colour, capsize=3)
        else:
            axis.text(-0.95, y, "no number signal", va="center", fontsize="x-small", color="0.3")
    axis.set_yticks(range(len(rows)), [f"{row['configuration']} (n={row['ratio']['n_images']})" for row in rows],
                    fontsize="x-small")
    axis.set_ylim(-0.7, len(rows) + 0.2)
    drawn = [row["ratio"] for row in rows if row["ratio"]["resolved"]]
    axis.set_xlim(min([-1.0] + [r["low"] - 0.1 for r in drawn]), max([2.0] + [r["high"] + 0.1 for r in drawn]))
    axis.set_xlabel("bSize / bN on the DeWind set (orange: trained on one radius)")
    axis.legend(fontsize="xx-small", loc="lower right")
    return figure


@_styled
def probe_curves(table: pd.DataFrame) -> Figure | None:
    """Linear-probe accuracy of the count per stage: trained vs random (vs ImageNet) bodies."""
    if table.empty:
        return None
    figure = _figure()
    axis = figure.subplots()
    sns.lineplot(data=table, x="stage", y="accuracy", hue="init", style="label", marker="o", ax=axis)
    axis.set(xlabel="ResNet stage", ylabel="probe accuracy (3-fold CV)", ylim=(0, 1.02))
    axis.legend(fontsize="xx-small")
    return figure


def _bars(axis: Any, x: np.ndarray, rows: pd.DataFrame, column: str, colour: Any, hollow: np.ndarray,
          label: str) -> None:
    """Points of ``column`` with their 95% CI bars; ``hollow`` [len(rows)] marks points drawn unfilled."""
    mean = rows[column].to_numpy(dtype=float)
    # a percentile bootstrap interval need not contain the estimate: clip the bars at it
    error = np.clip([mean - rows[f"{column}_low"].to_numpy(dtype=float),
                     rows[f"{column}_high"].to_numpy(dtype=float) - mean], 0, None)
    axis.plot(x, mean, color=colour, linewidth=1, label=label)
    axis.errorbar(x, mean, yerr=np.nan_to_num(error), fmt="none", ecolor=colour, capsize=2, linewidth=0.8)
    axis.scatter(x[~hollow], mean[~hollow], color=colour, s=14, zorder=3)
    axis.scatter(x[hollow], mean[hollow], facecolor="white", edgecolor=colour, s=22, linewidth=1.2, zorder=3)


@_styled
def count_errors(table: pd.DataFrame) -> Figure | None:
    """Signed bias (top) and MAE (bottom) of the count estimate per true count, one line per configuration.

    Configurations whose counts overlap share a panel; disjoint ranges (1-5 and 45-50) get panels of
    their own, so neither is squeezed into a corner of a 0-50 axis. Held-out counts are hollow markers
    on a grey band: a count concept shows as a small error there.

    Args:
        table: ``analysis.numerosity.count_error_table`` rows: ``configuration``, ``count``, ``kind``,
            ``bias``/``mae`` with ``_low``/``_high``.
    """
    if table.empty:
        return None
    panels = _count_panels(table)
    figure = _figure(height=4.6)
    # Each panel keeps its own scale: 1-5 errors of 0.01 and 45-50 errors of 2 do not share an axis.
    axes = np.asarray(figure.subplots(2, len(panels), squeeze=False))
    configurations = list(dict.fromkeys(table["configuration"]))
    colours = dict(zip(configurations, sns.color_palette(PALETTE, len(configurations))))
    for column, members in enumerate(panels):
        bias_axis, mae_axis = axes[0, column], axes[1, column]
        rows_of_panel = table[table["configuration"].isin(members)]
        for held in sorted(set(rows_of_panel.loc[rows_of_panel["kind"] != "seen", "count"])):
            for axis in (bias_axis, mae_axis):
                axis.axvspan(held - 0.5, held + 0.5, color="0.92", zorder=0)
        # Lines are dodged a little so that their intervals at one count do not hide each other.
        offsets = np.linspace(-0.12, 0.12, len(members)) if len(members) > 1 else [0.0]
        for offset, configuration in zip(offsets, members):
            rows = table[table["configuration"] == configuration].sort_values("count")
            x, hollow = rows["count"].to_numpy(dtype=float) + offset, (rows["kind"] != "seen").to_numpy()
            _bars(bias_axis, x, rows, "bias", colours[configuration], hollow, configuration)
            _bars(mae_axis, x, rows, "mae", colours[configuration], hollow, configuration)
        bias_axis.axhline(0, color="0.5", linewidth=0.8)
        mae_axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        mae_axis.set(xlabel="true count", ylim=(0, None))
        bias_axis.legend(fontsize="xx-small")
    axes[0, 0].set(ylabel="signed bias (estimate - true)")
    axes[1, 0].set(ylabel="MAE")
    if (table["kind"] != "seen").any():
        figure.supxlabel("grey band, hollow markers: counts held out of training", fontsize="x-small")
    return figure


def _count_panels(table: pd.DataFrame) -> list[list[str]]:
    """Configurations grouped into panels: those whose count spans overlap share one, in count order."""
    spans = table.groupby("configuration", sort=False)["count"].agg(["min", "max"]).sort_values(["min", "max"])
    panels: list[list[str]] = []
    top = -np.inf
    for configuration, (low, high) in spans.iterrows():
        if not panels or low > top:
            panels.append([])
            top = high
        else:
            top = max(top, high)
        panels[-1].append(configuration)
    return panels


@_styled
def resolution_curves(table: pd.DataFrame) -> Figure | None:
    """Accuracy (left) and MAE (right) against image size, one line per configuration and test set.

    Args:
        table: ``analysis.numerosity.resolution_table`` rows: ``group``, ``test_set``, ``px``,
            ``accuracy``/``mae`` with ``_low``/``_high``.
    """
    if table.empty:
        return None
    figure = _figure()
    accuracy_axis, mae_axis = figure.subplots(1, 2)
    lines = list(dict.fromkeys(zip(table["group"], table["test_set"])))
    colours = sns.color_palette(PALETTE, len(lines))
    for colour, (group, test_set) in zip(colours, lines):
        rows = table[(table["group"] == group) & (table["test_set"] == test_set)].sort_values("px")
        x = rows["px"].to_numpy(dtype=float)
        label = f"{group}, {test_set}"
        _bars(accuracy_axis, x, rows, "accuracy", colour, np.zeros(len(rows), bool), label)
        _bars(mae_axis, x, rows, "mae", colour, np.zeros(len(rows), bool), label)
    sizes = sorted(set(table["px"]))
    for axis in (accuracy_axis, mae_axis):
        axis.set_xscale("log", base=2)
        axis.set_xticks(sizes, [str(px) for px in sizes])
        axis.minorticks_off()
        axis.set(xlabel="image size (px; same scenes)")
    accuracy_axis.set(ylabel="accuracy (95% CI)", ylim=(-0.02, 1.02))
    mae_axis.set(ylabel="MAE (95% CI)", ylim=(0, None))
    accuracy_axis.legend(fontsize="xx-small")
    return figure
