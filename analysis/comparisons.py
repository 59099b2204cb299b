"""Paired comparisons: two settings of one field, everything else equal, on the same test images.

For every setting field that varies in the run (augmentation policy, init,
...), cells that differ only in that field and share their seeds are
matched seed by seed; their per-image correctness on the same test images
(``predictions.csv``: same index, same true label) feeds
``analysis.stats.compare_paired``. Cells whose test images differ (another
count range, another data seed) are not paired: that comparison would not
be paired, and it is left out rather than mislabelled.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from analysis.rundata import CellResults
from analysis.stats import compare_paired
from analysis.tables import TEST_SPLITS, split_correctness
from study.run.runfolder import CellStatus
from study.config.labels import configuration_label
from study.config.spec import field_label, seed_fields, varying_fields

__all__ = ["paired_comparisons"]


def _aligned(a: CellResults, b: CellResults, split: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Correctness of both cells on the images they share, or None when the images are not the same."""
    left, right = split_correctness(a, split), split_correctness(b, split)
    if left is None or right is None:
        return None
    merged = left.merge(right, on="index", suffixes=("_a", "_b"))
    if merged.empty or len(merged) != len(left) or not (merged["label_a"] == merged["label_b"]).all():
        return None
    return merged["correct_a"].to_numpy(bool), merged["correct_b"].to_numpy(bool)


def _seed_key(cell: CellResults) -> tuple:
    return tuple(str(cell.settings.get(name)) for name in seed_fields())


def _within(rest: list[str], cell_a: CellResults, cell_b: CellResults) -> str:
    """The settings both sides share, as their labels name them: every other varying setting, or, where
    labels name only what sets a configuration apart (a sweep of blocks), just those."""
    named = set(cell_a.label_fields) | set(cell_b.label_fields)
    shown = [name for name in rest if name in named] if named else rest
    return configuration_label(cell_a.settings, shown) if shown else "all cells"


def _compare(field: str, rest: list[str], value_a: str, value_b: str, group: dict[str, list[CellResults]],
             split: str) -> dict[str, Any] | None:
    by_seed_b = {_seed_key(cell): cell for cell in group[value_b]}
    pairs = [aligned for cell in group[value_a] if _seed_key(cell) in by_seed_b
             for aligned in [_aligned(cell, by_seed_b[_seed_key(cell)], split)] if aligned is not None]
    if not pairs:
        return None
    result = compare_paired(pairs)
    return {"axis": field_label(field), "field": field, "a": value_a, "b": value_b,
            "configuration": _within(rest, group[value_a][0], group[value_b][0]),
            "split": TEST_SPLITS[split], "n_seeds": result.n_seeds, "n_images": result.n_images,
            "difference": result.difference, "ci": list(result.ci), "p": result.p, "p_seeds": result.p_seeds,
            "p_images": result.p_images, "test": result.test,
            "per_seed_p": result.per_seed_p,
            "effect_size": {"difference": result.difference, "odds_ratio": result.odds_ratio,
                            "only_a_correct": result.only_a, "only_b_correct": result.only_b}}


def paired_comparisons(cells: list[CellResults]) -> list[dict[str, Any]]:
    """Every paired comparison the run supports (done cells only).

    Returns:
        dicts with ``axis`` (human field label), ``field``, ``a``, ``b``,
        ``configuration`` (the other varying settings), ``split``,
        ``n_seeds``, ``n_images``, ``difference`` (accuracy of a minus b),
        ``ci``, ``p`` (the headline: ``p_seeds`` at >= 3 seeds, else ``p_images``), ``p_seeds`` (paired t
        over seeds, None below 3), ``p_images`` (seed-stratified image-level test), ``test``,
        ``per_seed_p``, ``effect_size``.
    """
    done = [cell for cell in cells if cell.status is CellStatus.DONE and cell.settings]
    varying = varying_fields([cell.settings for cell in done])
    comparisons = []
    for field in varying:
        rest = [name for name in varying if name != field]
        groups: dict[tuple, dict[str, list[CellResults]]] = {}
        for cell in done:
            others = tuple((name, value) for name, value in cell.key if name != field)
            groups.setdefault(others, {}).setdefault(str(cell.settings.get(field)), []).append(cell)
        for group in groups.values():
            for value_a, value_b in itertools.combinations(group, 2):
                for split in TEST_SPLITS:
                    comparison = _compare(field, rest, value_a, value_b, group, split)
                    if comparison:
                        comparisons.append(comparison)
    return comparisons
