"""Does the network count, or read off size and spacing? DeWind regression and Weber ratios.

On a DeWind-controlled test set (``synth.numerosity``: log N, log Size and
log Spacing drawn independently), regress the log of the predicted count
(the softmax-expected count, which moves continuously) on the three axes:

    log pred = b0 + bN log N + bSize log Size + bSpacing log Spacing

A pure counter has bN = 1 and bSize = bSpacing = 0; a network that reads
total ink would put weight on Size (Size = ISA x TSA carries TSA).
Intervals are percentile bootstraps over images. Weights are also reported
standardised (beta x SD of the regressor: the change of the log prediction
per SD of that axis), since the axes span different ranges, and the regression
is fitted twice: on the training distribution (the i.i.d. test scenes) and on
DeWind stimuli. ``regression_caveats`` says where a fit cannot inform.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from analysis.stats import bootstrap_ci
from study.spec import TrainSpec
from study.tasks import rendered_scene_spec
from synth.numerosity import describe_scene
from synth.scenes import InfeasibleSceneError, Scene, sample_scenes

__all__ = ["dewind_scenes", "confound_regression", "scene_axes", "size_to_n_ratio", "regression_caveats",
           "weber_table"]

TERMS = ("intercept", "log_n", "log_size", "log_spacing")


def dewind_scenes(spec: dict[str, Any], n: int, seed: int = 12345) -> list[Scene]:
    """A DeWind test set for a counting cell: its count range and image size, radii around its radius.

    The scenes are drawn on the images' canvas (``study.tasks.rendered_scene_spec``: the
    cell's scenes scaled to ``size`` when ``scene_size`` is set), so the model sees
    them as it saw its own.

    The radius range is 0.6-1.4x the cell's radius (``dewind_ranges`` with a
    fixed radius); when the densest count cannot be packed the radius is
    shrunk by 15% and retried (up to 4 times).

    Args:
        spec: the cell's TrainSpec dict.
        n: number of scenes.

    Raises:
        InfeasibleSceneError: no radius packs the range.
    """
    base = rendered_scene_spec(TrainSpec.from_record(spec))
    radius = base.packing_radius
    error: Exception | None = None
    for _ in range(5):
        controlled = dataclasses.replace(base, control="dewind", radius=radius, radius_range=None)
        try:
            return sample_scenes(controlled, n, seed=seed, timeout_s=20.0)
        except InfeasibleSceneError as caught:
            error, radius = caught, radius * 0.85
    raise InfeasibleSceneError(f"dewind test set for counts {spec.get('counts')}: {error}")


def scene_axes(scenes: list[Scene]) -> pd.DataFrame:
    """log N, log Size, log Spacing (DeWind) of each scene: ``[N, 3]`` as a DataFrame."""
    described = [describe_scene(scene) for scene in scenes]
    return pd.DataFrame({
        "log_n": np.log([d["count"] for d in described]),
        "log_size": np.log([d["size"] for d in described]),
        "log_spacing": np.log([d["spacing"] for d in described]),
    })


def confound_regression(
    log_prediction: np.ndarray, axes: pd.DataFrame, n_boot: int = 300, seed: int = 0
) -> pd.DataFrame:
    """Least squares of the log prediction on log N, log Size, log Spacing, with bootstrap CIs.

    Args:
        log_prediction: ``[N]`` log of the predicted (expected) count.
        axes: ``scene_axes`` of the same scenes (``[N, 3]``).

    Returns:
        one row per term: ``term``, ``coef``, ``ci_low``, ``ci_high``, ``n``,
        and ``r2`` (of the full fit, repeated on each row).
    """
    design = np.column_stack([np.ones(len(axes)), axes[["log_n", "log_size", "log_spacing"]].to_numpy()])  # [N, 4]
    target = np.asarray(log_prediction, dtype=float)

    def fit(rows: np.ndarray) -> np.ndarray:
        return np.linalg.lstsq(design[rows], target[rows], rcond=None)[0]  # [4]

    coef = fit(np.arange(len(target)))
    low, high = bootstrap_ci(fit, len(target), n_boot=n_boot, seed=seed)
    residual = target - design @ coef
    r2 = 1 - residual.var() / target.var() if target.var() > 0 else np.nan
    sd = np.concatenate([[0.0], design[:, 1:].std(0, ddof=1)]) if len(target) > 1 else np.zeros(4)  # [4]
    return pd.DataFrame({"term": TERMS, "coef": coef, "ci_low": low, "ci_high": high, "sd": sd,
                         "std_coef": coef * sd, "std_low": low * sd, "std_high": high * sd,
                         "n": len(target), "r2": r2})


def size_to_n_ratio(table: pd.DataFrame) -> float:
    """|standardised Size weight| / |standardised N weight| of one fit (NaN when the N weight is 0)."""
    rows = table.set_index("term")
    n_weight = abs(float(rows.loc["log_n", "std_coef"]))
    return abs(float(rows.loc["log_size", "std_coef"])) / n_weight if n_weight > 0 else float("nan")


def regression_caveats(axes: pd.DataFrame, count_range: tuple[int, int], fit: str) -> list[str]:
    """Why a confound regression on these scenes cannot inform, as sentences (empty when it can).

    Args:
        axes: ``scene_axes`` of the scenes the regression was fitted on.
        count_range: the cell's inclusive class range (the classifier's output is bounded to it).
        fit: the name of the fit (``training distribution`` or ``DeWind``), used in the sentences.
    """
    notes = []
    lo, hi = count_range
    sd_n = float(axes["log_n"].std(ddof=1)) if len(axes) > 1 else 0.0
    if sd_n < 0.1:
        notes.append(f"The {fit} fit for counts {lo}-{hi}: SD(log N) is {sd_n:.3f}, so the N weight rests on a "
                     f"narrow range, and the classifier's output is bounded to [{lo}, {hi}], so no weight can "
                     "show a counter's slope of 1 outside it.")
    correlation = np.array(axes[["log_n", "log_size", "log_spacing"]].corr().abs(), dtype=float)  # a writable copy
    np.fill_diagonal(correlation, 0)
    if len(axes) > 2 and np.nanmax(correlation) > 0.95:
        notes.append(f"The {fit} fit for counts {lo}-{hi}: the regressors are collinear (|r| = "
                     f"{np.nanmax(correlation):.2f}; one radius makes Size proportional to N), so the weights "
                     "cannot separate number from size there.")
    return notes


def weber_table(per_class_accuracy: dict[str, float], per_class_n: dict[str, int] | None = None) -> pd.DataFrame:
    """Accuracy per count beside the ratio to the next count, (N + 1) / N.

    Weber's law predicts discrimination falls as that ratio approaches 1, so
    1-5 (ratios 2 to 1.2) should be easy and 45-50 (about 1.02) hard.

    Returns:
        rows ``count``, ``ratio``, ``accuracy``, ``n``.
    """
    rows = []
    for name, accuracy in per_class_accuracy.items():
        count = int(name)
        rows.append({"count": count, "ratio": (count + 1) / count, "accuracy": accuracy,
                     "n": (per_class_n or {}).get(name, np.nan)})
    return pd.DataFrame(rows)
