"""seaborn/matplotlib figures of the analysis tables (Agg backend, colour-blind-safe palettes).

Every function takes tidy DataFrames (or a cell's examples) and returns a
``matplotlib.figure.Figure`` or None when there is nothing to draw;
``save_figure`` writes it as PNG and SVG.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and in tests

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from study.store import atomic_write_bytes  # noqa: E402

__all__ = ["save_figure", "accuracy_heatmaps", "accuracy_vs_train_size", "learning_curves", "per_count_accuracy",
           "confusion_matrices", "off_by_k", "seed_spread", "label_noise", "overlay_grid", "localization_vs_count",
           "intervention_changes", "deletion_curves", "confound_weights", "probe_curves", "baseline_bars"]

PALETTE = "colorblind"
sns.set_theme(style="whitegrid", palette=PALETTE, context="notebook")


def save_figure(figure: Figure, folder: Path, name: str) -> tuple[str, str]:
    """Write ``folder/name.png`` (150 dpi) and ``.svg``, close the figure; return both paths relative to folder's parent."""
    for suffix, options in (("png", {"dpi": 150}), ("svg", {})):
        buffer = io.BytesIO()  # rendered in memory, then written atomically: no half-written figure
        figure.savefig(buffer, format=suffix, bbox_inches="tight", **options)
        atomic_write_bytes(folder / f"{name}.{suffix}", buffer.getvalue())
    plt.close(figure)
    return f"{folder.name}/{name}.png", f"{folder.name}/{name}.svg"


def _grid(panels: int, columns: int = 3, size: tuple[float, float] = (4.0, 3.4)) -> tuple[Figure, np.ndarray]:
    columns = max(1, min(columns, panels))
    rows = math.ceil(panels / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(size[0] * columns, size[1] * rows), squeeze=False)
    for axis in axes.flat[panels:]:
        axis.set_visible(False)
    return figure, axes


def accuracy_heatmaps(table: pd.DataFrame) -> Figure | None:
    """Mean test accuracy over count range (rows) x augmentation (columns), one panel per init x size regime."""
    data = table[(table["status"] == "done") & (table["task"] == "counting")]
    if data.empty:
        return None
    facets = list(data.groupby(["weights", "sizes"]))
    figure, axes = _grid(len(facets))
    for axis, ((weights, sizes), group) in zip(axes.flat, facets):
        pivot = group.pivot_table(index="counts", columns="aug", values="accuracy", aggfunc="mean")
        n = group.pivot_table(index="counts", columns="aug", values="n", aggfunc="sum")
        labels = pivot.map(lambda v: f"{v:.2f}") + "\nn=" + n.reindex_like(pivot).fillna(0).astype(int).astype(str)
        sns.heatmap(pivot, annot=labels, fmt="", vmin=0, vmax=1, cmap="cividis", ax=axis, cbar=True)
        axis.set_title(f"init={weights}, sizes={sizes}")
        axis.set_xlabel("augmentation policy")
        axis.set_ylabel("count range")
    figure.suptitle("Test accuracy by count range and augmentation (mean over seeds; n = test images)")
    figure.tight_layout()
    return figure


def accuracy_vs_train_size(table: pd.DataFrame) -> Figure | None:
    """Test accuracy against training-set size (mean and 95% CI over seeds), one line per count range x aug."""
    data = table[(table["status"] == "done") & (table["task"] == "counting")].copy()
    if data.empty or data["n_train"].nunique() < 2:
        return None
    data["config"] = data["counts"].astype(str) + " " + data["aug"].astype(str)
    figure, axis = plt.subplots(figsize=(6, 4))
    sns.lineplot(data=data, x="n_train", y="accuracy", hue="config", marker="o", errorbar=("ci", 95), ax=axis)
    axis.set(xscale="log", xlabel="training images (train + valid)", ylabel="test accuracy",
             title="Accuracy vs training-set size (95% CI over seeds)")
    return figure


def learning_curves(history: pd.DataFrame) -> Figure | None:
    """Validation loss and accuracy per epoch for every cell."""
    if history.empty:
        return None
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for axis, column, title in ((axes[0], "valid_loss", "validation loss"), (axes[1], "accuracy", "validation accuracy")):
        if column in history:
            sns.lineplot(data=history, x="epoch", y=column, hue="label", marker="o", ax=axis, legend=axis is axes[1])
        axis.set(xlabel="epoch", ylabel=title, title=f"Learning curves: {title}")
    if axes[1].get_legend():
        sns.move_legend(axes[1], "upper left", bbox_to_anchor=(1, 1), fontsize="small")
    figure.tight_layout()
    return figure


def per_count_accuracy(table: pd.DataFrame) -> Figure | None:
    """Accuracy per true count, one panel per count range (x ranges differ)."""
    data = table[table["task"] == "counting"].copy() if not table.empty else table
    if data.empty:
        return None
    data["count"] = data["class"].astype(int)
    grid = sns.relplot(data=data, x="count", y="accuracy", hue="label", col="counts", kind="line", marker="o",
                       facet_kws={"sharex": False}, height=3.4, aspect=1.2, palette=PALETTE)
    grid.set_axis_labels("true count", "test accuracy").set_titles("counts {col_name}")
    grid.figure.suptitle("Per-count test accuracy", y=1.03)
    return grid.figure


