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
from analysis.rundata import CellResults
from analysis.verdict import COUNTER_BAND, INK_FROM, radius_coverage, verdict_display, verdict_rows
from kit.formatting import ci_sentence, interval, number
from kit.intervals import MIN_SEEDS_FOR_T
from study.run.runfolder import CellStatus
from study.config.labels import short_value
from study.config.spec import varying_fields

__all__ = ["write_outputs", "answer", "limitations", "example_caption", "accuracy_frame"]


def _axes(cells: list[CellResults]) -> tuple[str | None, list[str]]:
    """The x field of the accuracy figure (count range when it varies) and the hue fields (the other varying ones)."""
    varying = varying_fields([cell.settings for cell in cells if cell.status is CellStatus.DONE and cell.settings])
    x_field = "counts" if "counts" in varying else (varying[0] if varying else None)
    return x_field, [name for name in varying if name != x_field]


def accuracy_frame(configurations: list[dict[str, Any]], cells: list[CellResults]) -> pd.DataFrame:
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


def _baseline_frame(baselines: pd.DataFrame, cells: list[CellResults]) -> pd.DataFrame:
    """Mean baseline accuracy per figure x value, test set and counter."""
    if baselines.empty:
        return baselines
    x_field, _ = _axes(cells)
    x_of = {cell.cell_id: short_value(x_field, cell.settings.get(x_field, "")) if x_field else cell.config_label
            for cell in cells}
    data = baselines.assign(x=baselines["cell_id"].map(x_of))
    return data.groupby(["x", "split", "counter"], as_index=False)["accuracy"].mean()


def _unseen_radii(configurations: list[dict[str, Any]], cells: list[CellResults]) -> set[str]:
    """Labels of the configurations whose controlled set draws radii their training never showed."""
    spec_of = {cell.cell_id: cell.settings for cell in cells}
    unseen = set()
    for config in configurations:
        spec = spec_of.get(config["cells"][0]) if config["cells"] else None
        coverage = radius_coverage(spec) if spec and spec.get("task", "counting") == "counting" else None
        if coverage is not None and not coverage.covered:
            unseen.add(config["label"])
    return unseen


def _accuracy_takeaway(frame: pd.DataFrame, unseen: set[str]) -> str:
    iid = frame[frame["split"] == "i.i.d. test"]
    if iid.empty:
        return "No configuration has an i.i.d. test accuracy."
    best, worst = iid.loc[iid["mean"].idxmax()], iid.loc[iid["mean"].idxmin()]
    text = (f"Highest i.i.d. accuracy: {best['configuration']} at {ci_sentence(best.to_dict(), 2)}; lowest: "
            f"{worst['configuration']} at {ci_sentence(worst.to_dict(), 2)}.")
    both = frame.pivot_table(index="configuration", columns="split", values="mean")
    if "DeWind test" in both:
        drop = (both["i.i.d. test"] - both["DeWind test"]).dropna()
        for reads, rows in (("cue control", drop[~drop.index.isin(unseen)]),
                            ("size generalisation: radii never trained on", drop[drop.index.isin(unseen)])):
            if len(rows):
                text += (f" On the controlled (DeWind) set accuracy changes by {0.0 - rows.mean():+.2f} on average "
                         f"({reads}; n={len(rows)} configurations).")
    return text


# ------------------------------------------------------------------ display tables

