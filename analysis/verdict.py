"""Page 1's verdicts: does each configuration count, read ink, or neither? One rule, stated and tested.

Per counting configuration, ``verdict_rows`` gathers the evidence (i.i.d. and
controlled accuracy with intervals against chance, bSize/bN of the DeWind fit
from ``analysis.confounds.size_to_n_ratio``, whether the controlled radii lie
inside the training radii from ``radius_coverage``, the i.i.d.-minus-controlled
gap from ``accuracy_gap``) and ``decide`` applies the rule. docs/ANALYSIS.md
("Verdicts (page 1)", "Radius coverage") states the rule and why its
thresholds sit where they do.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from analysis.confounds import SizeRatio, size_to_n_ratio
from analysis.rundata import CellResults
from kit.intervals import MIN_SEEDS_FOR_T, T_OVER_SEEDS, mean_ci, wilson_ci
from study.run.runfolder import CellStatus
from study.config.spec import TrainSpec
from study.config.scenes import dewind_scene_recipe, scene_recipe

__all__ = ["COUNTER_BAND", "INK_FROM", "APPROXIMATE_BELOW", "RadiusCoverage", "radius_coverage", "Evidence",
           "Verdict", "decide", "accuracy_gap", "verdict_rows", "verdict_display", "NEWCOMBE_OVER_IMAGES"]

COUNTER_BAND = 0.25  # |bSize/bN| below this: Size moves the prediction < 1/4 as much as an ink reader's
INK_FROM = 0.5  # bSize/bN above this: closer to an ink reader (1) than to a counter (0)
APPROXIMATE_BELOW = 0.5  # controlled accuracy under this: follows N, but most answers miss the class
NEWCOMBE_OVER_IMAGES = "Newcombe over images"


@dataclasses.dataclass(frozen=True)
class RadiusCoverage:
    """The circle radii a counting cell trained on and those of its controlled test set (scene px).

    Attributes:
        training: (smallest, largest) training radius; one value twice for a fixed radius.
        controlled: (smallest, largest) radius of the DeWind set.
        covered: whether the controlled radii lie inside the training radii.
    """

    training: tuple[float, float]
    controlled: tuple[float, float]
    covered: bool


def radius_coverage(spec: dict[str, Any]) -> RadiusCoverage | None:
    """Whether a counting cell's controlled set draws only radii it trained on (None when it has no such set).

    Training radii come from ``study.config.scenes.scene_recipe`` (one radius for
    ``sizes = fixed``, its ``radius_range`` for varied and dewind), the
    controlled ones from ``study.config.scenes.dewind_scene_recipe``.
    """
    try:
        train = TrainSpec.from_dict(spec)
        training = scene_recipe(train)
        controlled = dewind_scene_recipe(train, training)
    except Exception:  # noqa: BLE001 - not a counting cell, or no controlled set can be drawn for it
        return None
    train_range = training.radius_range or (training.radius, training.radius)
    test_range = controlled.radius_range or (controlled.radius, controlled.radius)
    covered = train_range[0] <= test_range[0] + 1e-9 and test_range[1] <= train_range[1] + 1e-9
    return RadiusCoverage(tuple(map(float, train_range)), tuple(map(float, test_range)), covered)


@dataclasses.dataclass(frozen=True)
class Evidence:
    """What the rule sees for one configuration.

    Attributes:
        iid, controlled: ``Estimate.to_dict()`` of the two test sets (None when absent).
        chance: 1 / number of classes.
        ratio: bSize/bN of the DeWind fit (None when there is no fit).
        covered: whether the training radii cover the controlled ones (None: unknown).
    """

    iid: dict[str, Any] | None
    controlled: dict[str, Any] | None
    chance: float
    ratio: SizeRatio | None
    covered: bool | None


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The rule's answer: ``word`` (the verdict) and ``why`` (one sentence of the evidence it used)."""

    word: str
    why: str


def _above(estimate: dict[str, Any] | None, chance: float) -> bool:
    return bool(estimate) and estimate["low"] is not None and float(estimate["low"]) > chance