def confusion_matrices(confusion: pd.DataFrame, limit: int = 9) -> Figure | None:
    """Row-normalised confusion matrices (first ``limit`` cells)."""
    if confusion.empty:
        return None
    cells = list(confusion.groupby("label", sort=False))[:limit]
    figure, axes = _grid(len(cells), size=(4.2, 3.6))
    for axis, (label, group) in zip(axes.flat, cells):
        matrix = group.pivot_table(index="true", columns="predicted", values="n", aggfunc="sum", sort=False)
        share = matrix.div(matrix.sum(axis=1).replace(0, np.nan), axis=0)
        sns.heatmap(share, vmin=0, vmax=1, cmap="viridis", ax=axis, cbar=False, square=True)
        axis.set(title=f"{label} (n={int(matrix.values.sum())})", xlabel="predicted", ylabel="true")
    figure.suptitle("Confusion matrices (row-normalised)")
    figure.tight_layout()
    return figure


def off_by_k(table: pd.DataFrame) -> Figure | None:
    """Share of test images off by 0, 1, 2, 3+ counts."""
    if table.empty:
        return None
    figure, axis = plt.subplots(figsize=(7, 4))
    sns.barplot(data=table, x="k", y="share", hue="label", order=["0", "1", "2", "3+"], ax=axis)
    axis.set(xlabel="|predicted - true| count", ylabel="share of test images", title="Off-by-k errors")
    sns.move_legend(axis, "upper left", bbox_to_anchor=(1, 1), fontsize="small")
    return figure


def seed_spread(table: pd.DataFrame) -> Figure | None:
    """Test accuracy per configuration: every seed as a dot, mean and 95% CI over seeds."""
    data = table[table["status"] == "done"].copy()
    if data.empty or data.groupby(["counts", "aug", "weights", "sizes"], dropna=False)["seed"].nunique().max() < 2:
        return None
    data["config"] = data["counts"].astype(str) + " " + data["aug"].astype(str) + " " + data["weights"].astype(str)
    figure, axis = plt.subplots(figsize=(7, 4))
    sns.pointplot(data=data, x="config", y="accuracy", errorbar=("ci", 95), linestyle="none", capsize=0.2, ax=axis)
    sns.stripplot(data=data, x="config", y="accuracy", color="0.4", alpha=0.6, ax=axis)
    axis.set(xlabel="configuration", ylabel="test accuracy", title="Seed spread (mean and 95% CI over seeds)")
    axis.tick_params(axis="x", rotation=30)
    return figure


def label_noise(table: pd.DataFrame) -> Figure | None:
    """Label-noise rate of each policy beside the accuracy the cell reached."""
    if table.empty:
        return None
    data = table.melt(id_vars=["counts", "aug"], value_vars=["label_noise_rate", "test_accuracy"],
                      var_name="measure", value_name="value")
    grid = sns.catplot(data=data, x="aug", y="value", hue="measure", col="counts", kind="bar", height=3.4,
                       aspect=1.1, palette=PALETTE, errorbar=("ci", 95))
    grid.set_axis_labels("augmentation policy", "rate").set_titles("counts {col_name}")
    grid.figure.suptitle("Augmentation label noise vs test accuracy", y=1.03)
    return grid.figure


def _heat(axis: Any, image: np.ndarray, heat: np.ndarray | None, title: str) -> None:
    axis.imshow(image)
    if heat is not None:
        axis.imshow(heat, cmap="magma", alpha=0.55, extent=(0, image.shape[1], image.shape[0], 0))
    axis.set_title(title, fontsize=8)
    axis.axis("off")


def overlay_grid(examples: dict[str, Any], methods: tuple[str, ...] = ("gradcam", "integrated_gradients"),
                 limit: int = 6, title: str = "") -> Figure | None:
    """Rows of examples: the image, then each method's map overlaid (like fastai's plot_top_losses(heatmap=True)).

    Args:
        examples: ``images`` uint8 ``[E, 3, H, W]``, ``maps`` {method: ``[E, h, w]``}, ``labels``, ``preds``,
            optionally ``loss`` and ``prob``.
    """
    if not examples or len(examples.get("images", [])) == 0:
        return None
    methods = tuple(m for m in methods if m in examples["maps"])
    count = min(limit, len(examples["images"]))
    figure, axes = plt.subplots(count, 1 + len(methods), figsize=(2.2 * (1 + len(methods)), 2.2 * count), squeeze=False)
    for row in range(count):
        image = examples["images"][row].permute(1, 2, 0).numpy()
        caption = f"true {examples['labels'][row]} / pred {examples['preds'][row]}"
        if "loss" in examples:
            caption += f"\nloss {examples['loss'][row]:.2f} p {examples['prob'][row]:.2f}"
        _heat(axes[row, 0], image, None, caption)
        for column, method in enumerate(methods, start=1):
            heat = examples["maps"][method][row].numpy()
            _heat(axes[row, column], image, heat / max(float(heat.max()), 1e-12), method.replace("_", " "))
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure


