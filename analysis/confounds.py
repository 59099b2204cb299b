"""Does the network count, or read off DeWind's Size and Spacing? The DeWind regression and its bSize/bN ratio.

On a DeWind-controlled test set (``synth.numerosity``: log N, log Size and
log Spacing drawn independently, Size = ISA x TSA, Spacing = FA x Sparsity),
regress the log of the predicted count (the softmax-expected count, which
moves continuously) on the three axes:

    log pred = b0 + bN log N + bSize log Size + bSpacing log Spacing

The headline is the raw ratio bSize / bN. Total surface area is
TSA = sqrt(N x Size), so a network that reads ink (log pred = c + log TSA)
has bN = bSize = 0.5 and a ratio of 1; a counter has bSize = 0 and a ratio
of 0. The raw weights are used, not standardised ones: multiplying by the
regressors' SDs would rescale the ratio by SD(log Size) / SD(log N), which
depends on the count range (an exact ink reader would score 1.42 on 1-5 and
12.1 on 45-50 at 64 px), not on the network.

The fit is made on the DeWind set only. On the training distribution of a
fixed-radius cell log Size = 2 log N + const, so least squares there splits
the weight between N and Size arbitrarily.

Intervals are percentile bootstraps: over images within each seed, and over
seeds as well when a configuration has enough of them (``size_to_n_ratio``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from kit.intervals import MIN_SEEDS_FOR_T, bootstrap_ci
from study.config.spec import TrainSpec
from study.config.scenes import dewind_scene_recipe, rendered_scene_recipe
from synth.numerosity import describe_scene
from synth.sampling import sample_scenes
from synth.scenes import InfeasibleSceneError, Scene

__all__ = ["dewind_scenes", "confound_regression", "scene_axes", "fit_images", "SizeRatio", "size_to_n_ratio",
           "regression_caveats", "weber_table", "AXES", "SEEDS_AND_IMAGES", "IMAGES_WITHIN_SEEDS"]

TERMS = ("intercept", "log_n", "log_size", "log_spacing")
AXES = ("log_n", "log_size", "log_spacing")
SEEDS_AND_IMAGES = "bootstrap over seeds and images"
IMAGES_WITHIN_SEEDS = "bootstrap over images"


def dewind_scenes(spec: dict[str, Any], n: int, seed: int = 12345) -> list[Scene]:
    """A DeWind test set for a counting cell drawn as its ``test_dewind`` split is, for cells that recorded none.

    The recipe is ``study.config.scenes.dewind_scene_recipe`` on the images' canvas
    (``rendered_scene_recipe``: the cell's scenes scaled to ``size`` when
    ``scene_size`` is set), so the radii span the same range as a recorded
    controlled set, ``[0.5 r, 1.5 r]`` around the cell's radius.

    Args:
        spec: the cell's TrainSpec dict.
        n: number of scenes.

    Raises:
        InfeasibleSceneError: the range cannot be packed or held independent of Size at this radius.
    """
    train = TrainSpec.from_dict(spec)
    base = rendered_scene_recipe(train)
    try:
        controlled = dewind_scene_recipe(train, base)
    except Exception as error:  # ConfigError: say which cell's set could not be built
        raise InfeasibleSceneError(f"dewind test set for counts {spec.get('counts')}: {error}") from None
    return sample_scenes(controlled, n, seed=seed, timeout_s=max(20.0, 0.05 * n))


def scene_axes(scenes: list[Scene]) -> pd.DataFrame:
    """log N, log Size, log Spacing (DeWind) of each scene: ``[N, 3]`` as a DataFrame."""
    described = [describe_scene(scene) for scene in scenes]
    return pd.DataFrame({
        "log_n": np.log([d["count"] for d in described]),
        "log_size": np.log([d["size"] for d in described]),
        "log_spacing": np.log([d["spacing"] for d in described]),
    })


def fit_images(scenes: list[Scene], expected_count: np.ndarray) -> pd.DataFrame:
    """The rows a DeWind fit is made from: per image, ``log_prediction`` beside ``scene_axes``.

    Args:
        scenes: the DeWind scenes, ``[N]``.
        expected_count: ``[N]`` the model's expected (continuous) count for each.
    """
    return scene_axes(scenes).assign(log_prediction=np.log(np.maximum(np.asarray(expected_count, float), 1e-6)))


def _coefficients(target: np.ndarray, design: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(design, target, rcond=None)[0]  # [4]


def _design(axes: pd.DataFrame) -> np.ndarray:
    return np.column_stack([np.ones(len(axes)), axes[list(AXES)].to_numpy(dtype=float)])  # [N, 4]


def confound_regression(
    log_prediction: np.ndarray, axes: pd.DataFrame, n_boot: int = 300, seed: int = 0
) -> pd.DataFrame:
    """Least squares of the log prediction on log N, log Size, log Spacing, with bootstrap CIs over images.

    Args:
        log_prediction: ``[N]`` log of the predicted (expected) count.
        axes: ``scene_axes`` of the same scenes (``[N, 3]``).

    Returns:
        one row per term: ``term``, ``coef`` (raw weight), ``ci_low``, ``ci_high``,
        ``n``, and ``r2`` (of the full fit, repeated on each row).
    """
    design = _design(axes)
    target = np.asarray(log_prediction, dtype=float)
    coef = _coefficients(target, design)
    low, high = bootstrap_ci(lambda rows: _coefficients(target[rows], design[rows]), len(target), n_boot=n_boot,
                             seed=seed)
    residual = target - design @ coef
    r2 = 1 - residual.var() / target.var() if target.var() > 0 else np.nan
    return pd.DataFrame({"term": TERMS, "coef": coef, "ci_low": low, "ci_high": high, "n": len(target), "r2": r2})


@dataclasses.dataclass(frozen=True)
class SizeRatio:
    """bSize / bN of one configuration's DeWind fit, pooled over its seeds.

    Attributes:
        b_n, b_size: the weights (mean of the per-seed fits), each with a 95% interval.
        ratio: b_size / b_n, or NaN when ``resolved`` is False; low, high: its interval.
        resolved: whether b_n's interval lies above 0 (the prediction follows N at all);
            without that the ratio divides by noise and is not reported.
        method: how the intervals were drawn; n_seeds, n_images: what was resampled.
    """

    b_n: float
    b_n_low: float
    b_n_high: float
    b_size: float
    b_size_low: float
    b_size_high: float
    ratio: float
    low: float
    high: float
    resolved: bool
    method: str
    n_seeds: int
    n_images: int

    def text(self) -> str:
        """``0.04 (95% CI -0.02 to 0.10, ...)`` or the bound on bN when the ratio cannot be formed."""
        where = (f"{self.method}, {self.n_seeds} seed{'s' if self.n_seeds != 1 else ''}, "
                 f"n={self.n_images} images")
        if not self.resolved:
            return (f"no number signal: b_N {self.b_n:.2f} (95% CI {self.b_n_low:.2f} to {self.b_n_high:.2f}, "
                    f"{where})")
        return f"{self.ratio:.2f} (95% CI {self.low:.2f} to {self.high:.2f}, {where})"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def size_to_n_ratio(images: pd.DataFrame, n_boot: int = 1000, seed: int = 0,
                    confidence: float = 0.95) -> SizeRatio | None:
    """bSize / bN of a configuration, from the DeWind fit images of its seeds.

    Each seed's model is fitted on its own images; the configuration's bN and
    bSize are the means of the per-seed weights (a seed's offset does not
    leak into another's slope). The interval resamples images within each seed
    and, with at least ``MIN_SEEDS_FOR_T`` seeds, the seeds themselves first,
    so seed-to-seed variation is in it; with fewer seeds it is over images only
    (``method`` says which).

    Args:
        images: ``fit_images`` rows with a ``cell_id`` column naming the seed's cell.

    Returns:
        the ratio, or None when there are no images.
    """
    groups = [group for _, group in images.groupby("cell_id", sort=True) if len(group) > len(TERMS)]
    if not groups:
        return None
    designs = [_design(group) for group in groups]
    targets = [group["log_prediction"].to_numpy(dtype=float) for group in groups]

    def weights(picks: list[tuple[int, np.ndarray]]) -> np.ndarray:
        fits = np.stack([_coefficients(targets[s][rows], designs[s][rows]) for s, rows in picks])  # [S, 4]
        return fits.mean(0)[1:3]  # [bN, bSize]

    rng = np.random.default_rng(seed)
    over_seeds = len(groups) >= MIN_SEEDS_FOR_T
    draws = []
    for _ in range(n_boot):
        chosen = rng.integers(0, len(groups), len(groups)) if over_seeds else np.arange(len(groups))
        draws.append(weights([(s, rng.integers(0, len(targets[s]), len(targets[s]))) for s in chosen]))
    draws = np.array(draws)  # [n_boot, 2]
    alpha = (1 - confidence) / 2
    b_n, b_size = weights([(s, np.arange(len(t))) for s, t in enumerate(targets)])
    (n_low, size_low), (n_high, size_high) = np.quantile(draws, [alpha, 1 - alpha], axis=0)
    resolved = bool(n_low > 0)
    ratio, low, high = np.nan, np.nan, np.nan
    if resolved:
        ratios = draws[:, 1] / draws[:, 0]
        ratio = b_size / b_n
        low, high = np.quantile(ratios[np.isfinite(ratios)], [alpha, 1 - alpha])
    return SizeRatio(float(b_n), float(n_low), float(n_high), float(b_size), float(size_low), float(size_high),
                     float(ratio), float(low), float(high), resolved,
                     SEEDS_AND_IMAGES if over_seeds else IMAGES_WITHIN_SEEDS, len(groups),
                     int(sum(len(t) for t in targets)))


def regression_caveats(axes: pd.DataFrame, count_range: tuple[int, int]) -> list[str]:
    """Why a DeWind regression on these scenes cannot inform, as sentences (empty when it can).

    Args:
        axes: ``scene_axes`` of the scenes the regression was fitted on.
        count_range: the cell's inclusive class range (the classifier's output is bounded to it).
    """
    notes = []
    lo, hi = count_range
    sd_n = float(axes["log_n"].std(ddof=1)) if len(axes) > 1 else 0.0
    if sd_n < 0.1:
        notes.append(f"The DeWind fit for counts {lo}-{hi}: SD(log N) is {sd_n:.3f}, so bN rests on a narrow range "
                     f"and the classifier's output is bounded to [{lo}, {hi}]; its interval, not its value, says "
                     "whether the prediction follows N.")
    correlation = np.array(axes[list(AXES)].corr().abs(), dtype=float)  # a writable copy
    np.fill_diagonal(correlation, 0)
    if len(axes) > 2 and np.nanmax(correlation) > 0.95:
        notes.append(f"The DeWind fit for counts {lo}-{hi}: the regressors are collinear (|r| = "
                     f"{np.nanmax(correlation):.2f}), so the weights cannot separate number from size there.")
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