def decide(evidence: Evidence) -> Verdict:
    """The verdict of one configuration, by the first rule that applies (docs/ANALYSIS.md says why).

    1. i.i.d. accuracy's interval reaches chance: "neither: chance".
    2. No DeWind fit: "undetermined: no DeWind fit".
    3. bN's interval reaches 0: "neither: chance on controlled images" if the controlled accuracy's
       interval reaches chance too, else "undetermined: no number signal".
    4. bSize/bN's interval within ±``COUNTER_BAND``: "counts" ("counts, approximately" under
       ``APPROXIMATE_BELOW`` controlled accuracy).
    5. bSize/bN's interval above ``INK_FROM``: "reads ink", or "ink or size generalisation:
       unresolved" when the training radii do not cover the controlled ones.
    6. Otherwise "partial: weighs Size beside N".

    Rules 3 and 6 add "size generalisation unresolved" on a cell whose training radii do not cover the
    controlled ones; such a cell is never called "reads ink".
    """
    chance, ratio = evidence.chance, evidence.ratio
    unseen = evidence.covered is False
    caveat = "; size generalisation unresolved" if unseen else ""
    if not evidence.iid:
        return Verdict("not scored", "no i.i.d. test accuracy")
    if not _above(evidence.iid, chance):
        return Verdict("neither: chance", f"i.i.d. accuracy's interval reaches chance ({chance:.2f})")
    if ratio is None:
        return Verdict("undetermined: no DeWind fit", "no controlled predictions to fit")
    if not ratio.resolved:
        if not _above(evidence.controlled, chance):
            return Verdict("neither: chance on controlled images" + caveat,
                           "bN's interval reaches 0 and the controlled accuracy's reaches chance")
        return Verdict("undetermined: no number signal" + caveat, "bN's interval reaches 0")
    if -COUNTER_BAND <= ratio.low and ratio.high <= COUNTER_BAND:
        approximate = not evidence.controlled or float(evidence.controlled["mean"]) < APPROXIMATE_BELOW
        where = " (on radii it never trained on)" if unseen else ""
        return Verdict("counts, approximately" if approximate else "counts",
                       f"bSize/bN's interval lies within ±{COUNTER_BAND}{where}")
    if ratio.low > INK_FROM:
        if unseen:
            return Verdict("ink or size generalisation: unresolved",
                           f"bSize/bN's interval lies above {INK_FROM}, but the controlled radii were never trained on")
        return Verdict("reads ink", f"bSize/bN's interval lies above {INK_FROM}")
    return Verdict("partial: weighs Size beside N" + caveat,
                   f"bSize/bN's interval reaches past ±{COUNTER_BAND} but not wholly above {INK_FROM}")


def accuracy_gap(pairs: list[tuple[tuple[int, int], tuple[int, int]]], confidence: float = 0.95) -> dict[str, Any] | None:
    """i.i.d. minus controlled accuracy of one configuration, paired over its seeds.

    With >= ``MIN_SEEDS_FOR_T`` seeds: the mean of the per-seed differences
    with a t interval over seeds. With fewer: the pooled difference with
    Newcombe's hybrid score interval (from the two Wilson intervals), which
    leaves seed-to-seed variation out (``method`` says so).

    Args:
        pairs: per seed, ((correct, images) on the i.i.d. test, (correct, images) on the controlled one).

    Returns:
        ``mean``, ``low``, ``high``, ``method``, ``n_seeds``, ``n_images`` (both sets), or None.
    """
    pairs = [(a, b) for a, b in pairs if a[1] and b[1]]
    if not pairs:
        return None
    n_images = int(sum(a[1] + b[1] for a, b in pairs))
    if len(pairs) >= MIN_SEEDS_FOR_T:
        ci = mean_ci([a[0] / a[1] - b[0] / b[1] for a, b in pairs], confidence)
        return {"mean": ci["mean"], "low": ci["ci_low"], "high": ci["ci_high"], "method": T_OVER_SEEDS,
                "n_seeds": len(pairs), "n_images": n_images}
    k1, n1 = sum(a[0] for a, _ in pairs), sum(a[1] for a, _ in pairs)
    k2, n2 = sum(b[0] for _, b in pairs), sum(b[1] for _, b in pairs)
    p1, p2 = k1 / n1, k2 / n2
    (l1, u1), (l2, u2) = wilson_ci(k1, n1, confidence), wilson_ci(k2, n2, confidence)
    difference = p1 - p2
    return {"mean": difference, "low": difference - float(np.hypot(p1 - l1, u2 - p2)),
            "high": difference + float(np.hypot(u1 - p1, p2 - l2)), "method": NEWCOMBE_OVER_IMAGES,
            "n_seeds": len(pairs), "n_images": n_images}


def _chance(cell: CellResults) -> float | None:
    if cell.count_range is None:
        return None
    lo, hi = cell.count_range
    return 1.0 / (hi - lo + 1)


def _held_out(heads: pd.DataFrame | None, label: str) -> dict[str, Any] | None:
    """The configuration's mean absolute error on counts held out of training, when the run has it."""
    if heads is None or heads.empty or "split" not in heads:
        return None
    rows = heads[(heads["split"] == "test_held_out") & (heads["configuration"] == label)].dropna(subset=["mae"])
    if rows.empty:
        return None
    row = rows.iloc[0]
    return {"mean": float(row["mae"]), "low": float(row["mae_low"]), "high": float(row["mae_high"]),
            "method": str(row["mae_method"]), "n_images": int(row["n"])}