def localization_vs_count(table: pd.DataFrame) -> Figure | None:
    """Attribution mass share on circles and per-circle coverage against the number of circles, per method."""
    if table.empty:
        return None
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    sns.lineplot(data=table, x="count", y="mass_share", hue="method", marker="o", errorbar=("ci", 95), ax=axes[0])
    sns.lineplot(data=table, x="count", y="area_share", color="0.3", linestyle="--", label="area share",
                 errorbar=None, ax=axes[0])
    axes[0].set(xlabel="circles in the image (N)", ylabel="share of attribution on circles",
                title="Attribution on circles vs their area (dashed)")
    sns.lineplot(data=table, x="count", y="circle_coverage", hue="method", marker="o", errorbar=("ci", 95),
                 ax=axes[1], legend=False)
    axes[1].set(xlabel="circles in the image (N)", ylabel="fraction of circles above fair share",
                title="Per-circle coverage", ylim=(0, 1.05))
    figure.tight_layout()
    return figure


def intervention_changes(table: pd.DataFrame) -> Figure | None:
    """Distribution of the predicted-count change for each edit, per cell."""
    done = table[table["status"] == "ok"].copy() if not table.empty else table
    if done.empty:
        return None
    done["change"] = done["pred_change"].clip(-3, 3).astype(int)
    grid = sns.displot(data=done, x="change", hue="kind", col="label", col_wrap=min(3, done["label"].nunique()),
                       discrete=True, multiple="dodge", stat="probability", common_norm=False, shrink=0.8,
                       height=3.2, aspect=1.2, palette=PALETTE)
    grid.set_axis_labels("change of predicted count (clipped to +-3)", "share of edits").set_titles("{col_name}")
    grid.figure.suptitle("Counterfactual edits: a counter moves -1 (remove), +1 (add), 0 otherwise", y=1.03)
    return grid.figure


def deletion_curves(table: pd.DataFrame) -> Figure | None:
    """Change of the expected count as circles are removed, attribution order vs random."""
    if table.empty:
        return None
    grid = sns.relplot(data=table, x="step", y="delta_expected", hue="order", col="label", kind="line", marker="o",
                       col_wrap=min(3, table["label"].nunique()), errorbar=("ci", 95), height=3.2, aspect=1.2,
                       palette=PALETTE)
    grid.set_axis_labels("circles removed", "change of expected count").set_titles("{col_name}")
    grid.figure.suptitle("Deletion: most-attributed (IG) circles first vs random order", y=1.03)
    return grid.figure


def confound_weights(table: pd.DataFrame) -> Figure | None:
    """DeWind regression weights with 95% bootstrap CIs (a counter: log N = 1, Size = Spacing = 0)."""
    data = table[table["term"] != "intercept"] if not table.empty else table
    if data.empty:
        return None
    figure, axis = plt.subplots(figsize=(7, 4))
    labels = list(data["label"].unique())
    offsets = np.linspace(-0.25, 0.25, len(labels)) if len(labels) > 1 else [0.0]
    colours = sns.color_palette(PALETTE, len(labels))
    terms = ["log_n", "log_size", "log_spacing"]
    for offset, colour, label in zip(offsets, colours, labels):
        rows = data[data["label"] == label].set_index("term").reindex(terms)
        x = np.arange(len(terms)) + offset
        axis.errorbar(x, rows["coef"], yerr=[rows["coef"] - rows["ci_low"], rows["ci_high"] - rows["coef"]],
                      fmt="o", color=colour, capsize=3, label=f"{label} (n={int(rows['n'].iloc[0])})")
    axis.axhline(0, color="0.5", linewidth=0.8)
    axis.set_xticks(range(len(terms)), ["log N", "log Size", "log Spacing"])
    axis.set(ylabel="weight on log predicted count", title="What drives the predicted count (DeWind test sets)")
    axis.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1, 1))
    return figure


def probe_curves(table: pd.DataFrame) -> Figure | None:
    """Linear-probe accuracy of the count per stage: trained vs random (vs ImageNet) bodies."""
    if table.empty:
        return None
    grid = sns.relplot(data=table, x="stage", y="accuracy", hue="init", col="label", kind="line", marker="o",
                       col_wrap=min(3, table["label"].nunique()), height=3.2, aspect=1.2, palette=PALETTE)
    grid.set_axis_labels("ResNet stage", "probe accuracy (3-fold CV)").set_titles("{col_name}")
    grid.figure.suptitle("Count decodability per stage (logistic probes on pooled features)", y=1.03)
    return grid.figure


def baseline_bars(table: pd.DataFrame) -> Figure | None:
    """Accuracy of the network, ink-area regression and connected components on each cell's test set."""
    if table.empty:
        return None
    figure, axis = plt.subplots(figsize=(8, 4))
    sns.barplot(data=table, x="label", y="accuracy", hue="counter", ax=axis)
    axis.set(xlabel="cell", ylabel="test accuracy", title="Network vs non-learned counters", ylim=(0, 1.05))
    axis.tick_params(axis="x", rotation=30)
    sns.move_legend(axis, "upper left", bbox_to_anchor=(1, 1))
    return figure