def _configurations_display(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    shown = frame.assign(accuracy=[interval(m, lo, hi, 2) for m, lo, hi in
                                   zip(frame["mean"], frame["low"], frame["high"])])
    shown = shown.pivot_table(index=["configuration", "n_seeds", "method"], columns="split", values="accuracy",
                              aggfunc="first", sort=False).reset_index()
    return shown.rename(columns={"configuration": "Configuration", "n_seeds": "Seeds", "method": "95% CI"})


def _cells_display(table: pd.DataFrame) -> pd.DataFrame:
    if table.empty:
        return table
    return pd.DataFrame({"Cell": table["label"], "Status": table["status"],
                         "Test accuracy [95% CI]": [interval(a, lo, hi, 2) if n else "" for a, lo, hi, n
                                                    in zip(table["accuracy"], table["ci_low"], table["ci_high"],
                                                           table["n"])],
                         "Test images": table["n"], "Why not done": table["error"].fillna("")})


def _setting_pair(comparison: dict[str, Any], with_axis: bool = True) -> str:
    """``augmentation fastai vs none``, or ``64 px vs 32 px`` when the values say what they are."""
    field, a, b = comparison["field"], comparison["a"], comparison["b"]
    pair = f"{short_value(field, a)} vs {short_value(field, b)}"
    return f"{comparison['axis']} {pair}" if with_axis and short_value(field, a) == str(a) else pair


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _p(value: Any, n: str) -> str:
    """``0.012 (3 seeds)``, ``< 0.0001 (1000 images)``, or ``n/a (1 seed)`` when there is no p."""
    try:
        if value is None or not np.isfinite(float(value)):
            return f"n/a ({n})"
        return f"< 0.0001 ({n})" if float(value) < 1e-4 else f"{float(value):.3g} ({n})"
    except (TypeError, ValueError):
        return f"n/a ({n})"


def _p_words(value: Any, n: str) -> str:
    """``p = 0.012 (3 seeds)``, ``p < 0.0001 (...)``, or ``no p (1 seed)`` for a sentence."""
    shown = _p(value, n)
    return "no p" + shown[3:] if shown.startswith("n/a") else ("p " if shown.startswith("<") else "p = ") + shown


def _comparisons_display(comparisons: list[dict[str, Any]]) -> pd.DataFrame:
    rows = [{"Setting": c["axis"],
             "A vs B": _setting_pair(c, with_axis=False), "Where": c["configuration"],
             "Test set": c["split"], "A - B (95% CI)": f"{c['difference']:+.3f} [{c['ci'][0]:+.3f}, {c['ci'][1]:+.3f}]",
             "p, t over seeds": _p(c.get("p_seeds"), _n(c["n_seeds"], "seed")),
             "p, images (seed-stratified)": _p(c.get("p_images"), _n(c["n_images"], "image")),
             "Odds ratio": number(c["effect_size"]["odds_ratio"], 2)} for c in comparisons]
    return pd.DataFrame(rows)


def _confounds_display(table: pd.DataFrame) -> pd.DataFrame:
    if table.empty:
        return table
    rows = []
    for label, group in table.groupby("label", sort=False):
        terms = group.set_index("term")
        rows.append({"Cell": label,
                     **{name: f"{terms.loc[term, 'coef']:.3g} [{terms.loc[term, 'ci_low']:.3g}, "
                               f"{terms.loc[term, 'ci_high']:.3g}]"
                        for term, name in (("log_n", "bN"), ("log_size", "bSize"), ("log_spacing", "bSpacing"))},
                     "R²": number(group["r2"].iloc[0], 2), "n": int(group["n"].iloc[0])})
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
                         "Consistent (all)": table["consistent"].map(lambda value: number(value, 2)),
                         "Consistent (correct before)": table["consistent_if_correct"].map(lambda value: number(value, 2)),
                         "n": table["n"], "n correct before": table["n_correct_before"],
                         "Off training distribution": table["off_distribution"].map({True: "yes", False: ""})})


def _measurement_frame(results: list[Any]) -> pd.DataFrame:
    rows = []
    for result in results:
        ig = result.notes.get("integrated_gradients") or {}
        rows.append({"Cell": result.cell.label, "Grad-CAM layer": result.notes.get("gradcam_layer") or "none (too coarse)",
                     "IG steps": ig.get("n_steps"), "IG completeness gap": number(ig.get("relative_delta"), 3),
                     "IG cap hit": "yes" if ig.get("cap_hit") else "no"})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ takeaways

def _mean_by(table: pd.DataFrame, by: str, value: str) -> str:
    means = table.groupby(by, sort=False)[value].agg(["mean", "count"])
    return "; ".join(f"{name} {number(row['mean'], 2)} (n={int(row['count'])})" for name, row in means.iterrows())


def _ratio_takeaway(rows: list[dict[str, Any]]) -> str:
    """bSize/bN per configuration on the DeWind set, or the bound where bN is not resolved."""
    parts = []
    for row in rows:
        ratio = row["ratio"]
        if not ratio:
            continue
        if ratio["resolved"]:
            parts.append(f"{row['configuration']} {ratio['ratio']:.2f} [{ratio['low']:.2f}, {ratio['high']:.2f}]")
        else:
            parts.append(f"{row['configuration']} no number signal (bN 95% CI {ratio['b_n_low']:.2f} to "
                         f"{ratio['b_n_high']:.2f})")
    if not parts:
        return ""
    method = next(row["ratio"] for row in rows if row["ratio"])
    return ("bSize/bN on the DeWind set (0: a counter, 1: an ink reader; 95% CI, " + method["method"] + "): "
            + "; ".join(parts) + ".")