def verdict_rows(cells: list[CellResults], configurations: list[dict[str, Any]], images: pd.DataFrame | None,
                 heads: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """One verdict per counting configuration, with the evidence behind it.

    Args:
        cells: every cell of the run.
        configurations: ``analysis.tables.configurations``.
        images: the DeWind fit rows of the analysed cells (``confound_images``: ``cell_id`` and
            ``analysis.confounds.fit_images`` columns), or None.
        heads: ``analysis.numerosity`` heads table (held-out counts), or None.

    Returns:
        dicts with ``configuration``, ``counts``, ``sizes``, ``aug``, ``verdict``, ``why``, ``iid``,
        ``controlled``, ``gap`` (i.i.d. minus controlled, paired over seeds), ``gap_reads`` ("size
        generalisation" on uncovered cells, else "cue control"), ``ratio`` (``SizeRatio.to_dict()``
        or None), ``covered``, ``training_radii``, ``controlled_radii``, ``held_out``, ``n_seeds``.
    """
    by_id = {cell.cell_id: cell for cell in cells if cell.status is CellStatus.DONE}
    rows = []
    for config in configurations:
        members = [by_id[cell_id] for cell_id in config["cells"] if cell_id in by_id]
        counting = [cell for cell in members if cell.is_counting and _chance(cell) is not None]
        if not counting:
            continue
        first = counting[0]
        coverage = radius_coverage(first.settings)
        ratio = None
        if images is not None and not images.empty:
            ratio = size_to_n_ratio(images[images["cell_id"].isin([cell.cell_id for cell in counting])])
        evidence = Evidence(config["accuracy"], config["dewind_accuracy"], _chance(first), ratio,
                            coverage.covered if coverage else None)
        verdict = decide(evidence)
        rows.append({
            "configuration": config["label"], "counts": first.settings.get("counts"),
            "sizes": first.settings.get("sizes", "fixed"), "aug": first.settings.get("aug"),
            "verdict": verdict.word, "why": verdict.why, "chance": evidence.chance,
            "iid": config["accuracy"], "controlled": config["dewind_accuracy"],
            "gap": accuracy_gap([(tuple(a), tuple(b)) for a, b in config.get("seed_hits") or [] if a and b]),
            "gap_reads": "size generalisation" if coverage and not coverage.covered else "cue control",
            "ratio": ratio.to_dict() if ratio else None,
            "covered": coverage.covered if coverage else None,
            "training_radii": list(coverage.training) if coverage else None,
            "controlled_radii": list(coverage.controlled) if coverage else None,
            "held_out": _held_out(heads, config["label"]), "n_seeds": len(counting),
        })
    return rows


def _interval(estimate: dict[str, Any] | None, digits: int = 2) -> str:
    if not estimate or estimate.get("mean") is None:
        return "n/a"
    low, high = estimate.get("low"), estimate.get("high")
    bounds = (f" [{low:.{digits}f}, {high:.{digits}f}]" if low is not None and high is not None
              and np.isfinite(low) and np.isfinite(high) else "")
    return f"{estimate['mean']:.{digits}f}{bounds}"


def _ratio_text(ratio: dict[str, Any] | None) -> str:
    if not ratio:
        return "n/a (no DeWind fit)"
    if not ratio["resolved"]:
        return f"no number signal (bN {ratio['b_n']:.2f} [{ratio['b_n_low']:.2f}, {ratio['b_n_high']:.2f}])"
    return f"{ratio['ratio']:.2f} [{ratio['low']:.2f}, {ratio['high']:.2f}]"


def verdict_display(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The page-1 table: configuration and verdict first, then the numbers behind the verdict."""
    shown = []
    for row in rows:
        gap = row["gap"]
        gap_text = (_interval(gap, 2) + f" ({row['gap_reads']}; {gap['method']}, {gap['n_seeds']} seed"
                    f"{'s' if gap['n_seeds'] != 1 else ''})") if gap else "n/a"
        entry = {"Configuration": row["configuration"], "Verdict": row["verdict"],
                 "i.i.d. accuracy": _interval(row["iid"]), "Controlled accuracy": _interval(row["controlled"]),
                 "i.i.d. - controlled": gap_text, "bSize/bN (0 counter, 1 ink)": _ratio_text(row["ratio"]),
                 "Chance": f"{row['chance']:.2f}", "Seeds": row["n_seeds"]}
        if any(r["held_out"] for r in rows):
            entry["Held-out MAE"] = _interval(row["held_out"])
        shown.append(entry)
    return pd.DataFrame(shown)
