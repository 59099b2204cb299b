"""Count errors of the readout heads, held-out counts, resolution and architecture (section "numerosity").

Reads the cells' own predictions.csv (no model is run): per image the head's
point estimate beside the true count (an ordinal head's continuous expected
rank, ``analysis.predict.recorded_estimates``, in old run folders too).
``write_numerosity`` adds the tables and figures: accuracy, MAE and signed bias
per configuration, test set and true count (held-out counts marked
``interpolation`` or ``extrapolation``, ``count_kind``); accuracy against image
size on shared scenes (``resolution_table``); accuracy per architecture
(``architecture_frame``). docs/ANALYSIS.md ("Count errors", "Resolution",
"Architecture") gives the intervals and how to read them; docs/INSTRUMENTS.md,
section 3, what each head can say about held-out counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from analysis import figures
from analysis.predict import recorded_estimates
from analysis.rundata import CellResults
from analysis.summary import Summary
from analysis.tables import ERROR_SPLITS, split_estimates
from kit.formatting import interval, number
from kit.intervals import Estimate, accuracy_estimate, error_estimate
from study.run.runfolder import CellStatus
from study.config.labels import configuration_label, short_value
from study.config.spec import TrainSpec, varying_fields

__all__ = ["SECTION", "CLASSIFIER_HEADS", "count_kind", "image_errors", "heads_table", "count_error_table",
           "resolution_table", "architecture_frame", "write_numerosity", "limitations"]

SECTION = "numerosity"
CLASSIFIER_HEADS = ("fastai", "linear")  # one output per class: an untrained class is never a target
SEEN, INTERPOLATION, EXTRAPOLATION = "seen", "interpolation", "extrapolation"


# ------------------------------------------------------------------ per image

def _train_spec(spec: dict[str, Any]) -> TrainSpec | None:
    """The cell's TrainSpec (None when its spec.json cannot make one, e.g. a partial spec)."""
    try:
        return TrainSpec.from_dict(spec)
    except Exception:  # noqa: BLE001 - an old or partial spec only loses the seen/held-out marks
        return None


def count_kind(count: int, held_out: Iterable[int], train_counts: Iterable[int]) -> str:
    """``seen`` (trained on), ``interpolation`` (held out, inside the trained range) or ``extrapolation``."""
    if count not in set(held_out):
        return SEEN
    trained = list(train_counts)
    return INTERPOLATION if trained and min(trained) < count < max(trained) else EXTRAPOLATION


