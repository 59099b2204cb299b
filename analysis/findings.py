"""The words of summary.json, computed from the data: tables, figure takeaways, the answer, the limitations.

Every sentence states its numbers with their interval and n; a table or
figure that has no data adds nothing (and the sentence that would describe
it is not written).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analysis import figures, tables
from analysis.rundata import CellRecord, short_value
from analysis.stats import MIN_SEEDS_FOR_T
from study.runfolder import CellStatus
from study.spec import varying_fields

__all__ = ["write_outputs", "answer", "limitations", "example_caption", "accuracy_frame"]


def _fmt(value: Any, digits: int = 2) -> str:
    try:
        return "n/a" if value is None or not np.isfinite(float(value)) else f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def _ci(estimate: dict[str, Any] | None) -> str:
    if not estimate:
        return "n/a"
    return (f"{_fmt(estimate['mean'])} (95% CI {_fmt(estimate['low'])}-{_fmt(estimate['high'])}, "
            f"{estimate['method']}, {estimate['n_seeds']} seed{'s' if estimate['n_seeds'] != 1 else ''}, "
            f"n={estimate['n_images']} images)")


# ------------------------------------------------------------------ accuracy by configuration

def _axes(cells: list[CellRecord]) -> tuple[str | None, list[str]]:
    """The x field of the accuracy figure (count range when it varies) and the hue fields (the other varying ones)."""
    varying = varying_fields([cell.spec for cell in cells if cell.status is CellStatus.DONE and cell.spec])
    x_field = "counts" if "counts" in varying else (varying[0] if varying else None)
    return x_field, [name for name in varying if name != x_field]


def accuracy_frame(configurations: list[dict[str, Any]], cells: list[CellRecord]) -> pd.DataFrame:
    """One row per configuration and test set: ``configuration``, ``x``, ``hue``, ``split``, the estimate."""
    x_field, hue_fields = _axes(cells)
    # A configuration's hue names what its label names (less the x axis): in a sweep of blocks
    # that is what sets it apart, not every setting that varies somewhere in the run.
    shown_of = {cell.config_label: cell.label_fields for cell in cells if cell.label_fields}
    rows = []
    for config in configurations:
        key = config["key"]
        x = short_value(x_field, key.get(x_field, "")) if x_field else config["label"]
        fields = [name for name in shown_of.get(config["label"], hue_fields) if name != x_field]
        # no field of its own: the network alone, or (in a sweep of blocks) the usual settings
        hue = " · ".join(short_value(name, key.get(name, "")) for name in fields) or (
            "usual settings" if hue_fields else "network")
        for split, estimate in (("i.i.d. test", config["accuracy"]), ("DeWind test", config["dewind_accuracy"])):
            if estimate:
                rows.append({"configuration": config["label"], "x": x, "hue": hue, "split": split, **estimate})
    return pd.DataFrame(rows)


def _baseline_frame(baselines: pd.DataFrame, cells: list[CellRecord]) -> pd.DataFrame:
    """Mean baseline accuracy per figure x value, test set and counter."""
    if baselines.empty:
        return baselines
    x_field, _ = _axes(cells)
    x_of = {cell.cell_id: short_value(x_field, cell.spec.get(x_field, "")) if x_field else cell.config_label
            for cell in cells}
    data = baselines.assign(x=baselines["cell_id"].map(x_of))
    return data.groupby(["x", "split", "counter"], as_index=False)["accuracy"].mean()


def _accuracy_takeaway(frame: pd.DataFrame) -> str:
    iid = frame[frame["split"] == "i.i.d. test"]
    if iid.empty:
        return "No configuration has an i.i.d. test accuracy."
    best, worst = iid.loc[iid["mean"].idxmax()], iid.loc[iid["mean"].idxmin()]
    text = (f"Highest i.i.d. accuracy: {best['configuration']} at {_ci(best.to_dict())}; lowest: "
            f"{worst['configuration']} at {_ci(worst.to_dict())}.")
    both = frame.pivot_table(index="configuration", columns="split", values="mean")
    if "DeWind test" in both:
        drop = (both["i.i.d. test"] - both["DeWind test"]).dropna()
        if len(drop):
            text += (f" On DeWind-controlled stimuli accuracy changes by {-drop.mean():+.2f} on average "
                     f"(n={len(drop)} configurations).")
    return text


# ------------------------------------------------------------------ display tables

def _configurations_display(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    shown = frame.assign(accuracy=[f"{_fmt(m)} [{_fmt(lo)}, {_fmt(hi)}]" for m, lo, hi in
                                   zip(frame["mean"], frame["low"], frame["high"])])
    shown = shown.pivot_table(index=["configuration", "n_seeds", "method"], columns="split", values="accuracy",
                              aggfunc="first", sort=False).reset_index()
    return shown.rename(columns={"configuration": "Configuration", "n_seeds": "Seeds", "method": "95% CI"})


def _cells_display(table: pd.DataFrame) -> pd.DataFrame:
    if table.empty:
        return table
    return pd.DataFrame({"Cell": table["label"], "Status": table["status"],
                         "Test accuracy [95% CI]": [f"{_fmt(a)} [{_fmt(lo)}, {_fmt(hi)}]" if n else "" for a, lo, hi, n
                                                    in zip(table["accuracy"], table["ci_low"], table["ci_high"],
                                                           table["n"])],
                         "Test images": table["n"], "Why not done": table["error"].fillna("")})


def _setting_pair(comparison: dict[str, Any], with_axis: bool = True) -> str:
    """``augmentation fastai vs none``, or ``64 px vs 32 px`` when the values say what they are."""
    field, a, b = comparison["field"], comparison["a"], comparison["b"]
    pair = f"{short_value(field, a)} vs {short_value(field, b)}"
    return f"{comparison['axis']} {pair}" if with_axis and short_value(field, a) == str(a) else pair


def _comparisons_display(comparisons: list[dict[str, Any]]) -> pd.DataFrame:
    rows = [{"Setting": c["axis"],
             "A vs B": _setting_pair(c, with_axis=False), "Where": c["configuration"],
             "Test set": c["split"], "A - B (95% CI)": f"{c['difference']:+.3f} [{c['ci'][0]:+.3f}, {c['ci'][1]:+.3f}]",
             "p": f"{c['p']:.3g}", "Odds ratio": _fmt(c["effect_size"]["odds_ratio"]), "Seeds": c["n_seeds"],
             "Images": c["n_images"]} for c in comparisons]
    return pd.DataFrame(rows)


def _confounds_display(table: pd.DataFrame) -> pd.DataFrame:
    if table.empty:
        return table
    rows = []
    for (label, fit), group in table.groupby(["label", "fit"], sort=False):
        terms = group.set_index("term")
        rows.append({"Cell": label, "Fit on": fit,
                     **{name: f"{terms.loc[term, 'std_coef']:.3g} [{terms.loc[term, 'std_low']:.3g}, "
                               f"{terms.loc[term, 'std_high']:.3g}]"
                        for term, name in (("log_n", "N"), ("log_size", "Size"), ("log_spacing", "Spacing"))},
                     "Size/N": _fmt(group["size_to_n"].iloc[0]), "R²": _fmt(group["r2"].iloc[0]),
                     "n": int(group["n"].iloc[0])})
    return pd.DataFrame(rows)


def _baselines_display(table: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    if table.empty:
        return table
    wide = table.pivot_table(index=["x", "split"], columns="counter", values="accuracy", sort=False).reset_index()
    networks = frame.groupby(["x", "split"], as_index=False)["mean"].mean().rename(columns={"mean": "network (mean)"})
    wide = wide.merge(networks, on=["x", "split"], how="left")
    return wide.rename(columns={"x": "Group", "split": "Test set", "ink_area": "ink area",
                                "components": "connected components"})


def _interventions_display(table: pd.DataFrame) -> pd.DataFrame:
    if table.empty:
        return table
    return pd.DataFrame({"Cell": table["label"], "Edit": table["kind"],
                         "Consistent (all)": table["consistent"].map(_fmt),
                         "Consistent (correct before)": table["consistent_if_correct"].map(_fmt),
                         "n": table["n"], "n correct before": table["n_correct_before"],
                         "Off training distribution": table["off_distribution"].map({True: "yes", False: ""})})


def _measurement_frame(results: list[Any]) -> pd.DataFrame:
    rows = []
    for result in results:
        ig = result.notes.get("integrated_gradients") or {}
        rows.append({"Cell": result.cell.label, "Grad-CAM layer": result.notes.get("gradcam_layer") or "none (too coarse)",
                     "IG steps": ig.get("n_steps"), "IG completeness gap": _fmt(ig.get("relative_delta"), 3),
                     "IG cap hit": "yes" if ig.get("cap_hit") else "no"})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ takeaways

def _mean_by(table: pd.DataFrame, by: str, value: str) -> str:
    means = table.groupby(by, sort=False)[value].agg(["mean", "count"])
    return "; ".join(f"{name} {_fmt(row['mean'])} (n={int(row['count'])})" for name, row in means.iterrows())


def _confound_takeaway(table: pd.DataFrame) -> str:
    ratios = table.groupby("fit", sort=False)["size_to_n"].median()
    return ("Median |Size|/|N| standardised-weight ratio: " + "; ".join(
        f"{fit} {_fmt(value)}" for fit, value in ratios.items())
        + f" (a counter: 0; n={table['cell_id'].nunique()} cells).")


def _deletion_takeaway(table: pd.DataFrame) -> str:
    removed = table[table["step"] >= 1].assign(per_circle=lambda t: t["delta_expected"] / t["step"])
    return ("Change of the expected count per removed circle (a counter: -1): "
            + _mean_by(removed, "order", "per_circle") + " scene-steps.")


def _probe_takeaway(table: pd.DataFrame) -> str:
    last = table[table["stage"] == table["stage"].iloc[-1]]
    return (f"Count decodability at {last['stage'].iloc[0]}: " + _mean_by(last, "init", "accuracy")
            + f" probes; chance {_fmt(last['chance'].mean())}.")


# ------------------------------------------------------------------ outputs

def write_outputs(summary: Any, cells: list[CellRecord], results: list[Any], configurations: list[dict[str, Any]],
                  comparisons: list[dict[str, Any]]) -> None:
    """Every table and figure the data supports, written through ``summary``."""
    frame = accuracy_frame(configurations, cells)
    pooled = {name: pd.concat([r.tables[name] for r in results if name in r.tables], ignore_index=True)
              if any(name in r.tables for r in results) else pd.DataFrame()
              for name in ("localization", "interventions", "interventions_summary", "deletion", "confounds",
                           "baselines", "probes")}
    baselines = _baseline_frame(pooled["baselines"], cells)
    summary.table(frame, "configurations", "Accuracy per configuration (mean over seeds, 95% CI)", "results",
                  _configurations_display(frame))
    summary.table(pd.DataFrame(comparisons).drop(columns=["per_seed_p", "effect_size"], errors="ignore"),
                  "comparisons", "Paired comparisons on the same test images", "results",
                  _comparisons_display(comparisons))
    accuracy = tables.accuracy_table(cells)
    summary.table(accuracy, "cells", "Every cell: status and test accuracy (Wilson 95% CI over its test images)",
                  "appendix", _cells_display(accuracy))
    summary.table(baselines, "baselines", "Non-learned counters beside the networks on both test sets", "drivers",
                  _baselines_display(baselines, frame))
    summary.table(pooled["confounds"], "confounds", "Confound regression: standardised weights (beta x SD) with "
                  "95% bootstrap CIs", "drivers", _confounds_display(pooled["confounds"]))
    summary.table(pooled["interventions_summary"], "interventions", "Counterfactual edits: share of predictions that "
                  "moved as a counter's would", "drivers", _interventions_display(pooled["interventions_summary"]))
    summary.table(_measurement_frame(results), "measurement", "How the attributions were measured", "appendix")
    per_count = tables.per_count_accuracy(cells)
    noise = tables.label_noise_table(cells)
    history = tables.learning_curves(cells)
    confusion = tables.confusion_long(cells)
    for name, table, title in (("per_count_accuracy", per_count, "Accuracy per true class"),
                               ("label_noise", noise, "Augmentation label noise beside accuracy"),
                               ("history", history, "Learning curves of every cell"),
                               ("confusion", confusion, "Confusion matrices (long form)"),
                               ("off_by_k", tables.off_by_k(cells), "Off-by-k count errors"),
                               ("localization", pooled["localization"], "Attribution on circles per image and method"),
                               ("deletion", pooled["deletion"], "Deletion curves"),
                               ("probes", pooled["probes"], "Linear probes of the count per stage")):
        summary.table(table, name, title, "appendix", table.head(0))  # tidy data: the CSV only, no display rows
    _figures(summary, frame, baselines, pooled, per_count, noise, history, confusion)


def _figures(summary: Any, frame: pd.DataFrame, baselines: pd.DataFrame, pooled: dict[str, pd.DataFrame],
             per_count: pd.DataFrame, noise: pd.DataFrame, history: pd.DataFrame, confusion: pd.DataFrame) -> None:
    summary.figure(lambda: figures.accuracy_by_range(frame, baselines), "accuracy",
                   "Accuracy by count range and policy, i.i.d. and DeWind test sets (95% CI; grey: baselines)",
                   lambda: _accuracy_takeaway(frame), "answer")
    summary.figure(lambda: figures.per_count_accuracy(per_count), "per_count_accuracy", "Accuracy per true count",
                   lambda: "Per-count accuracy: " + _mean_by(per_count, "configuration", "accuracy") + " classes.",
                   "results")
    summary.figure(lambda: figures.confound_weights(pooled["confounds"]), "confounds",
                   "What moves the predicted count: standardised weights of log N, log Size, log Spacing",
                   lambda: _confound_takeaway(pooled["confounds"]), "drivers")
    summary.figure(lambda: figures.intervention_consistency(pooled["interventions_summary"]), "interventions",
                   "Counterfactual edits: did the prediction move as a counter's would?",
                   lambda: "Consistent edits, all scenes: " + _mean_by(pooled["interventions_summary"], "kind",
                                                                        "consistent") + " cells.", "drivers")
    summary.figure(lambda: figures.deletion_curves(pooled["deletion"]), "deletion",
                   "Deletion: most-attributed circles first vs random order (down to the smallest class)",
                   lambda: _deletion_takeaway(pooled["deletion"]), "drivers")
    summary.figure(lambda: figures.probe_curves(pooled["probes"]), "probes", "Linear probes of the count per stage",
                   lambda: _probe_takeaway(pooled["probes"]), "drivers")
    summary.figure(lambda: figures.label_noise(noise), "label_noise", "Augmentation label noise vs accuracy",
                   lambda: "Augmented samples whose visible count differs from the label: "
                   + _mean_by(noise, "configuration", "label_noise_rate") + " cells.", "drivers")
    summary.figure(lambda: figures.learning_curves(history), "learning_curves", "Learning curves",
                   lambda: "Final validation accuracy: " + _mean_by(
                       history.groupby("label").tail(1), "label", "accuracy") + " final epoch.", "appendix")
    summary.figure(lambda: figures.confusion_matrices(confusion), "confusion", "Confusion matrices (row-normalised)",
                   lambda: f"{confusion['cell_id'].nunique()} cells; the first 4 are drawn.", "appendix")
    summary.figure(lambda: figures.localization_vs_count(pooled["localization"]), "localization",
                   "Share of attribution on the circles vs their area",
                   lambda: "Mass share on circles: " + _mean_by(pooled["localization"], "method", "mass_share")
                   + " images (IG is near 1 by construction: blank-canvas baseline).", "appendix")


# ------------------------------------------------------------------ answer and limitations

def answer(question: str, summary: Any, cells: list[CellRecord], configurations: list[dict[str, Any]],
           comparisons: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"question", "abstract": [3-5 sentences with CI and n], "cannot_tell": [sentences]}``."""
    abstract = []
    scored = [c for c in configurations if c["accuracy"]]
    if scored:
        best = max(scored, key=lambda c: c["accuracy"]["mean"])
        worst = min(scored, key=lambda c: c["accuracy"]["mean"])
        abstract.append(f"Across {len(scored)} configuration(s), i.i.d. test accuracy ranges from "
                        f"{_ci(worst['accuracy'])} ({worst['label']}) to {_ci(best['accuracy'])} ({best['label']}).")
        dewind = [c for c in scored if c["dewind_accuracy"]]
        if dewind:
            gap = np.mean([c["accuracy"]["mean"] - c["dewind_accuracy"]["mean"] for c in dewind])
            abstract.append(f"On DeWind-controlled stimuli, where count is independent of size and spacing, "
                            f"accuracy changes by {-gap:+.2f} on average against the i.i.d. test (n={len(dewind)} "
                            f"configurations; e.g. "
                            f"{dewind[0]['label']}: {_ci(dewind[0]['dewind_accuracy'])}).")
    held = _held_out_sentence(summary.data.get("heads"))
    if held:
        abstract.insert(1, held)  # the direct test of a count concept comes right after the headline
    iid = [c for c in comparisons if c["split"] == "i.i.d. test"]
    if iid:
        top = max(iid, key=lambda c: abs(c["difference"]))
        abstract.append(f"The largest paired difference is {_setting_pair(top)} "
                        f"({top['configuration']}): {top['difference']:+.3f} (95% CI {top['ci'][0]:+.3f} to "
                        f"{top['ci'][1]:+.3f}, p={top['p']:.3g}, {top['n_seeds']} seed(s), n={top['n_images']} "
                        f"paired images).")
    baselines = summary.data.get("baselines")
    if baselines is not None and not baselines.empty:
        ink = baselines[baselines["counter"] == "ink_area"].groupby("split")["accuracy"].mean()
        abstract.append("An ink-area counter reaches " + ", ".join(f"{_fmt(v)} on the {k}" for k, v in ink.items())
                        + " (mean over count ranges).")
    confounds = summary.data.get("confounds")
    if confounds is not None and not confounds.empty:
        abstract.append(_confound_takeaway(confounds))
    return {"question": question, "abstract": abstract[:5], "cannot_tell": _cannot_tell(cells, configurations)}


