"""Numerosity discrimination as a psychophysicist measures it: the DeWind et al. (2015) model, fitted to a network.

``weber_experiment`` shows a predictor DeWind-controlled scenes, pairs images of
different counts, takes the larger estimate as the choice and fits the probit
model ``P(choose 1) = Phi(c_N x_N + c_size x_size + c_spacing x_spacing)``
(no intercept, no lapse; natural logs), giving the Weber fraction ``w`` and the
weights ``b_size``, ``b_spacing`` with an image bootstrap. ``resolution_bound``
says how small a ``w`` the pairs can resolve; ``HUMAN_ADULT_W`` is the human
reference band. docs/INSTRUMENTS.md, section 1, gives the model, the bounds and
flags, the intervals and the references.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy import optimize, special
from threadpoolctl import threadpool_limits

from synth.numerosity import describe_scene, sample_dewind_scenes
from synth.render import render_scenes
from synth.scenes import Scene, SceneRecipe

__all__ = ["W_FLOOR", "W_CEILING", "HUMAN_ADULT_W", "HUMAN_ADULT_SOURCES", "HUMAN_ADULT_MODEL", "SUBITIZING_MAX",
           "RESOLUTION_CONFIDENCE", "DiscriminationFit", "pair_features", "choose", "fit_discrimination",
           "discrimination_axis_angle", "resolution_bound", "human_band_applies", "scene_log_axes", "make_pairs",
           "weber_text", "weber_experiment"]

W_FLOOR = 1e-3  # smallest w the fit reports: a separable (perfect) observer stops here
W_CEILING = 1e3  # largest w: an observer with no (or reversed) number sense stops here
B_LIMIT = 50.0  # |b_size|, |b_spacing| bound: keeps separable fits finite in every direction
HUMAN_ADULT_W = (0.11, 0.17)
HUMAN_ADULT_SOURCES = (
    "Halberda & Feigenson (2008), Developmental Psychology 44(5):1457-1465: adults w ~ 0.11",
    "Piazza, Izard, Pinel, Le Bihan & Dehaene (2004), Neuron 44(3):547-555: adults w ~ 0.17",
)
# What the human values are, in words for tables, figures and text: not fits of the DeWind model.
HUMAN_ADULT_MODEL = ("fitted with a scalar-variability (Halberda & Feigenson) or log-Gaussian (Piazza et al.) "
                     "model of number alone, not the DeWind model")
SUBITIZING_MAX = 4  # counts up to here are subitized by people: the human Weber band does not describe them
RESOLUTION_CONFIDENCE = 0.95  # the resolution bound: w at which the design shows >= 1 error with this probability
RESOLUTION_DRAWS = 2000  # simulated observers behind the bound


@dataclasses.dataclass(frozen=True)
class DiscriminationFit:
    """The DeWind model fitted to pairwise choices.

    Attributes:
        w: Weber fraction (SD of the internal log magnitude); ``w_ci`` its 95% bootstrap interval.
        b_size, b_spacing: weights of log Size and log Spacing relative to log N; ``*_ci`` intervals.
        theta: angle in degrees between the number axis and the discrimination vector; ``theta_ci``.
        n_pairs: pairs fitted; tie_fraction: share of pairs whose two estimates were equal.
        at_floor: w stopped at ``W_FLOOR`` (choices separable: w is only bounded above);
            at_ceiling: w stopped at ``W_CEILING`` (no number sensitivity in the choices; b and theta NaN).
        accuracy: share of pairs where the choice picked the more numerous array (ties count 0.5).
        n_boot: bootstrap refits behind the intervals.
        w_resolution: the smallest w these pairs resolve (``resolution_bound``).
        below_resolution: the fit is no measurement: w < ``w_resolution`` or no pair was ordered wrongly
            (separable choices); report "below resolution (w < w_resolution)", never ``w``.
    """

    w: float
    w_ci: tuple[float, float]
    b_size: float
    b_size_ci: tuple[float, float]
    b_spacing: float
    b_spacing_ci: tuple[float, float]
    theta: float
    theta_ci: tuple[float, float]
    n_pairs: int
    tie_fraction: float
    at_floor: bool
    at_ceiling: bool
    accuracy: float
    n_boot: int
    w_resolution: float = float("nan")
    below_resolution: bool = False

    def row(self) -> dict[str, Any]:
        """The fit as one flat table row."""
        row: dict[str, Any] = {}
        for name in ("w", "b_size", "b_spacing", "theta"):
            low, high = getattr(self, f"{name}_ci")
            row.update({name: getattr(self, name), f"{name}_low": low, f"{name}_high": high})
        row.update(n_pairs=self.n_pairs, tie_fraction=self.tie_fraction, accuracy=self.accuracy,
                   at_floor=self.at_floor, at_ceiling=self.at_ceiling, n_boot=self.n_boot,
                   w_resolution=self.w_resolution, below_resolution=self.below_resolution)
        return row

    def w_text(self) -> str:
        """How ``w`` may be quoted: ``weber_text`` of this fit."""
        return weber_text(self.w, self.w_ci, self.w_resolution, self.below_resolution, self.at_ceiling)


def weber_text(w: float, w_ci: tuple[float, float], w_resolution: float, below_resolution: bool,
               at_ceiling: bool) -> str:
    """A Weber fraction as it may be printed: the bound when the design cannot resolve it, else w [95% CI].

    Returns:
        ``below resolution (w < 0.072)``, ``no number signal`` (at the ceiling) or ``0.153 [0.140, 0.167]``.
    """
    if at_ceiling:
        return "no number signal"
    if below_resolution:
        return f"below resolution (w < {w_resolution:.2g})"
    return f"{w:.3f} [{w_ci[0]:.3f}, {w_ci[1]:.3f}]"


def human_band_applies(counts: tuple[int, int]) -> bool:
    """Whether the human adult Weber band describes a count range ``(lo, hi)``.

    People subitize up to about ``SUBITIZING_MAX`` items (near-perfect, not Weber-limited), and the
    human values were measured on larger arrays: the band applies only when most counts of the range
    lie beyond the subitizing range (not on 1-5; yes on 1-10 or 45-50).
    """
    lo, hi = int(counts[0]), int(counts[1])
    beyond = max(0, hi - max(lo, SUBITIZING_MAX + 1) + 1)
    return 2 * beyond > hi - lo + 1


def scene_log_axes(scenes: Sequence[Scene]) -> np.ndarray:
    """(log N, log Size, log Spacing) of each scene, natural logs: ``[S, 3]``."""
    described = [describe_scene(scene) for scene in scenes]
    return np.log(np.array([[d["count"], d["size"], d["spacing"]] for d in described], dtype=float))


def pair_features(axes: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Log ratios of each pair: ``axes[first] - axes[second]``.

    Args:
        axes: ``[S, 3]`` (log N, log Size, log Spacing) per stimulus.
        pairs: int ``[P, 2]`` stimulus indices (first, second).

    Returns:
        ``[P, 3]``: log(N1/N2), log(Size1/Size2), log(Spacing1/Spacing2).
    """
    return axes[pairs[:, 0]] - axes[pairs[:, 1]]