def _deletion_takeaway(table: pd.DataFrame) -> str:
    removed = table[table["step"] >= 1].assign(per_circle=lambda t: t["delta_expected"] / t["step"])
    return ("Change of the expected count per removed circle (a counter: -1): "
            + _mean_by(removed, "order", "per_circle") + " scene-steps.")


def _probe_takeaway(table: pd.DataFrame) -> str:
    last = table[table["stage"] == table["stage"].iloc[-1]]
    return (f"Count decodability at {last['stage'].iloc[0]}: " + _mean_by(last, "init", "accuracy")
            + f" probes; chance {number(last['chance'].mean(), 2)}.")


# ------------------------------------------------------------------ outputs

def write_outputs(summary: Any, cells: list[CellResults], results: list[Any], configurations: list[dict[str, Any]],
                  comparisons: list[dict[str, Any]]) -> None:
    """Every table and figure the data supports, written through ``summary``."""
    frame = accuracy_frame(configurations, cells)
    pooled = {name: pd.concat([r.tables[name] for r in results if name in r.tables], ignore_index=True)
              if any(name in r.tables for r in results) else pd.DataFrame()
              for name in ("localization", "interventions", "interventions_summary", "deletion", "confounds",
                           "confound_images", "baselines", "probes")}
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
    summary.table(pooled["confounds"], "confounds", "DeWind regression of the log predicted count per cell: raw "
                  "weights with 95% bootstrap CIs over images (a counter: bN 1, bSize 0; an ink reader: 0.5 and 0.5)",
                  "drivers", _confounds_display(pooled["confounds"]))
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
                               ("probes", pooled["probes"], "Linear probes of the count per stage"),
                               ("confound_images", pooled["confound_images"],
                                "DeWind fit rows: log prediction, log N, log Size, log Spacing per image")):
        summary.table(table, name, title, "appendix", table.head(0))  # tidy data: the CSV only, no display rows
    verdicts = verdict_rows(cells, configurations, pooled["confound_images"])
    _figures(summary, frame, baselines, pooled, per_count, noise, history, confusion, verdicts,
             _unseen_radii(configurations, cells))


def _figures(summary: Any, frame: pd.DataFrame, baselines: pd.DataFrame, pooled: dict[str, pd.DataFrame],
             per_count: pd.DataFrame, noise: pd.DataFrame, history: pd.DataFrame, confusion: pd.DataFrame,
             verdicts: list[dict[str, Any]], unseen: set[str]) -> None:
    summary.figure(lambda: figures.accuracy_by_range(frame, baselines), "accuracy",
                   "Accuracy by count range and policy, i.i.d. and DeWind test sets (95% CI; grey: baselines)",
                   lambda: _accuracy_takeaway(frame, unseen), "answer")
    summary.figure(lambda: figures.per_count_accuracy(per_count), "per_count_accuracy", "Accuracy per true count",
                   lambda: "Per-count accuracy: " + _mean_by(per_count, "configuration", "accuracy") + " classes.",
                   "results")
    summary.figure(lambda: figures.size_ratio(verdicts, COUNTER_BAND, INK_FROM), "confounds",
                   "Counter or ink reader: bSize/bN of the DeWind regression per configuration (95% CI)",
                   lambda: _ratio_takeaway(verdicts), "drivers")
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