def _held_out_sentence(heads: pd.DataFrame | None) -> str:
    """The best and worst MAE on counts held out of training (``analysis.numerosity.heads_table``), or ''."""
    if heads is None or heads.empty:
        return ""
    held = heads[heads["split"] == "test_held_out"].dropna(subset=["mae"])
    if held.empty:
        return ""
    best, worst = held.loc[held["mae"].idxmin()], held.loc[held["mae"].idxmax()]

    def text(row: pd.Series) -> str:
        return (f"{_fmt(row['mae'])} (95% CI {_fmt(row['mae_low'])}-{_fmt(row['mae_high'])}, {row['mae_method']}, "
                f"n={row['n']} images; {row['configuration']}, accuracy {_fmt(row['accuracy'])})")
    if len(held) == 1:
        return f"On counts held out of training the count estimate is off by {text(best)} on average."
    return (f"On counts held out of training the mean absolute count error ranges from {text(best)} to "
            f"{text(worst)} (n={len(held)} configurations).")


def _cannot_tell(cells: list[CellRecord], configurations: list[dict[str, Any]]) -> list[str]:
    done = [cell for cell in cells if cell.status is CellStatus.DONE]
    notes = []
    few = [c["label"] for c in configurations if c["n_seeds"] < MIN_SEEDS_FOR_T]
    if few:
        notes.append(f"{len(few)} of {len(configurations)} configuration(s) have fewer than {MIN_SEEDS_FOR_T} seeds, "
                     "so their intervals are over test images only and leave out seed-to-seed variation.")
    if done and not any(cell.spec.get("weights") == "imagenet" for cell in done):
        notes.append("No cell starts from ImageNet weights, so this run cannot tell what pretraining adds.")
    sizes = sorted({int(cell.spec.get("size", 0)) for cell in done})
    if sizes and max(sizes) < 224:
        notes.append(f"Images are {', '.join(map(str, sizes))} px, not the 224 px of the original study; "
                     "effects that need resolution may differ.")
    generated = [c["label"] for c in configurations
                 if c["dewind_accuracy"] and c["dewind_accuracy"].get("source") != "test_dewind split"]
    if generated:
        notes.append(f"{len(generated)} configuration(s) recorded no test_dewind split; their DeWind accuracy comes "
                     "from a smaller DeWind set generated by the analysis for the cells analysed in depth.")
    elif done and not any(c["dewind_accuracy"] for c in configurations):
        notes.append("No cell has a DeWind-controlled accuracy, so accuracy cannot be separated from size and "
                     "spacing cues.")
    return notes


