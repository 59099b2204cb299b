"""The numerosity instruments on every finished counting cell: Weber fits and number-selective units.

``run_instruments`` is called once per analysis by ``analysis.pipeline``.
For each done counting cell with a checkpoint it

1. fits the DeWind et al. (2015) discrimination model to pairwise choices
   the network makes between DeWind-controlled scenes of its own canvas and
   count range (``analysis.psychophysics.weber_experiment``), and
2. finds number-selective units in its last body stage with Nasr et al.'s
   (2019) two-way ANOVA over their standard and control stimulus sets
   (total area constant, convex hull constant) and a DeWind set, beside the
   same architecture with random weights (``analysis.units.unit_experiment``),
   with a bootstrap interval on the trained-minus-random difference,

and adds tables, figures and computed sentences to the summary under the
section ``numerosity``. Everything is bounded by an ``InstrumentBudget``;
a step that fails for a cell becomes a ``missing`` entry and the others go on.
docs/INSTRUMENTS.md explains the measures and how to read the figures.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

from analysis import figures
from analysis.cell_analysis import BUDGETS, Budget
from analysis.predict import load_predictor
from analysis.probes import stage_modules
from analysis.psychophysics import HUMAN_ADULT_MODEL, HUMAN_ADULT_W, human_band_applies, weber_experiment, weber_text
from analysis.rundata import CellResults
from analysis.summary import Summary
from analysis.units import CONTROL_SAMPLERS, SelectiveDifference, UnitSelectivity, unit_experiment
from kit.intervals import mean_ci
from kit.seeds import derive_seed
from kit.progress import progress_iter
from study.errors import ConfigError
from study.run.runfolder import CellStatus
from study.config.spec import TrainSpec
from study.config.scenes import dewind_scene_recipe, rendered_scene_recipe
from synth.scenes import InfeasibleSceneError, SceneRecipe

__all__ = ["SECTION", "InstrumentBudget", "INSTRUMENT_BUDGETS", "instrument_budget", "run_instruments",
           "weber_figure", "units_figure"]

SECTION = "numerosity"
FIGURE_CELLS = 3  # cells drawn in the units figure (the table has every cell)


@dataclasses.dataclass(frozen=True)
class InstrumentBudget:
    """How much of each instrument one cell gets.

    Attributes:
        weber_images: DeWind scenes rendered for the Weber fit; weber_pairs: pairs judged;
        bootstrap: refits behind the 95% intervals.
        unit_per_cell: images per (numerosity, stimulus set) of the unit ANOVA;
        unit_numbers: most numerosities shown (spread evenly over the cell's range).
    """

    weber_images: int = 400
    weber_pairs: int = 3000
    bootstrap: int = 200
    unit_per_cell: int = 12
    unit_numbers: int = 8


INSTRUMENT_BUDGETS = {
    "quick": InstrumentBudget(weber_images=200, weber_pairs=1500, bootstrap=100, unit_per_cell=8, unit_numbers=6),
    "default": InstrumentBudget(),
    "full": InstrumentBudget(weber_images=1000, weber_pairs=8000, bootstrap=500, unit_per_cell=24, unit_numbers=12),
}


def instrument_budget(budget: Budget | InstrumentBudget) -> InstrumentBudget:
    """The instruments' budget for a pipeline budget.

    A named ``cell_analysis.BUDGETS`` entry maps to the instrument budget of
    the same name; any other ``Budget`` (a test's tiny one) gets a small one
    sized by its ``dewind`` scenes.
    """
    if isinstance(budget, InstrumentBudget):
        return budget
    for name, named in BUDGETS.items():
        if named == budget:
            return INSTRUMENT_BUDGETS[name]
    images = max(30, budget.dewind)
    return InstrumentBudget(weber_images=images, weber_pairs=10 * images, bootstrap=50, unit_per_cell=3,
                            unit_numbers=4)


# ------------------------------------------------------------------ measuring one cell

@dataclasses.dataclass
class _CellMeasures:
    weber: dict[str, Any] | None = None
    units: dict[str, UnitSelectivity] = dataclasses.field(default_factory=dict)
    difference: SelectiveDifference | None = None
    layer: str = ""
    limitations: list[str] = dataclasses.field(default_factory=list)
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)


def _scene_recipes(train: TrainSpec) -> tuple[dict[str, SceneRecipe], list[str]]:
    """The cell's stimulus sets on its canvas, and why any was left out.

    ``fixed`` (the cell's one radius: Nasr et al.'s standard set), ``constant_area`` and
    ``constant_hull`` (their controls 1 and 2, drawn by ``analysis.units.CONTROL_SAMPLERS`` from the
    same recipe) and ``dewind``.
    """
    # On the images' canvas (scenes scaled to `size` when the cell draws them at `scene_size`); the
    # DeWind set is checked on its own below.
    base = rendered_scene_recipe(dataclasses.replace(train, n_test_dewind=0))
    fixed = dataclasses.replace(base, radius_range=None, control="none")
    sets = {"fixed": fixed}
    why: list[str] = []
    for name, what in (("constant_area", "total area"), ("constant_hull", "convex hull")):
        try:
            CONTROL_SAMPLERS[name](fixed, 2 * (fixed.counts[1] - fixed.counts[0] + 1), seed=0)
            sets[name] = fixed
        except InfeasibleSceneError as error:
            why.append(f"scenes with a constant {what} cannot be drawn on this canvas ({error}): the unit analysis "
                       f"has no constant-{what} control set.")
    try:
        sets["dewind"] = dewind_scene_recipe(train, base)
    except ConfigError as error:
        why.append(f"no DeWind-controlled scenes fit this canvas ({error}): no Weber fit, and the unit analysis "
                   "has no DeWind stimulus set.")
    return sets, why


def _numbers(lo: int, hi: int, most: int) -> list[int]:
    """Up to ``most`` numerosities spread evenly over lo..hi (both ends included)."""
    return sorted({int(round(n)) for n in np.linspace(lo, hi, min(most, hi - lo + 1))})


def _measure(cell: CellResults, budget: InstrumentBudget, device: torch.device,
             step: Callable[[str], Any]) -> _CellMeasures:
    """Both instruments on one cell; ``step(what)`` is the context that turns a failure into a missing entry."""
    measures = _CellMeasures()
    lo, hi = cell.count_range or (0, 0)
    if lo == hi:
        measures.limitations.append("A cell with one count class has no pairs that differ in number and no "
                                    "numerosity factor: no Weber fit and no unit analysis.")
        return measures
    predictor, spec, _ = load_predictor(cell.folder, cell.settings, cell.classes, True, device)
    try:
        train = TrainSpec.from_dict(spec)
        sets, why = _scene_recipes(train)
    except ConfigError as error:  # a UserError would stop the whole analysis: this only stops this cell's
        raise RuntimeError(f"the cell's scenes cannot be rebuilt: {error}") from None
    measures.limitations.extend(why)
    seed = derive_seed(train.resolved_data_seed, "analysis_scenes")  # fresh scenes, not the training ones
    if "dewind" in sets:
        with step(f"Weber fit ({cell.label})"):
            started = time.perf_counter()
            fit, info = weber_experiment(predictor, sets["dewind"], budget.weber_images, budget.weber_pairs, seed,
                                         n_boot=budget.bootstrap)
            measures.weber = {**fit.row(), "n_images": info["n_images"], "counts": f"{lo}-{hi}",
                              "w_text": fit.w_text(), "human_band": human_band_applies((lo, hi))}
            measures.seconds["weber"] = round(time.perf_counter() - started, 2)
    if len(sets) >= 2:
        with step(f"number-selective units ({cell.label})"):
            started = time.perf_counter()
            measures.layer = list(stage_modules(predictor.model))[-1]
            measures.units, measures.difference = unit_experiment(
                predictor.model, spec["arch"], measures.layer, predictor.transform, sets,
                _numbers(lo, hi, budget.unit_numbers), budget.unit_per_cell, seed, device, n_boot=budget.bootstrap)
            measures.seconds["units"] = round(time.perf_counter() - started, 2)
            if hi - lo + 1 > budget.unit_numbers:
                measures.limitations.append(f"The unit analysis showed {budget.unit_numbers} numerosities spread "
                                            "over the count range, not every count.")
    return measures


# ------------------------------------------------------------------ tables

def _unit_rows(cell: CellResults, measures: _CellMeasures) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One summary row per network, and tidy tuning rows (preferred numerosity x numerosity) per network."""
    rows, tuning = [], []
    ident = {"cell_id": cell.cell_id, "label": cell.label, "configuration": cell.config_label}
    difference = measures.difference
    for network, result in measures.units.items():
        rows.append({**ident, "network": network, "layer": measures.layer, "n_units": result.n_units,
                     "n_selective": int(result.selective.sum()), "fraction_selective": result.fraction_selective,
                     **({"difference": difference.difference, "difference_low": difference.low,
                         "difference_high": difference.high, "difference_method": difference.method}
                        if difference is not None else {}),
                     "n_inactive": int(result.inactive.sum()), "numbers": " ".join(map(str, result.numbers)),
                     "sets": " ".join(result.sets), "per_cell": result.per_cell,
                     "n_images": result.per_cell * len(result.numbers) * len(result.sets)})
        histogram = dict(zip(result.numbers.tolist(), result.preferred_histogram().tolist()))
        curves = result.mean_tuning()
        for preferred in result.numbers.tolist():
            curve, n_units = curves.get(preferred, (np.full(len(result.numbers), np.nan), 0))
            for number, response in zip(result.numbers.tolist(), curve):
                tuning.append({**ident, "network": network, "preferred": preferred, "number": number,
                               "response": float(response), "n_units": n_units,
                               "n_preferring": histogram[preferred], "n_units_total": result.n_units})
    return rows, tuning


def _weber_display(frame: pd.DataFrame) -> pd.DataFrame:
    def interval(name: str, row: pd.Series, digits: int) -> str:
        return f"{row[name]:.{digits}f} [{row[name + '_low']:.{digits}f}, {row[name + '_high']:.{digits}f}]"

    return pd.DataFrame({
        "Cell": frame["label"], "Counts": frame["counts"],
        "w [95% CI]": [_w_text(row) for _, row in frame.iterrows()],
        **{column: ["n/a" if row["at_ceiling"] else interval(name, row, digits) for _, row in frame.iterrows()]
           for column, name, digits in (("b_size", "b_size", 2), ("b_spacing", "b_spacing", 2),
                                        ("theta (deg)", "theta", 0))},
        "Human band": ["applies" if row.get("human_band", True) else "n/a (subitizing range)"
                       for _, row in frame.iterrows()],
        "Pairs": frame["n_pairs"], "Ties": [f"{t:.0%}" for t in frame["tie_fraction"]]})


def _w_text(row: pd.Series) -> str:
    """``psychophysics.weber_text`` of a table row: the bound when w is below the design's resolution."""
    return weber_text(row["w"], (row["w_low"], row["w_high"]), row["w_resolution"], bool(row["below_resolution"]),
                      bool(row["at_ceiling"]))


def _units_display(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "Cell": frame["label"], "Network": frame["network"], "Layer": frame["layer"],
        "Selective units": [f"{s}/{n} ({f:.1%})" for s, n, f in
                            zip(frame["n_selective"], frame["n_units"], frame["fraction_selective"])],
        **({"Trained - random [95% CI]": [
            f"{d:+.1%} [{lo:+.1%}, {hi:+.1%}]" if network == "trained" else ""
            for d, lo, hi, network in zip(frame["difference"], frame["difference_low"], frame["difference_high"],
                                          frame["network"])]} if "difference" in frame else {}),
        "Numerosities": frame["numbers"], "Stimulus sets": frame["sets"], "Images per cell": frame["per_cell"]})


# ------------------------------------------------------------------ figures

def _new_figure(height: float) -> Figure:
    return Figure(figsize=(figures.WIDTH, height), dpi=figures.DPI, layout="constrained")


def weber_figure(frame: pd.DataFrame) -> Figure | None:
    """w (log axis) and theta per cell with 95% CIs, one row per configuration, with the human adult band.

    Configurations run down the y axis (their labels read horizontally however many there are);
    replicate cells of one configuration are dodged within its row.

    Args:
        frame: the ``numerosity_weber`` table (one row per cell).
    """
    if frame.empty:
        return None
    configurations = list(dict.fromkeys(frame["configuration"]))
    with figures.style():
        figure = _new_figure(max(figures.HEIGHT, 1.2 + 0.32 * len(configurations)))
        axes = figure.subplots(1, 2, sharey=True)
        for k, configuration in enumerate(configurations):
            rows = frame[frame["configuration"] == configuration]
            y = k + np.linspace(-0.15, 0.15, len(rows)) if len(rows) > 1 else np.array([float(k)])
            ceiling = rows["at_ceiling"].to_numpy(bool)
            below = rows["below_resolution"].to_numpy(bool)
            if rows["human_band"].astype(bool).any():  # only beside count ranges the human values describe
                axes[0].fill_betweenx([k - 0.45, k + 0.45], *HUMAN_ADULT_W, color="0.85", zorder=0, linewidth=0,
                                      label=f"human adults {HUMAN_ADULT_W[0]}-{HUMAN_ADULT_W[1]} (other model)")
            for axis, name in ((axes[0], "w"), (axes[1], "theta")):
                low = np.clip(rows[name] - rows[f"{name}_low"], 0, None)
                high = np.clip(rows[f"{name}_high"] - rows[name], 0, None)
                shown = ~ceiling & ~(below if name == "w" else np.zeros(len(rows), bool))
                axis.errorbar(rows[name][shown], y[shown], xerr=[low[shown], high[shown]], fmt="o", capsize=3,
                              color="C0")
            for position in y[ceiling]:  # at the ceiling w is no estimate at all
                axes[0].annotate("no number signal", (0.5, position), xycoords=("axes fraction", "data"),
                                 ha="center", va="center", fontsize="xx-small", color="C3")
            if below.any():  # an upper bound, drawn at the bound: w lies somewhere to its left
                axes[0].scatter(rows["w_resolution"][below], y[below], marker="<", color="C3", zorder=3,
                                label="below resolution (w < bound)")
        axes[0].set_yticks(range(len(configurations)), configurations, fontsize="x-small")
        axes[0].set_ylim(len(configurations) - 0.5, -0.5)  # first configuration on top
        axes[0].set(xscale="log", xlabel="Weber fraction w (95% CI)", xlim=_w_limits(frame))
        # Labels at 1, 2 and 5 of each decade (0.1, 0.2, 0.5) rather than 10^-1 and nothing between.
        axes[0].xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axes[0].xaxis.set_major_formatter(FormatStrFormatter("%g"))
        axes[0].xaxis.set_minor_formatter(NullFormatter())
        axes[1].set(xlim=(0, 90), xlabel="theta, angle to number (deg)")
        handles, labels = axes[0].get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        axes[0].legend(unique.values(), unique.keys(), fontsize="xx-small", loc="lower left",
                       bbox_to_anchor=(0.0, 1.0), frameon=False)
    return figure


def _w_limits(frame: pd.DataFrame) -> tuple[float, float]:
    """Log-axis limits that hold the human band (where drawn), every bound and finite interval shown, with a margin."""
    shown = frame[~frame["at_ceiling"].astype(bool) & ~frame["below_resolution"].astype(bool)]
    bounds = frame.loc[frame["below_resolution"].astype(bool), "w_resolution"]
    band = list(HUMAN_ADULT_W) if frame["human_band"].astype(bool).any() else []
    values = [*band, *bounds.dropna(), *shown["w_low"].dropna(), *shown["w_high"].dropna(), *shown["w"].dropna()]
    values = [v for v in values if np.isfinite(v) and v > 0]
    return (min(values) / 1.5, max(values) * 1.5) if values else (0.01, 1.0)


def _tuning_panel(axis: Any, tuning: pd.DataFrame, log_axis: bool) -> None:
    numbers = sorted(tuning["number"].unique())
    colours = dict(zip(numbers, sns.color_palette("viridis", len(numbers))))
    for (network, preferred), rows in tuning.groupby(["network", "preferred"]):
        if rows["n_units"].iloc[0] == 0:
            continue
        axis.plot(rows["number"], rows["response"], color=colours[preferred], marker="o", markersize=2,
                  linestyle="-" if network == "trained" else "--", alpha=1.0 if network == "trained" else 0.5)
    axis.set(xscale="log" if log_axis else "linear", ylim=(-0.05, 1.05),
             xlabel="numerosity" + (" (log axis)" if log_axis else ""))
    ticks = numbers[:: max(1, -(-len(numbers) // 6))]  # at most 6 labelled numerosities
    axis.minorticks_off()
    axis.set_xticks(ticks, [str(n) for n in ticks])


def units_figure(tuning: pd.DataFrame, limit: int = FIGURE_CELLS) -> Figure | None:
    """Per cell (first ``limit``): preferred-numerosity histogram and mean tuning curves, trained vs random.

    Column 1: selective units preferring each numerosity as a share of all units (bars, trained and
    random). Columns 2-3: mean normalised tuning curve per preferred numerosity on linear and log
    axes (solid: trained; dashed: random weights).

    Args:
        tuning: the ``numerosity_tuning`` table.
    """
    if tuning.empty:
        return None
    cells = list(dict.fromkeys(tuning["cell_id"]))[:limit]
    with figures.style():
        figure = _new_figure(1.9 * len(cells) + 0.4)
        axes = figure.subplots(len(cells), 3, squeeze=False)
        for row, cell_id in zip(axes, cells):
            data = tuning[tuning["cell_id"] == cell_id]
            bars = data.drop_duplicates(["network", "preferred"]).assign(
                share=lambda d: d["n_preferring"] / d["n_units_total"])
            sns.barplot(data=bars, x="preferred", y="share", hue="network", hue_order=["trained", "random"],
                        ax=row[0], errorbar=None)
            row[0].set(xlabel="preferred numerosity", ylabel="share of units", title=data["label"].iloc[0])
            row[0].title.set_fontsize("x-small")
            row[0].legend(fontsize="xx-small")
            _tuning_panel(row[1], data, log_axis=False)
            _tuning_panel(row[2], data, log_axis=True)
            row[1].set_ylabel("normalised response")
        axes[0, 1].set_title("tuning, linear axis", fontsize="x-small")
        axes[0, 2].set_title("tuning, log axis (dashed: random)", fontsize="x-small")
    return figure


# ------------------------------------------------------------------ sentences

def _weber_takeaway(frame: pd.DataFrame) -> str:
    below, ceiling = frame["below_resolution"].astype(bool), frame["at_ceiling"].astype(bool)
    measured = frame[~below & ~ceiling]
    text = f"Weber fits on DeWind-controlled pairs of {len(frame)} cell{'s' if len(frame) != 1 else ''}"
    if len(measured):
        finite = f"{len(measured)} cell{'s' if len(measured) != 1 else ''} with a resolved fit"
        text += (f": median w {measured['w'].median():.3f} (range {measured['w'].min():.3f}-"
                 f"{measured['w'].max():.3f}, {finite})")
        banded = measured[measured["human_band"].astype(bool)]
        if len(banded):
            inside = int(banded["w"].between(*HUMAN_ADULT_W).sum())
            text += (f", {inside} of {len(banded)} beyond the subitizing range inside the human adult band "
                     f"{HUMAN_ADULT_W[0]}-{HUMAN_ADULT_W[1]} ({HUMAN_ADULT_MODEL})")
    if below.any():
        bounds = frame.loc[below, "w_resolution"]
        text += (f"; {int(below.sum())} cell{'s' if below.sum() != 1 else ''} below the design's resolution (w < "
                 f"{bounds.min():.2g}{'' if bounds.min() == bounds.max() else f'-{bounds.max():.2g}'}: so few or so "
                 "easy pairs that an observer with that w would still make no error with probability 0.05 or more; "
                 "w is not measured there)")
    if ceiling.any():
        rows = frame[ceiling]
        text += (f"; {len(rows)} cell{'s' if len(rows) != 1 else ''} did not favour the more numerous array "
                 f"(w at the ceiling, no number signal: choice accuracy {rows['accuracy'].mean():.2f}, ties "
                 f"{rows['tie_fraction'].mean():.0%} of pairs on average)")
    if frame["theta"].isna().all():
        return text + "."
    worst = frame.loc[frame["theta"].idxmax()]
    text += (f". Largest angle to the number axis: cell '{worst['label']}' at {worst['theta']:.0f} deg (95% CI "
             f"{worst['theta_low']:.0f}-{worst['theta_high']:.0f}; b_size {worst['b_size']:.2f}, b_spacing "
             f"{worst['b_spacing']:.2f}, n={int(worst['n_pairs'])} pairs): 0 deg is a pure number judgement, "
             "45 deg weighs Size as much as number.")
    return text


def _units_takeaway(frame: pd.DataFrame) -> str:
    share = frame.pivot_table(index="cell_id", columns="network", values="fraction_selective")
    text = (f"Number-selective units (two-way ANOVA over {', '.join(sorted(set(' '.join(frame['sets']).split())))}: "
            f"numerosity p < 0.01, stimulus set and interaction not, the same preferred numerosity in every set) in "
            f"{', '.join(sorted(set(frame['layer'])))} of {len(share)} cell{'s' if len(share) != 1 else ''}: "
            f"trained {share['trained'].mean():.1%} on average (range {share['trained'].min():.1%}-"
            f"{share['trained'].max():.1%})")
    if "random" in share:
        text += f" against {share['random'].mean():.1%} in the same architecture with random weights"
        trained = frame[frame["network"] == "trained"]
        if "difference" in trained and trained["difference"].notna().any():
            above = int((trained["difference_low"] > 0).sum())
            below = int((trained["difference_high"] < 0).sum())
            text += (f"; the trained-minus-random difference is above 0 (its 95% interval, "
                     f"{trained['difference_method'].iloc[0]}) in {above} of {len(trained)} cells and below 0 in "
                     f"{below}")
            over_seeds = [f"{configuration} {ci['mean']:+.1%} [{ci['ci_low']:+.1%}, {ci['ci_high']:+.1%}] "
                          f"(t over {ci['n']} seeds)"
                          for configuration, rows in trained.groupby("configuration", sort=False)
                          if len(rows) >= 3 for ci in [mean_ci(rows["difference"])]]
            if over_seeds:
                text += "; over seeds: " + "; ".join(over_seeds)
        text += (". With p < 0.01 on one term and not the other two, and one preferred numerosity across the sets, "
                 "noise passes in under 1% of units.")
    if len(share) > FIGURE_CELLS:
        text += f" The figure draws the first {FIGURE_CELLS} cells; the table has all {len(share)}."
    return text


# ------------------------------------------------------------------ entry point

def run_instruments(cells: list[CellResults], summary: Summary, budget: Budget | InstrumentBudget,
                    device: torch.device) -> None:
    """Run both instruments on the done counting cells and add their tables and figures to ``summary``.

    Args:
        cells: the run's cells (those not done, without a checkpoint or not counting are skipped).
        summary: the analysis ``Summary`` (tables, figures, limitations and missing entries go there).
        budget: the pipeline's cell budget (mapped by ``instrument_budget``) or an ``InstrumentBudget``.
        device: where the models run.
    """
    budget = instrument_budget(budget)
    chosen = [cell for cell in cells if cell.status is CellStatus.DONE and cell.checkpoint is not None
              and cell.is_counting]
    weber_rows, unit_rows, tuning_rows = [], [], []
    cells_of: dict[str, list[str]] = {}  # a limitation -> the cells it applies to
    for cell in progress_iter(chosen, desc="instruments", unit="cell", mode="bar" if sys.stderr.isatty() else "quiet"):
        measures = None
        with summary.step(f"numerosity instruments ({cell.label})"):
            measures = _measure(cell, budget, device, summary.step)
        if measures is None:
            continue
        for sentence in dict.fromkeys(measures.limitations):
            cells_of.setdefault(sentence, []).append(cell.label)
        if measures.weber:
            weber_rows.append({"cell_id": cell.cell_id, "label": cell.label, "configuration": cell.config_label,
                               **measures.weber, "seconds": measures.seconds.get("weber")})
        rows, tuning = _unit_rows(cell, measures)
        unit_rows.extend({**row, "seconds": measures.seconds.get("units")} for row in rows)
        tuning_rows.extend(tuning)
    summary.limitations.extend(f"{sentence} (cells: {', '.join(labels)})" for sentence, labels in cells_of.items())
    _write(summary, pd.DataFrame(weber_rows), pd.DataFrame(unit_rows), pd.DataFrame(tuning_rows))


def _write(summary: Summary, weber: pd.DataFrame, units: pd.DataFrame, tuning: pd.DataFrame) -> None:
    """The instruments' tables, figures and standing limitations."""
    if not weber.empty:
        summary.table(weber, "numerosity_weber", "Weber fraction and feature weights (DeWind model)", SECTION,
                      display=_weber_display(weber))
        summary.figure(lambda: weber_figure(weber), "numerosity_weber",
                       "Numerosity discrimination: Weber fraction w and angle to the number axis",
                       lambda: _weber_takeaway(weber), SECTION)
        summary.limitations.append(
            "A network is deterministic: its Weber fraction measures how its estimate varies across different "
            "scenes of the same count, not trial-to-trial noise as in a human observer; the human band "
            f"{HUMAN_ADULT_W[0]}-{HUMAN_ADULT_W[1]} is a reference measured with other stimuli on arrays beyond the "
            f"subitizing range and {HUMAN_ADULT_MODEL}, so it is drawn only beside count ranges mostly above 4. A w "
            "below the design's resolution bound is printed as the bound: the pairs cannot tell it from any smaller "
            "value.")
    if not units.empty:
        summary.table(units, "numerosity_units", "Number-selective units, trained vs random weights", SECTION,
                      display=_units_display(units))
        summary.table(tuning, "numerosity_tuning", "Mean normalised tuning curves per preferred numerosity",
                      "appendix", display=tuning.head(0))  # the figure's data: CSV only
        summary.figure(lambda: units_figure(tuning), "numerosity_units",
                       "Number-selective units: preferred numerosities and tuning, trained vs random weights",
                       lambda: _units_takeaway(units), SECTION)
