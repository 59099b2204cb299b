"""Number-selective units: the single-unit analysis of Nasr et al. (2019) with the controls Zhang & Wu (2020) asked for.

``unit_experiment`` renders the stimulus sets (``stimulus_sets``: the cell's
standard set, Nasr et al.'s constant-area and constant-hull controls, a DeWind
set), records the spatially averaged activations of one body stage for the
trained network and the same architecture with random weights, and runs a
two-way ANOVA (numerosity x stimulus set) per unit (``two_way_anova``). A unit
is number-selective when numerosity is significant (p < 0.01), set and
interaction are not, and it prefers the same numerosity in every set.
``selective_difference`` bootstraps the trained-minus-random fraction over
units. docs/INSTRUMENTS.md, section 2, gives the stimuli, the test, what it
can resolve and the references.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn
from scipy import stats

from synth.numerosity import sample_constant_area_scenes, sample_constant_hull_scenes
from synth.render import render_scenes
from synth.sampling import sample_scenes
from synth.scenes import Scene, SceneRecipe

__all__ = ["ALPHA", "CONTROL_SAMPLERS", "UnitSelectivity", "SelectiveDifference", "two_way_anova", "unit_selectivity",
           "selective_difference", "stimulus_scenes", "stimulus_sets", "layer_activations", "random_network",
           "unit_experiment"]

ALPHA = 0.01  # Nasr et al.'s threshold for every term of the ANOVA
# Stimulus sets drawn by a sampler of their own (by set name); any other by ``sample_scenes`` (its recipe's control).
CONTROL_SAMPLERS = {"constant_area": sample_constant_area_scenes, "constant_hull": sample_constant_hull_scenes}


def two_way_anova(responses: np.ndarray, factor_a: np.ndarray, factor_b: np.ndarray) -> dict[str, np.ndarray]:
    """Balanced two-way ANOVA with interaction, for every column of ``responses`` at once.

    Args:
        responses: ``[n, U]`` one row per stimulus, one column per unit.
        factor_a, factor_b: ``[n]`` level labels (any hashable values).

    Returns:
        ``F_a``, ``F_b``, ``F_ab``, ``p_a``, ``p_b``, ``p_ab`` each ``[U]`` (NaN for a unit with no
        within-cell variance), and ``df`` ``(a-1, b-1, (a-1)(b-1), ab(r-1))``.

    Raises:
        ValueError: fewer than two levels of a factor, an unbalanced design, or one stimulus per cell.
    """
    responses = np.asarray(responses, dtype=np.float64)
    levels_a, index_a = np.unique(factor_a, return_inverse=True)
    levels_b, index_b = np.unique(factor_b, return_inverse=True)
    a, b = len(levels_a), len(levels_b)
    if a < 2 or b < 2:
        raise ValueError(f"two-way ANOVA needs >= 2 levels of each factor, got {a} numerosities and {b} sets")
    cell = index_a * b + index_b
    per_cell = np.bincount(cell, minlength=a * b)
    if per_cell.min() != per_cell.max() or per_cell.min() < 2:
        raise ValueError(f"two-way ANOVA needs a balanced design with >= 2 stimuli per cell, got cell sizes "
                         f"{per_cell.min()}-{per_cell.max()}")
    r = int(per_cell[0])
    one_hot = np.zeros((len(cell), a * b))
    one_hot[np.arange(len(cell)), cell] = 1
    cell_means = (one_hot.T @ responses / r).reshape(a, b, -1)  # [a, b, U]
    grand = cell_means.mean((0, 1))  # [U]
    mean_a, mean_b = cell_means.mean(1), cell_means.mean(0)  # [a, U], [b, U]
    ss_a = b * r * ((mean_a - grand) ** 2).sum(0)
    ss_b = a * r * ((mean_b - grand) ** 2).sum(0)
    ss_ab = r * ((cell_means - mean_a[:, None] - mean_b[None] + grand) ** 2).sum((0, 1))
    ss_error = ((responses - cell_means.reshape(a * b, -1)[cell]) ** 2).sum(0)
    df = (a - 1, b - 1, (a - 1) * (b - 1), a * b * (r - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        ms_error = np.where(ss_error > 0, ss_error / df[3], np.nan)
        out = {}
        for name, ss, dfn in (("a", ss_a, df[0]), ("b", ss_b, df[1]), ("ab", ss_ab, df[2])):
            f_value = (ss / dfn) / ms_error
            out[f"F_{name}"], out[f"p_{name}"] = f_value, stats.f.sf(f_value, dfn, df[3])
    out["df"] = np.array(df)
    return out


@dataclasses.dataclass
class UnitSelectivity:
    """Which units of one layer are number-selective, and their tuning.

    Attributes:
        numbers: ``[a]`` the numerosities shown; sets: the stimulus-set names.
        p_number, p_set, p_interaction: ``[U]`` ANOVA p-values (NaN: inactive unit).
        selective: bool ``[U]``; preferred: ``[U]`` numerosity of the largest mean response.
        consistent: bool ``[U]``: the numerosity of the largest mean response is the same in every set.
        tuning: ``[U, a]`` mean response per numerosity (pooled over sets).
        inactive: bool ``[U]``: the unit's response never varies (e.g. a dead ReLU).
        per_cell: images per (numerosity, set) cell.
    """

    numbers: np.ndarray
    sets: list[str]
    p_number: np.ndarray
    p_set: np.ndarray
    p_interaction: np.ndarray
    selective: np.ndarray
    preferred: np.ndarray
    consistent: np.ndarray
    tuning: np.ndarray
    inactive: np.ndarray
    per_cell: int

    @property
    def n_units(self) -> int:
        return int(len(self.selective))

    @property
    def fraction_selective(self) -> float:
        return float(self.selective.mean()) if self.n_units else float("nan")

    def preferred_histogram(self) -> np.ndarray:
        """``[a]`` number of selective units preferring each numerosity."""
        chosen = self.preferred[self.selective]
        return np.array([int(np.sum(chosen == n)) for n in self.numbers])

    def mean_tuning(self) -> dict[int, tuple[np.ndarray, int]]:
        """Per preferred numerosity: the mean min-max normalised tuning curve ``[a]`` and its unit count."""
        curves = self.tuning[self.selective]
        low, high = curves.min(1, keepdims=True), curves.max(1, keepdims=True)
        normalised = (curves - low) / np.where(high > low, high - low, 1.0)
        preferred = self.preferred[self.selective]
        return {int(n): (normalised[preferred == n].mean(0), int(np.sum(preferred == n)))
                for n in self.numbers if np.any(preferred == n)}


def unit_selectivity(activations: np.ndarray, numbers: np.ndarray, sets: Sequence[str],
                     alpha: float = ALPHA) -> UnitSelectivity:
    """Number-selective units of one layer: Nasr et al.'s criterion, across every stimulus set.

    A unit is selective when the numerosity effect has p < ``alpha``, neither the set effect nor the
    interaction does, and its preferred numerosity (largest mean response) is the same in every set.

    Args:
        activations: ``[n, U]`` one row per image; numbers: ``[n]`` numerosity per image;
        sets: ``[n]`` stimulus-set name per image (balanced with ``numbers``).
        alpha: significance threshold of each ANOVA term.

    Returns:
        a ``UnitSelectivity``.
    """
    activations, numbers, sets = np.asarray(activations, dtype=np.float64), np.asarray(numbers), np.asarray(sets)
    anova = two_way_anova(activations, numbers, sets)
    levels, names = np.unique(numbers), np.unique(sets)
    tuning = np.stack([activations[numbers == n].mean(0) for n in levels], axis=1)  # [U, a]
    preferred = tuning.argmax(1)  # [U]
    per_set = np.stack([np.stack([activations[(numbers == n) & (sets == name)].mean(0) for n in levels], axis=1)
                        .argmax(1) for name in names])  # [sets, U]
    consistent = (per_set == preferred[None]).all(0)
    inactive = activations.std(0) == 0
    with np.errstate(invalid="ignore"):
        selective = ((anova["p_a"] < alpha) & ~(anova["p_b"] < alpha) & ~(anova["p_ab"] < alpha) & consistent
                     & ~inactive)
    return UnitSelectivity(numbers=levels, sets=[str(name) for name in names], p_number=anova["p_a"],
                           p_set=anova["p_b"], p_interaction=anova["p_ab"], selective=selective,
                           preferred=levels[preferred], consistent=consistent, tuning=tuning, inactive=inactive,
                           per_cell=int(len(numbers) // (len(levels) * len(names))))


@dataclasses.dataclass(frozen=True)
class SelectiveDifference:
    """Trained minus random fraction of selective units, with its bootstrap interval.

    Attributes:
        difference: on the units and images shown; low, high: 95% percentile interval; n_boot: resamples;
        method: what was resampled.
    """

    difference: float
    low: float
    high: float
    n_boot: int
    method: str = "bootstrap over units (images fixed)"


def selective_difference(trained: np.ndarray, random: np.ndarray, n_boot: int = 1000,
                         seed: int = 0) -> SelectiveDifference:
    """The trained-vs-random difference in the fraction of number-selective units, with a 95% interval.

    Each network's units are resampled with replacement (the two networks' units are not paired) and
    the difference of the two fractions taken again: the interval covers which units each layer
    happens to have, on these images. It does not cover which images were shown (resampling images
    with replacement duplicates some, which weakens every test and biases the fraction down); the
    spread over seeds, where a configuration has several, shows that.

    Args:
        trained, random: bool ``[U]`` and ``[U']`` selective flags (``UnitSelectivity.selective``).
        n_boot: resamples (0: the interval is the estimate); seed: their seed.
    """
    trained, random = np.asarray(trained, dtype=float), np.asarray(random, dtype=float)
    estimate = float(trained.mean() - random.mean())
    if not n_boot:
        return SelectiveDifference(estimate, estimate, estimate, 0)
    rng = np.random.default_rng(seed)
    draws = (trained[rng.integers(0, len(trained), (n_boot, len(trained)))].mean(1)
             - random[rng.integers(0, len(random), (n_boot, len(random)))].mean(1))
    low, high = np.percentile(draws, [2.5, 97.5])
    return SelectiveDifference(estimate, float(low), float(high), int(n_boot))


def stimulus_scenes(recipes: Mapping[str, SceneRecipe], numbers: Sequence[int], per_cell: int,
                    seed: int) -> tuple[list[Scene], np.ndarray, np.ndarray]:
    """``per_cell`` scenes for every (numerosity, stimulus set), a balanced design (``stimulus_sets`` renders them).

    Each set is sampled over the whole range min..max(numbers) (DeWind's design
    box depends on the range: sampling one count at a time would tie Size to N)
    and the scenes whose count is in ``numbers`` are kept; counts cycle over
    the range, so every number gets exactly ``per_cell`` scenes. A set named in
    ``CONTROL_SAMPLERS`` is drawn by its sampler (Nasr et al.'s controls), any
    other by ``sample_scenes`` (its recipe's control, ``dewind`` or plain).

    Args:
        recipes: set name -> scene recipe, all on one shared canvas.
        numbers: the numerosities shown (at least two); per_cell: images per cell (at least two).

    Returns:
        scenes, numerosity ``[n]``, set name ``[n]`` (n = sets x numbers x per_cell).
    """
    numbers = sorted({int(n) for n in numbers})
    if len(numbers) < 2 or per_cell < 2:
        raise ValueError(f"need >= 2 numerosities and >= 2 images per cell, got numbers {numbers}, per_cell {per_cell}")
    lo, hi = numbers[0], numbers[-1]
    scenes, names = [], []
    for k, (name, recipe) in enumerate(recipes.items()):
        recipe = dataclasses.replace(recipe, counts=(lo, hi))
        sampler = CONTROL_SAMPLERS.get(name) or sample_scenes
        kept = [s for s in sampler(recipe, per_cell * (hi - lo + 1), seed=seed + k) if s.count in numbers]
        scenes.extend(kept)
        names.extend([name] * len(kept))
    return scenes, np.array([s.count for s in scenes]), np.array(names)


def stimulus_sets(recipes: Mapping[str, SceneRecipe], numbers: Sequence[int], per_cell: int,
                  seed: int) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """``stimulus_scenes`` rendered: uint8 images ``[n, 3, H, W]``, numerosity ``[n]``, set name ``[n]``."""
    scenes, counts, names = stimulus_scenes(recipes, numbers, per_cell, seed)
    return render_scenes(scenes), counts, names


def _body_child(model: nn.Module, layer: str) -> nn.Module:
    children = dict(getattr(model, "body", model).named_children())
    if layer not in children:
        raise ValueError(f"layer: unknown {layer!r}; valid: {', '.join(children)}")
    return children[layer]


@torch.no_grad()
def layer_activations(model: nn.Module, layer: str, inputs: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    """Spatially averaged output of one body child: ``[B, C, H, W] -> [B, C]`` (a ``[B, C]`` output is kept).

    Args:
        model: a ``study.engine.models.Classifier`` (eval mode is set here); layer: a child of ``model.body``.
        inputs: normalised float ``[n, 3, h, w]`` on the model's device.

    Returns:
        float ``[n, C]``.
    """
    module, captured = _body_child(model, layer), []
    model.eval()

    def keep(_module: nn.Module, _args: tuple, output: torch.Tensor) -> None:
        output = output.float()
        captured.append((output.mean((2, 3)) if output.dim() == 4 else output.flatten(1)).cpu().numpy())

    hook = module.register_forward_hook(keep)
    try:
        for start in range(0, len(inputs), batch_size):
            model(inputs[start : start + batch_size])
    finally:
        hook.remove()
    return np.concatenate(captured)


def random_network(arch: str, seed: int, image_size: int, device: torch.device | str = "cpu") -> nn.Module:
    """The untrained control: ``arch`` with random weights (seeded), in eval mode.

    Only the body's activations are read, so a one-output linear head is enough.
    """
    from study.engine.models import create_model

    options = {"image_size": image_size} if "image_size" in inspect.signature(create_model).parameters else {}
    return create_model(arch, 1, weights="none", head="linear", seed=seed, **options).to(device).eval()


def unit_experiment(model: nn.Module, arch: str, layer: str, transform: Callable[[torch.Tensor], torch.Tensor],
                    recipes: Mapping[str, SceneRecipe], numbers: Sequence[int], per_cell: int, seed: int,
                    device: torch.device | str = "cpu", n_boot: int = 200,
                    ) -> tuple[dict[str, UnitSelectivity], SelectiveDifference]:
    """Number-selective units of a trained network and of its random-weight twin, on the same images.

    Args:
        model: the trained classifier (on ``device``); arch: its architecture name (for the twin).
        layer: a child of ``model.body`` (e.g. ``layer4``).
        transform: uint8 ``[B, 3, H, W]`` -> the model's normalised input (``Predictor.transform``).
        recipes, numbers, per_cell, seed: the stimuli (``stimulus_sets``).
        n_boot: resamples behind the difference's interval (``selective_difference``).

    Returns:
        ``{"trained": UnitSelectivity, "random": UnitSelectivity}`` and the trained-minus-random
        difference in the fraction selective.
    """
    images, counts, sets = stimulus_sets(recipes, numbers, per_cell, seed)
    inputs = transform(images.to(device))
    control = random_network(arch, seed, int(inputs.shape[-1]), device)
    results = {name: unit_selectivity(layer_activations(network, layer, inputs), counts, sets)
               for name, network in (("trained", model), ("random", control))}
    return results, selective_difference(results["trained"].selective, results["random"].selective, n_boot, seed)