def choose(estimates: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """The observer's choice per pair from its estimates: 1 (first more), 0 (second), 0.5 (a tie).

    Args:
        estimates: ``[S]`` one magnitude estimate per stimulus; pairs: int ``[P, 2]``.

    Returns:
        float ``[P]`` in {0, 0.5, 1}. A tie is half a choice each way: the
        likelihood of a coin flip averaged over both outcomes, without a coin.
    """
    first, second = estimates[pairs[:, 0]], estimates[pairs[:, 1]]
    return np.where(first > second, 1.0, np.where(first < second, 0.0, 0.5))


def make_pairs(counts: np.ndarray, n_pairs: int, rng: np.random.Generator) -> np.ndarray:
    """``n_pairs`` random stimulus pairs with different counts (drawn with replacement).

    Args:
        counts: ``[S]`` true count per stimulus.

    Returns:
        int ``[P, 2]``.

    Raises:
        ValueError: fewer than two distinct counts (no pair can differ in N).
    """
    counts = np.asarray(counts)
    if len(np.unique(counts)) < 2:
        raise ValueError(f"pairs need at least two different counts, got only {sorted(set(counts.tolist()))}")
    chosen: list[np.ndarray] = []
    total = 0
    while total < n_pairs:  # rejection: each round keeps the pairs whose counts differ (at least half, usually)
        draw = rng.integers(0, len(counts), size=(2 * (n_pairs - total) + 8, 2))
        draw = draw[counts[draw[:, 0]] != counts[draw[:, 1]]]
        chosen.append(draw)
        total += len(draw)
    return np.concatenate(chosen)[:n_pairs]


def _negative_log_likelihood(c: np.ndarray, features: np.ndarray, choices: np.ndarray) -> tuple[float, np.ndarray]:
    """Probit NLL and gradient; fractional choices (ties) weigh both outcomes."""
    z = features @ c
    log_p, log_q = special.log_ndtr(z), special.log_ndtr(-z)
    nll = -float(np.sum(choices * log_p + (1 - choices) * log_q))
    # d/dz log Phi(z) = phi(z)/Phi(z) = exp(log phi - log Phi): stable in both tails
    log_phi = -0.5 * z**2 - 0.5 * math.log(2 * math.pi)
    dz = -(choices * np.exp(log_phi - log_p) - (1 - choices) * np.exp(log_phi - log_q))
    return nll, features.T @ dz


def _fit_coefficients(features: np.ndarray, choices: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """Maximum-likelihood probit coefficients ``(c_N, c_size, c_spacing)`` in the bounded box.

    The NLL is convex in c, so L-BFGS-B on the box finds the constrained optimum.
    """
    c_max = 1 / (math.sqrt(2) * W_FLOOR)
    c_min = 1 / (math.sqrt(2) * W_CEILING)
    bounds = [(c_min, c_max), (-B_LIMIT * c_max, B_LIMIT * c_max), (-B_LIMIT * c_max, B_LIMIT * c_max)]
    x0 = np.array([1.0, 0.0, 0.0]) if start is None else start
    result = optimize.minimize(_negative_log_likelihood, x0, args=(features, choices), jac=True,
                               method="L-BFGS-B", bounds=bounds, options={"maxiter": 2000})
    c = result.x
    sign = np.where(choices == 1, 1.0, -1.0)
    if np.all(choices != 0.5) and np.all(sign * (features @ c) > 0):
        return c_max * np.array([1.0, *_nearest_separating_weights(features, sign)])
    # Nearly separable choices: the likelihood may still rise along c to the bound; follow it there.
    scale = min(c_max / c[0], B_LIMIT * c_max / max(abs(c[1]), abs(c[2]), 1e-300))
    if scale > 1:
        stretched = c * scale
        if _negative_log_likelihood(stretched, features, choices)[0] <= result.fun:
            return stretched
    return c


def _nearest_separating_weights(features: np.ndarray, sign: np.ndarray) -> np.ndarray:
    """``(b_size, b_spacing)`` of smallest L1 norm whose magnitude ordering reproduces every choice.

    Separable choices leave a cone of directions with infinite likelihood, so
    the maximum-likelihood direction is not unique: any member separates. The
    member nearest the number axis is reported (a perfect counter gets b = 0,
    theta = 0); this linear program finds it, with b = b+ - b-, b+/b- >= 0.
    """
    other = features[:, 1:] * sign[:, None]  # [P, 2]
    # sign (x_N + b . x_other) >= 0  <=>  -(sign x_other) . (b+ - b-) <= sign x_N
    constraints = np.concatenate([-other, other], axis=1)  # [P, 4] over (b+_size, b+_spacing, b-_size, b-_spacing)
    result = optimize.linprog(np.ones(4), A_ub=constraints, b_ub=sign * features[:, 0], bounds=[(0, B_LIMIT)] * 4,
                              method="highs")
    if not result.success:  # cannot happen when the probit direction separates; keep the number axis then
        return np.zeros(2)
    return result.x[:2] - result.x[2:]


def _parameters(c: np.ndarray) -> np.ndarray:
    """``(w, b_size, b_spacing, theta in degrees)`` from probit coefficients.

    At the ceiling (``c_N`` at its floor) the choices carry no number signal
    and the ratios ``c / c_N`` are noise divided by almost nothing: b and theta are NaN.
    """
    w = 1 / (math.sqrt(2) * c[0])
    if w >= W_CEILING * 0.999:
        return np.array([W_CEILING, np.nan, np.nan, np.nan])
    b_size, b_spacing = c[1] / c[0], c[2] / c[0]
    return np.array([w, b_size, b_spacing, discrimination_axis_angle(b_size, b_spacing)])


def discrimination_axis_angle(b_size: float, b_spacing: float) -> float:
    """Angle in degrees between the number axis (1, 0, 0) and the discrimination vector (1, b_size, b_spacing)."""
    return math.degrees(math.acos(1 / math.sqrt(1 + b_size**2 + b_spacing**2)))


def resolution_bound(log_n_ratios: np.ndarray, stimulus_pairs: np.ndarray | None = None,
                     confidence: float = RESOLUTION_CONFIDENCE, draws: int = RESOLUTION_DRAWS, seed: int = 0) -> float:
    """The smallest Weber fraction a set of pairs can resolve.

    Take the model's number-only observer (b = 0) with Weber fraction w: its
    magnitude of an array is ``log N + w z``, z standard normal, one z per
    stimulus (so pairs that share an image share its error, as a network's
    deterministic estimates do) or, without ``stimulus_pairs``, one per array
    of each pair. It orders all the pairs correctly with probability
    ``P(no error | w)``, which falls as w grows. The bound is the w where
    ``P(no error | w) = 1 - confidence``: an observer with a larger w makes at
    least one error with probability above ``confidence``. Choices without an
    error (a separable fit, w -> 0) or a fitted w below the bound therefore
    cannot tell w from any smaller value. With independent pairs this solves
    ``prod_i (1 - Phi(-|log N ratio_i| / (sqrt(2) w))) = 1 - confidence``.

    Solved exactly for ``draws`` simulated observers (seeded): one that draws z
    errs on pair (a, b) iff ``w s > |d|`` with ``d = log N_a - log N_b`` and
    ``s = -sign(d) (z_a - z_b)``, so it makes no error iff ``w < w* = min over
    pairs with s > 0 of |d| / s``; ``P(no error | w) = P(w* > w)`` and the
    bound is the ``confidence`` quantile of ``w*``.

    Args:
        log_n_ratios: ``[P]`` log(N1 / N2) of each pair (non-zero).
        stimulus_pairs: int ``[P, 2]`` the stimuli of each pair, or None (independent arrays).
        confidence: probability of at least one error at the bound; draws, seed: the simulation.

    Returns:
        the bound on the natural-log scale of ``w``, within ``[W_FLOOR, W_CEILING]``.
    """
    d = np.abs(np.asarray(log_n_ratios, dtype=float))  # [P]
    orientation = np.sign(np.asarray(log_n_ratios, dtype=float))
    rng = np.random.default_rng(seed)
    critical = []
    chunk = max(1, 4_000_000 // max(1, len(d)))  # draws per block: bounded memory at any pair count
    for start in range(0, draws, chunk):
        k = min(chunk, draws - start)
        if stimulus_pairs is None:
            s = math.sqrt(2) * rng.standard_normal((k, len(d)))  # [k, P]
        else:
            z = rng.standard_normal((k, int(stimulus_pairs.max()) + 1))  # [k, S]
            s = -orientation * (z[:, stimulus_pairs[:, 0]] - z[:, stimulus_pairs[:, 1]])  # [k, P]
        with np.errstate(divide="ignore"):
            critical.append(np.where(s > 0, d / s, np.inf).min(1))  # [k]
    bound = float(np.quantile(np.concatenate(critical), confidence))
    return float(np.clip(bound, W_FLOOR, W_CEILING))


def _resample(rng: np.random.Generator, n_pairs: int, stimulus_pairs: np.ndarray | None) -> np.ndarray:
    """Pair indices of one bootstrap sample.

    Without ``stimulus_pairs``: pairs drawn with replacement. With them
    (``[P, 2]`` stimulus indices): stimuli drawn with replacement, and each
    pair kept as often as the product of its two stimuli's multiplicities, so
    the interval also covers which images happened to be drawn (pairs that
    share an image are not independent).
    """
    if stimulus_pairs is not None:
        n_stimuli = int(stimulus_pairs.max()) + 1
        multiplicity = np.bincount(rng.integers(0, n_stimuli, n_stimuli), minlength=n_stimuli)
        index = np.repeat(np.arange(n_pairs), multiplicity[stimulus_pairs[:, 0]] * multiplicity[stimulus_pairs[:, 1]])
        if len(index):
            return index
    return rng.integers(0, n_pairs, n_pairs)


def fit_discrimination(features: np.ndarray, choices: np.ndarray, n_boot: int = 200, seed: int = 0,
                       stimulus_pairs: np.ndarray | None = None) -> DiscriminationFit:
    """Fit w, b_size, b_spacing by maximum likelihood, with percentile bootstrap CIs.

    Args:
        features: ``[P, 3]`` log ratios (``pair_features``); choices: ``[P]`` in {0, 0.5, 1} (``choose``).
        n_boot: bootstrap refits (0: intervals equal the estimate).
        seed: the bootstrap's resampling seed.
        stimulus_pairs: int ``[P, 2]`` the stimuli of each pair: the bootstrap then resamples stimuli
            (``_resample``); None resamples pairs (right when every pair has fresh stimuli or noise).

    Returns:
        a ``DiscriminationFit``.

    Raises:
        ValueError: shapes disagree, no pairs, or a pair with equal counts (log N ratio 0).
    """
    features, choices = np.asarray(features, dtype=float), np.asarray(choices, dtype=float)
    if features.ndim != 2 or features.shape[1] != 3 or len(features) != len(choices) or len(choices) == 0:
        raise ValueError(f"features must be [P, 3] and choices [P] with P > 0, got {features.shape} and "
                         f"{choices.shape}")
    if np.any(features[:, 0] == 0):
        raise ValueError("every pair must differ in N (log N ratio 0 found); build pairs with make_pairs")
    # [P, 3] products: BLAS threads only add contention (several times slower on a busy 2-core machine).
    with threadpool_limits(limits=1, user_api="blas"):
        c = _fit_coefficients(features, choices)
        rng = np.random.default_rng(seed)
        draws = np.array([_parameters(_fit_coefficients(features[idx], choices[idx], start=c))
                          for idx in (_resample(rng, len(choices), stimulus_pairs) for _ in range(n_boot))])
    estimate = _parameters(c)
    if n_boot:
        with warnings.catch_warnings():  # a column that is NaN in every draw (at the ceiling) stays NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            low, high = np.nanpercentile(draws, [2.5, 97.5], axis=0)
    else:
        low, high = estimate, estimate
    correct = np.where(choices == 0.5, 0.5, (choices == 1) == (features[:, 0] > 0))
    ci = {name: (float(low[k]), float(high[k])) for k, name in enumerate(("w", "b_size", "b_spacing", "theta"))}
    at_floor, at_ceiling = bool(estimate[0] <= W_FLOOR * 1.001), bool(estimate[0] >= W_CEILING * 0.999)
    w_resolution = resolution_bound(features[:, 0], stimulus_pairs, seed=seed)
    return DiscriminationFit(
        w=float(estimate[0]), w_ci=ci["w"], b_size=float(estimate[1]), b_size_ci=ci["b_size"],
        b_spacing=float(estimate[2]), b_spacing_ci=ci["b_spacing"], theta=float(estimate[3]), theta_ci=ci["theta"],
        n_pairs=int(len(choices)), tie_fraction=float(np.mean(choices == 0.5)),
        at_floor=at_floor, at_ceiling=at_ceiling, accuracy=float(np.mean(correct)), n_boot=int(n_boot),
        w_resolution=w_resolution, below_resolution=not at_ceiling and (at_floor or estimate[0] < w_resolution))


def weber_experiment(predictor: Any, recipe: SceneRecipe, n_images: int, n_pairs: int, seed: int,
                     n_boot: int = 200) -> tuple[DiscriminationFit, dict[str, Any]]:
    """A network's numerosity discrimination on DeWind-controlled scenes.

    Renders ``n_images`` scenes (``synth.numerosity.sample_dewind_scenes``
    on the recipe's canvas and count range), takes each image's continuous
    estimate (``predictor.counts(images)["expected_count"]``), forms
    ``n_pairs`` random pairs with different N, lets the larger estimate
    choose, and fits the DeWind model. The network is deterministic, so its
    "noise" is the spread of its estimate across scenes of the same N; each
    image takes part in about ``2 n_pairs / n_images`` pairs, so the bootstrap
    resamples images, not pairs.

    Args:
        predictor: an ``analysis.predict.Predictor`` (anything with ``counts(images)``).
        recipe: the cell's DeWind scene recipe (``control="dewind"``; its canvas and counts).
        n_images, n_pairs: stimuli rendered and pairs judged; seed: scenes, pairs and bootstrap.

    Returns:
        the fit and ``{"n_images", "counts": (lo, hi), "estimates": [S], "log_axes": [S, 3]}``.

    Raises:
        ValueError: the recipe has one count (no pair can differ in N) or is not DeWind-controlled.
    """
    if recipe.control != "dewind":
        raise ValueError(f"recipe.control must be 'dewind' for a Weber fit, got {recipe.control!r}")
    if recipe.counts[0] == recipe.counts[1]:
        raise ValueError(f"counts {recipe.counts[0]}-{recipe.counts[1]}: one count, so no pair differs in N")
    scenes = sample_dewind_scenes(recipe, n_images, seed=seed)
    images = render_scenes(scenes)  # [S, 3, H, W] uint8
    with torch.no_grad():
        estimates = np.asarray(predictor.counts(images)["expected_count"], dtype=float)
    axes = scene_log_axes(scenes)
    rng = np.random.default_rng(seed)
    pairs = make_pairs(np.array([s.count for s in scenes]), n_pairs, rng)
    fit = fit_discrimination(pair_features(axes, pairs), choose(estimates, pairs), n_boot=n_boot, seed=seed,
                             stimulus_pairs=pairs)
    return fit, {"n_images": len(scenes), "counts": tuple(recipe.counts), "estimates": estimates,
                 "log_axes": axes}