def answer(question: str, summary: Any, cells: list[CellResults], configurations: list[dict[str, Any]],
           comparisons: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"question", "abstract": [3-5 sentences with CI and n], "cannot_tell": [sentences]}``.

    Also writes the verdict table (``tables/verdicts.csv``, section "answer": page 1 shows it).
    """
    verdicts = verdict_rows(cells, configurations, summary.data.get("confound_images"), summary.data.get("heads"))
    summary.table(_verdicts_frame(verdicts), "verdicts", "Verdict per configuration, by the rule in docs/ANALYSIS.md "
                  "(accuracies and gap: 95% CI; bSize/bN: 95% bootstrap CI on the DeWind set)", "answer",
                  verdict_display(verdicts))
    abstract = []
    if verdicts:
        abstract.append(_verdict_sentence(verdicts))
    scored = [c for c in configurations if c["accuracy"]]
    if scored:
        best = max(scored, key=lambda c: c["accuracy"]["mean"])
        worst = min(scored, key=lambda c: c["accuracy"]["mean"])
        abstract.append(f"Across {len(scored)} configuration(s), i.i.d. test accuracy ranges from "
                        f"{ci_sentence(worst['accuracy'], 2)} ({worst['label']}) to "
                        f"{ci_sentence(best['accuracy'], 2)} ({best['label']}).")
    held = _held_out_sentence(summary.data.get("heads"))
    if held:
        abstract.append(held)  # the direct test of a count concept comes right after the headline
    gap = _gap_sentence(verdicts)
    if gap:
        abstract.append(gap)
    iid = [c for c in comparisons if c["split"] == "i.i.d. test"]
    if iid:
        top = max(iid, key=lambda c: abs(c["difference"]))
        abstract.append(f"The largest paired difference is {_setting_pair(top)} "
                        f"({top['configuration']}): {top['difference']:+.3f} (95% CI {top['ci'][0]:+.3f} to "
                        f"{top['ci'][1]:+.3f}; paired t over seeds {_p_words(top.get('p_seeds'), _n(top['n_seeds'], 'seed'))}, "
                        f"seed-stratified image test {_p_words(top.get('p_images'), _n(top['n_images'], 'paired image'))}).")
    baselines = summary.data.get("baselines")
    if baselines is not None and not baselines.empty:
        ink = baselines[baselines["counter"] == "ink_area"].groupby("split")["accuracy"].mean()
        abstract.append("An ink-area counter reaches " + ", ".join(f"{number(v, 2)} on the {k}" for k, v in ink.items())
                        + " (mean over count ranges).")
    return {"question": question, "abstract": abstract[:5],
            "cannot_tell": _cannot_tell(cells, configurations, verdicts)}


def _verdicts_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The verdict rows as a tidy table (one column per number) for verdicts.csv."""
    flat = []
    for row in rows:
        entry = {key: value for key, value in row.items() if not isinstance(value, (dict, list))}
        for name in ("iid", "controlled", "gap", "ratio", "held_out"):
            for key, value in (row.get(name) or {}).items():
                entry[f"{name}_{key}"] = value
        for name in ("training_radii", "controlled_radii"):
            if row.get(name):
                entry[f"{name}_min"], entry[f"{name}_max"] = row[name]
        flat.append(entry)
    return pd.DataFrame(flat)


def _verdict_sentence(rows: list[dict[str, Any]]) -> str:
    """``Verdicts (rule in docs/ANALYSIS.md; table below): counts: a, b; neither: chance: c.``"""
    groups: dict[str, list[str]] = {}
    for row in rows:
        groups.setdefault(row["verdict"], []).append(row["configuration"])
    return ("Verdicts by the rule in docs/ANALYSIS.md (table below): "
            + "; ".join(f"{word} ({', '.join(labels)})" for word, labels in groups.items()) + ".")


def _gap_text(row: dict[str, Any]) -> str:
    gap = row["gap"]
    return (f"{row['configuration']}: {gap['mean']:+.2f} (95% CI {gap['low']:+.2f} to {gap['high']:+.2f}, "
            f"{gap['method']}, {gap['n_seeds']} seed{'s' if gap['n_seeds'] != 1 else ''}, "
            f"n={gap['n_images']} images)")


def _gap_sentence(rows: list[dict[str, Any]]) -> str:
    """The largest i.i.d.-minus-controlled gap among cells trained on the controlled radii, and among those not."""
    parts = []
    for reads, words in (("cue control", "trained on the controlled set's radii"),
                         ("size generalisation", "trained on one radius (a size-generalisation gap, not a "
                                                 "measure of reading ink)")):
        with_gap = [row for row in rows if row["gap"] and row["gap_reads"] == reads]
        if with_gap:
            top = max(with_gap, key=lambda row: row["gap"]["mean"])
            parts.append(f"among {len(with_gap)} configuration(s) {words} it is largest for {_gap_text(top)}")
    return ("i.i.d. minus controlled (DeWind) accuracy, paired over seeds: " + "; ".join(parts) + ".") if parts else ""