def image_errors(cells: list[CellResults]) -> pd.DataFrame:
    """Every image of every evaluation split of the done counting cells, with its count error.

    Returns:
        ``split_estimates`` rows plus ``cell_id``, ``configuration``, ``key``
        (the configuration key as text), ``head``, ``split`` (split name) and
        ``kind`` (``count_kind``); empty when no cell has predictions.
    """
    frames = []
    for cell in cells:
        if cell.status is not CellStatus.DONE or not cell.is_counting:
            continue
        spec = _train_spec(cell.settings)
        held = spec.held_out_counts if spec else ()
        trained = spec.train_counts if spec else ()
        head = str(cell.settings.get("head", "fastai"))
        for split in ERROR_SPLITS:
            table = split_estimates(cell, split)
            if table is None:
                continue
            if head == "ordinal":
                table = _expected_rank(cell, split, table)
            kinds = {count: count_kind(count, held, trained) for count in table["count"].unique()}
            frames.append(table.assign(cell_id=cell.cell_id, configuration=cell.config_label, key=str(cell.key),
                                       head=head, split=split,
                                       kind=table["count"].map(kinds)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _expected_rank(cell: CellResults, split: str, table: pd.DataFrame) -> pd.DataFrame:
    """An ordinal cell's ``split_estimates`` rescored on its continuous expected rank (from the prob columns)."""
    predictions = cell.table(cell.folder.PREDICTIONS)
    rows = predictions[predictions["split"] == split]
    columns = [name for name in rows.columns if str(name).startswith("prob_")]
    try:
        counts = np.array([int(str(name)[len("prob_"):]) for name in columns])
    except ValueError:
        return table
    if len(rows) != len(table) or not len(columns):
        return table
    estimate, pred = recorded_estimates("ordinal", rows[columns].to_numpy(dtype=float), counts, None,
                                        table["pred"].to_numpy())
    truth = table["count"].to_numpy()
    return table.assign(pred=pred, estimate=estimate, correct=pred == truth, error=estimate - truth,
                        abs_error=np.abs(estimate - truth))


# ------------------------------------------------------------------ estimates

def _estimates(images: pd.DataFrame) -> dict[str, Any]:
    """Accuracy, MAE and bias of a group of images, each with its interval over the group's cells (seeds)."""
    by_cell = [group for _, group in images.groupby("cell_id", sort=False)]
    estimates: dict[str, Estimate | None] = {
        "accuracy": accuracy_estimate([int(g["correct"].sum()) for g in by_cell], [len(g) for g in by_cell]),
        "mae": error_estimate([g["abs_error"].to_numpy() for g in by_cell]),
        "bias": error_estimate([g["error"].to_numpy() for g in by_cell]),
    }
    row: dict[str, Any] = {"n_seeds": len(by_cell), "n": len(images)}
    for name, estimate in estimates.items():
        row.update({name: np.nan, f"{name}_low": np.nan, f"{name}_high": np.nan, f"{name}_method": ""}
                   if estimate is None else {name: estimate.mean, f"{name}_low": estimate.low,
                                             f"{name}_high": estimate.high, f"{name}_method": estimate.method})
    return row


def heads_table(errors: pd.DataFrame) -> pd.DataFrame:
    """Per configuration and split: accuracy, MAE and signed bias with 95% CIs over seeds, and n.

    Returns:
        rows ``configuration``, ``head``, ``split`` (name), ``test_set`` (label), ``n_seeds``, ``n``,
        then ``accuracy``/``mae``/``bias`` each with ``_low``, ``_high``, ``_method``.
    """
    if errors.empty:
        return pd.DataFrame()
    rows = []
    for (configuration, split), group in errors.groupby(["configuration", "split"], sort=False):
        rows.append({"configuration": configuration, "head": group["head"].iloc[0], "split": split,
                     "test_set": ERROR_SPLITS[split], **_estimates(group)})
    order = {name: i for i, name in enumerate(ERROR_SPLITS)}
    return pd.DataFrame(rows).sort_values("split", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def count_error_table(errors: pd.DataFrame) -> pd.DataFrame:
    """Per configuration, split and true count: accuracy, MAE and bias with 95% CIs, n and ``kind``."""
    if errors.empty:
        return pd.DataFrame()
    rows = []
    for (configuration, split, count), group in errors.groupby(["configuration", "split", "count"], sort=False):
        rows.append({"configuration": configuration, "head": group["head"].iloc[0], "split": split,
                     "test_set": ERROR_SPLITS[split], "count": int(count), "kind": group["kind"].iloc[0],
                     **_estimates(group)})
    return pd.DataFrame(rows).sort_values(["configuration", "split", "count"], kind="stable").reset_index(drop=True)


# ------------------------------------------------------------------ resolution and architecture

def _done_counting(cells: list[CellResults]) -> list[CellResults]:
    return [cell for cell in cells if cell.status is CellStatus.DONE and cell.is_counting and cell.settings]


def _size_groups(cells: list[CellResults], shared_scenes: bool) -> dict[tuple, list[CellResults]]:
    """Cells equal in every setting but ``size`` (at least two sizes), with or without a common ``scene_size``."""
    groups: dict[tuple, list[CellResults]] = {}
    for cell in _done_counting(cells):
        if bool(int(cell.settings.get("scene_size") or 0)) == shared_scenes:
            groups.setdefault(tuple(item for item in cell.key if item[0] != "size"), []).append(cell)
    return {key: members for key, members in groups.items()
            if len({int(cell.settings.get("size", 0)) for cell in members}) >= 2}


def resolution_table(cells: list[CellResults], errors: pd.DataFrame) -> pd.DataFrame:
    """Accuracy and MAE against image size for configurations seen at several sizes on the same scenes.

    Returns:
        rows ``group`` (the configuration without its px), ``counts``, ``scene_size``, ``px``, ``split``,
        ``test_set``, then the ``_estimates`` columns; empty when no configuration varies in size alone.
    """
    groups = _size_groups(cells, shared_scenes=True)
    if not groups or errors.empty:
        return pd.DataFrame()
    rows = []
    for members in groups.values():
        group = _label_without(members[0], "size")
        for px in sorted({int(cell.settings["size"]) for cell in members}):
            ids = {cell.cell_id for cell in members if int(cell.settings["size"]) == px}
            for split in ("test", "test_dewind"):
                images = errors[errors["cell_id"].isin(ids) & (errors["split"] == split)]
                if len(images):
                    rows.append({"group": group, "counts": members[0].settings.get("counts"),
                                 "scene_size": int(members[0].settings["scene_size"]), "px": px, "split": split,
                                 "test_set": ERROR_SPLITS[split], **_estimates(images)})
    return pd.DataFrame(rows)


def _count_error_focus(per_count: pd.DataFrame) -> pd.DataFrame:
    """The configurations the count-error figure is about: those with held-out counts or a regression or
    ordinal head when the run has any (a sweep of blocks has many others); else every configuration."""
    focus = per_count.loc[(per_count["kind"] != "seen") | per_count["head"].isin(["regression", "ordinal"]),
                          "configuration"]
    return per_count[per_count["configuration"].isin(set(focus))] if len(focus) else per_count


def _label_without(cell: CellResults, field: str) -> str:
    """The cell's configuration label less one field (the axis a figure draws), or "all cells"."""
    fields = [name for name in cell.label_fields if name != field]
    return configuration_label(cell.settings, fields) if fields else "all cells"


def _matched_keys(cells: list[CellResults], field: str) -> list[tuple]:
    """Configuration keys whose configuration exists with at least two values of ``field``, in run order.

    Only such groups compare like with like (ResNet vs ViT on the same scenes and recipe); the
    other configurations of a sweep of blocks would only crowd the figure.
    """
    values: dict[tuple, set[str]] = {}
    for cell in cells:
        rest = tuple(item for item in cell.key if item[0] != field)
        values.setdefault(rest, set()).add(str(cell.settings.get(field)))
    return [key for key in dict.fromkeys(cell.key for cell in cells)
            if len(values[tuple(item for item in key if item[0] != field)]) >= 2]


def architecture_frame(cells: list[CellResults], errors: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per architecture per configuration and test set, when ``arch`` varies.

    Returns:
        rows ``x`` (the configuration without its architecture), ``hue`` (the architecture's paper name),
        ``split`` (test set label), ``mean``/``low``/``high``/``method`` (accuracy), ``mae``..., ``n``;
        the columns ``figures.accuracy_by_range`` draws.
    """
    done = _done_counting(cells)
    varying = varying_fields([cell.settings for cell in done])
    if "arch" not in varying or errors.empty:
        return pd.DataFrame()
    rows = []
    for key in _matched_keys(done, "arch"):
        members = [cell for cell in done if cell.key == key]
        ids = {cell.cell_id for cell in members}
        for split, label in ERROR_SPLITS.items():
            images = errors[errors["cell_id"].isin(ids) & (errors["split"] == split)]
            if images.empty:
                continue
            row = _estimates(images)
            rows.append({"x": _label_without(members[0], "arch"),
                         "hue": short_value("arch", members[0].settings.get("arch")),
                         "arch": members[0].settings.get("arch"), "split": label, "mean": row["accuracy"],
                         "low": row["accuracy_low"], "high": row["accuracy_high"], "method": row["accuracy_method"],
                         **{k: v for k, v in row.items() if not k.startswith("accuracy")}})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ words

def _ci(row: Any, name: str) -> str:
    """``0.40 [0.31, 0.52]``: column ``name`` with its ``_low`` and ``_high`` bounds."""
    return interval(row[name], row[f"{name}_low"], row[f"{name}_high"], 2)


def _pooled(errors: pd.DataFrame, configuration: str, mask: pd.Series) -> dict[str, Any] | None:
    images = errors[(errors["configuration"] == configuration) & mask]
    return _estimates(images) if len(images) else None


def held_out_takeaway(errors: pd.DataFrame) -> str:
    """Held-out against seen counts per configuration, and what a classifier head cannot do."""
    held = errors[errors["split"] == "test_held_out"]
    if held.empty:
        return count_errors_takeaway(errors)
    sentences, classifiers = [], []
    for configuration, group in held.groupby("configuration", sort=False):
        kinds = sorted(set(group["kind"]) - {SEEN})
        counts = sorted(group["count"].unique())
        row = _pooled(errors, configuration, errors["split"] == "test_held_out")
        seen = _pooled(errors, configuration, errors["split"] == "test")
        head = f"{group['head'].iloc[0]} head"
        name = configuration if head in configuration else f"{configuration} ({head})"
        text = (f"{name} on held-out count(s) "
                f"{', '.join(map(str, counts))} ({' and '.join(kinds)}): MAE {_ci(row, 'mae')}, accuracy "
                f"{_ci(row, 'accuracy')} ({row['mae_method']}, n={row['n']} images)")
        if seen:
            text += f", against MAE {_ci(seen, 'mae')} on the trained counts (n={seen['n']})"
        sentences.append(text + ".")
        if group["head"].iloc[0] in CLASSIFIER_HEADS:
            classifiers.append(f"{name}: accuracy {_ci(row, 'accuracy')}")
    if classifiers:
        sentences.append("A classifier head cannot output an untrained class reliably: the held-out class never "
                         "had a positive example, so its accuracy there is near 0 by construction ("
                         + "; ".join(classifiers) + ").")
    heads = set(held["head"])
    if classifiers or "ordinal" in heads:
        sentences.append("An ordinal (CORAL) head places a count held out inside the range only through its "
                         "continuous expected rank (scored here); beyond the range it cannot: no image was ever "
                         "above the largest trained count, so that threshold is set by training length, not by the "
                         "images. Only a regression head's reading of an extrapolated count is a measurement.")
    return " ".join(sentences)


def count_errors_takeaway(errors: pd.DataFrame) -> str:
    """Without held-out counts: the largest signed bias per configuration, where it is."""
    table = count_error_table(errors[errors["split"] == "test"])
    if table.empty:
        return "No configuration has i.i.d. test predictions."
    parts = []
    for configuration, group in table.groupby("configuration", sort=False):
        worst = group.loc[group["bias"].abs().idxmax()]
        parts.append(f"{configuration}: largest |bias| at count {worst['count']}, {_ci(worst, 'bias')} "
                     f"(n={worst['n']})")
    return "Signed bias per true count (i.i.d. test; 0 = unbiased): " + "; ".join(parts) + "."


def resolution_takeaway(table: pd.DataFrame) -> str:
    """Per configuration: accuracy at the smallest and largest px; rising (crowding) or flat (a limit)."""
    data = table[table["split"] == "test"]
    sentences, rising, flat = [], [], []
    for group, rows in data.groupby("group", sort=False):
        rows = rows.sort_values("px")
        low, high = rows.iloc[0], rows.iloc[-1]
        sentences.append(f"{group}: accuracy {_ci(low, 'accuracy')} at {low['px']} px to {_ci(high, 'accuracy')} "
                         f"at {high['px']} px (MAE {number(low['mae'], 2)} to {number(high['mae'], 2)}; "
                         f"{high['accuracy_method']}, n={high['n']})")
        # Rising: the intervals at the two ends do not overlap (conservative); flat otherwise.
        (rising if high["accuracy_low"] > low["accuracy_high"] else flat).append(str(group))
    text = "; ".join(sentences) + "."
    if rising:
        text += (f" Accuracy rises with resolution for {', '.join(rising)}: on the same scenes, those errors come "
                 "from items too small or too close to resolve (crowding), not from a counting limit.")
    if flat:
        text += (f" It does not rise clearly for {', '.join(flat)}: there resolution is not what limits "
                 "accuracy (95% intervals at the smallest and largest size overlap).")
    return text


def architecture_takeaway(frame: pd.DataFrame) -> str:
    """Mean accuracy per architecture, then each configuration's best architecture with its interval."""
    data = frame[frame["split"] == ERROR_SPLITS["test"]]
    if data.empty:
        return "No architecture has i.i.d. test predictions."
    parts = []
    for x, rows in data.groupby("x", sort=False):
        best = rows.loc[rows["mean"].idxmax()]
        others = "; ".join(f"{r['hue']} {interval(r['mean'], r['low'], r['high'], 2)}"
                           for _, r in rows.iterrows() if r["hue"] != best["hue"])
        parts.append(f"{x}: {best['hue']} best at {interval(best['mean'], best['low'], best['high'], 2)} "
                     f"({best['method']}, n={best['n']}) against {others}")
    return "I.i.d. test accuracy per architecture: " + "; ".join(parts) + "."


# ------------------------------------------------------------------ display

def _display(table: pd.DataFrame, first: list[str]) -> pd.DataFrame:
    """Human columns: the ``first`` columns, then accuracy, MAE and bias as ``mean [low, high]``."""
    if table.empty:
        return table
    return pd.DataFrame({**{name.replace("_", " ").capitalize(): table[name] for name in first},
                         "Accuracy [95% CI]": [_ci(row, "accuracy") for _, row in table.iterrows()],
                         "MAE [95% CI]": [_ci(row, "mae") for _, row in table.iterrows()],
                         "Bias [95% CI]": [_ci(row, "bias") for _, row in table.iterrows()],
                         "CI (MAE, bias)": table["mae_method"], "Seeds": table["n_seeds"], "n": table["n"]})


def write_numerosity(summary: Summary, cells: list[CellResults]) -> pd.DataFrame:
    """The section's tables and figures, written through ``summary``.

    Returns:
        the per-image errors (empty when no counting cell has predictions).
    """
    errors = image_errors(cells)
    if errors.empty:
        return errors
    heads = heads_table(errors)
    per_count = count_error_table(errors)
    resolution = resolution_table(cells, errors)
    architecture = architecture_frame(cells, errors)
    summary.table(heads, "heads", "Accuracy, MAE and signed bias of the count estimate per configuration and test "
                  "set (95% CI)", SECTION, _display(heads, ["configuration", "head", "test_set"]))
    # Per true count is the figure's data: the CSV has it, the report body shows the figure.
    summary.table(per_count, "count_errors", "Count errors per true count: seen and held-out counts (95% CI)",
                  "appendix", per_count.head(0))
    summary.table(resolution, "resolution", "Accuracy and MAE against image size on the same scenes (95% CI)",
                  SECTION, _display(resolution, ["group", "test_set", "px"]))
    summary.table(architecture.rename(columns={"x": "configuration", "hue": "architecture", "split": "test_set",
                                               "mean": "accuracy", "low": "accuracy_low", "high": "accuracy_high",
                                               "method": "accuracy_method"}),
                  "architecture", "Accuracy per architecture (95% CI)", SECTION, _arch_display(architecture))
    shown = _count_error_focus(per_count[per_count["split"].isin(["test", "test_held_out"])])
    _figure(summary, lambda: figures.count_errors(shown), "count_errors",
            "Signed bias and MAE per true count (i.i.d. scenes; hollow markers: held-out counts)",
            lambda: held_out_takeaway(errors), not shown.empty)
    _figure(summary, lambda: figures.resolution_curves(resolution), "resolution",
            "Accuracy and MAE against image size on the same scenes (95% CI)",
            lambda: resolution_takeaway(resolution), not resolution.empty)
    _figure(summary, lambda: figures.accuracy_by_range(architecture), "architecture",
            "Accuracy per architecture, per configuration and test set (95% CI)",
            lambda: architecture_takeaway(architecture), not architecture.empty)
    return errors


def _arch_display(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    return pd.DataFrame({"Configuration": frame["x"], "Architecture": frame["hue"], "Test set": frame["split"],
                         "Accuracy [95% CI]": [interval(m, lo, hi, 2) for m, lo, hi in
                                               zip(frame["mean"], frame["low"], frame["high"])],
                         "MAE [95% CI]": [_ci(row, "mae") for _, row in frame.iterrows()],
                         "CI (accuracy)": frame["method"], "Seeds": frame["n_seeds"], "n": frame["n"]})


def _figure(summary: Summary, make: Callable[[], Any], figure_id: str, title: str, takeaway: Callable[[], str],
            has_data: bool) -> None:
    if has_data:
        summary.figure(make, figure_id, title, takeaway, SECTION)


def limitations(cells: list[CellResults]) -> list[str]:
    """What the numerosity section cannot tell from this run, as sentences."""
    notes = []
    unshared = _size_groups(cells, shared_scenes=False)
    if unshared:
        notes.append(f"{len(unshared)} configuration(s) vary the image size without a common scene_size: each size "
                     "draws its own scenes, so accuracy against px mixes resolution with scene layout (set "
                     "scene_size to compare resolutions on the same scenes).")
    done = _done_counting(cells)
    held = [cell for cell in done if str(cell.settings.get("held_out") or "").strip()]
    if done and not held:
        notes.append("No cell holds counts out of training, so this run cannot tell whether a model estimates "
                      "counts it was never trained on (set held_out: inside the range with a regression or ordinal "
                      "head, beyond it with a regression head).")
    return notes