def limitations(cells: list[CellRecord], results: list[Any], configurations: list[dict[str, Any]]) -> list[str]:
    """Sentences on what is missing or uninformative (beyond the per-cell ones)."""
    notes = _cannot_tell(cells, configurations)
    unfinished = [cell for cell in cells if cell.status is not CellStatus.DONE]
    if unfinished:
        notes.append(f"{len(unfinished)} cell(s) did not finish ({', '.join(sorted({c.status.value for c in unfinished}))})"
                     " and are left out of every number.")
    fixed = sorted({cell.label for cell in cells if cell.is_counting and cell.spec.get("sizes", "fixed") == "fixed"
                    and cell.status is CellStatus.DONE})
    if fixed:
        notes.append("The controlled (DeWind) test set varies circle size, which a model trained on one radius never "
                     "saw: its drop there mixes reading ink with failing on new sizes. Train with sizes = varied or "
                     f"dewind to separate the two ({len(fixed)} fixed-size cell(s)).")
    if not results:
        notes.append("No cell was analysed in depth (no finished cell with a checkpoint), so there are no attribution, "
                     "edit, confound or probe results.")
    return notes


def example_caption(result: Any) -> str:
    """Caption of a cell's examples figure, with the measurement choices it depends on."""
    layer = result.notes.get("gradcam_layer")
    ig = result.notes.get("integrated_gradients") or {}
    parts = [f"{result.cell.label}: test images with "
             + (f"Grad-CAM ({layer})" if layer else "no Grad-CAM (maps too coarse)")
             + (f" and Integrated Gradients ({ig['n_steps']} steps, completeness gap {_fmt(ig['relative_delta'], 3)})"
                if ig else "")]
    if result.edit:
        edit = result.edit
        parts.append(f"bottom: '{edit['kind']}' edit, {edit['true_before']} -> {edit['true_after']} circles, "
                     f"predicted {edit['pred_before']} -> {edit['pred_after']}")
    return "; ".join(parts) + "."