def _held_out_sentence(heads: pd.DataFrame | None) -> str:
    """The best and worst MAE on counts held out of training (``analysis.numerosity.heads_table``), or ''."""
    if heads is None or heads.empty:
        return ""
    held = heads[heads["split"] == "test_held_out"].dropna(subset=["mae"])
    if held.empty:
        return ""
    best, worst = held.loc[held["mae"].idxmin()], held.loc[held["mae"].idxmax()]

    def text(row: pd.Series) -> str:
        return (f"{number(row['mae'], 2)} (95% CI {number(row['mae_low'], 2)}–{number(row['mae_high'], 2)}, "
                f"{row['mae_method']}, n={row['n']} images; {row['configuration']}, accuracy {number(row['accuracy'], 2)})")
    if len(held) == 1:
        return f"On counts held out of training the count estimate is off by {text(best)} on average."
    return (f"On counts held out of training the mean absolute count error ranges from {text(best)} to "
            f"{text(worst)} (n={len(held)} configurations).")


def _cannot_tell(cells: list[CellResults], configurations: list[dict[str, Any]],
                 verdicts: list[dict[str, Any]] | None = None) -> list[str]:
    done = [cell for cell in cells if cell.status is CellStatus.DONE]
    notes = []
    unseen = sorted(_unseen_radii(configurations, cells) & {c["label"] for c in configurations if c["dewind_accuracy"]})
    if unseen:
        radii = next((row for row in verdicts or [] if row["configuration"] in unseen and row["training_radii"]), None)
        where = (f" (trained on radius {radii['training_radii'][0]:.2f} px; the controlled set draws "
                 f"{radii['controlled_radii'][0]:.2f}-{radii['controlled_radii'][1]:.2f} px)") if radii else ""
        notes.append(f"{len(unseen)} configuration(s) trained on one circle radius{where}: "
                     f"{', '.join(unseen)}. Their drop from i.i.d. to controlled accuracy is a failure to generalise "
                     "to circle sizes never trained on as much as a sign of reading ink, so it is labelled size "
                     "generalisation and their verdict never says ink; the DeWind-trained configurations, whose "
                     "training radii cover the controlled ones, are the test of ink.")
    few = [c["label"] for c in configurations if c["n_seeds"] < MIN_SEEDS_FOR_T]
    if few:
        notes.append(f"{len(few)} of {len(configurations)} configuration(s) have fewer than {MIN_SEEDS_FOR_T} seeds, "
                     "so their intervals are over test images only and leave out seed-to-seed variation.")
    if done and not any(cell.settings.get("weights") == "imagenet" for cell in done):
        notes.append("No cell starts from ImageNet weights, so this run cannot tell what pretraining adds.")
    sizes = sorted({int(cell.settings.get("size", 0)) for cell in done})
    if sizes and max(sizes) < 224:
        notes.append(f"Images are {', '.join(map(str, sizes))} px, not the 224 px of the original study; "
                     "effects that need resolution may differ.")
    generated = [c["label"] for c in configurations
                 if c["dewind_accuracy"] and c["dewind_accuracy"].get("source") != "test_dewind split"]
    if generated:
        notes.append(f"{len(generated)} configuration(s) recorded no test_dewind split; their DeWind accuracy comes "
                     "from a smaller DeWind set generated by the analysis for the cells analysed in depth.")
    elif done and not any(c["dewind_accuracy"] for c in configurations):
        notes.append("No cell has a DeWind-controlled accuracy, so accuracy cannot be separated from Size and "
                     "Spacing cues.")
    return notes


def limitations(cells: list[CellResults], results: list[Any], configurations: list[dict[str, Any]]) -> list[str]:
    """Sentences on what is missing or uninformative (beyond the per-cell ones)."""
    notes = _cannot_tell(cells, configurations)
    unfinished = [cell for cell in cells if cell.status is not CellStatus.DONE]
    if unfinished:
        notes.append(f"{len(unfinished)} cell(s) did not finish ({', '.join(sorted({c.status.value for c in unfinished}))})"
                     " and are left out of every number.")
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
             + (f" and Integrated Gradients ({ig['n_steps']} steps, completeness gap {number(ig['relative_delta'], 3)})"
                if ig else "")]
    if result.edit:
        edit = result.edit
        parts.append(f"bottom: '{edit['kind']}' edit, {edit['true_before']} -> {edit['true_after']} circles, "
                     f"predicted {edit['pred_before']} -> {edit['pred_after']}")
    return "; ".join(parts) + "."
