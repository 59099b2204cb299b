"""Counterfactual scenes: edit the circles, re-render, and watch the predicted count.

A counter's prediction moves by exactly -1 when one circle is removed, +1
when one is added, and 0 when a circle moves, when all circles grow, or when
they spread apart. Edits whose true count leaves the cell's class range
(removing from the smallest count, adding to the largest) are excluded and
counted, as are edits with no room on the canvas.

Deletion faithfulness removes circles one by one, in order of attribution
mass (most attributed first) and in random order: if the attribution
points at what the model counts, the predicted count falls faster for the
attribution order.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from analysis.predict import Predictor
from synth import edit
from synth.render import render_scenes
from synth.scenes import InfeasibleSceneError, Scene

__all__ = ["EDITS", "target_indices", "keep_items", "edit_scene", "run_interventions", "summarize_interventions", "deletion_curves",
           "summarize_deletion"]

# kind -> the change of the true count
EDITS: dict[str, int] = {"remove": -1, "add": 1, "move": 0, "enlarge": 0, "spread": 0}

# Factors tried in turn: the first that keeps the circles apart and inside the canvas wins.
_ENLARGE_FACTORS = (1.3, 1.2, 1.1, 1.05)
_SPREAD_FACTORS = (1.3, 1.2, 1.1, 1.05)


def target_indices(scene: Scene) -> np.ndarray:
    """Indices of the items that are counted ``[count]``: every item, unless the scene marks distractors."""
    targets = getattr(scene, "targets", None)
    return np.arange(len(scene.radii)) if targets is None else np.flatnonzero(np.asarray(targets, dtype=bool))


def keep_items(scene: Scene, keep: np.ndarray) -> Scene:
    """The scene with only the items ``keep`` (per-item shapes and target flags kept with them)."""
    changes = {"centers": scene.centers[keep], "radii": scene.radii[keep], "colors": scene.colors[keep]}
    for name in ("shapes", "targets"):
        values = getattr(scene, name, None)
        if values is not None:
            changes[name] = np.asarray(values)[keep]
    return scene.replace(**changes)


def edit_scene(scene: Scene, kind: str, rng: np.random.Generator, min_gap: float = 1.0, margin: float = 1.0) -> Scene:
    """One counterfactual edit of ``scene``.

    Args:
        kind: one of ``EDITS``.
        rng: chooses the circle and the new position.
        min_gap, margin: placement rules the edited scene must keep.

    Raises:
        InfeasibleSceneError: no room for the edit.
        ValueError: unknown kind.
    """
    if kind not in EDITS:
        raise ValueError(f"intervention: unknown {kind!r}; valid: {', '.join(EDITS)}")
    targets = target_indices(scene)  # remove and move a counted item, never a distractor
    if kind in ("remove", "move") and len(targets) == 0:
        raise InfeasibleSceneError(f"{kind}: the scene has no circle")
    if kind == "remove":
        return edit.remove_circle(scene, int(targets[rng.integers(len(targets))]))
    if kind == "add":
        return edit.add_circle(scene, rng, min_gap=min_gap, margin=margin)
    if kind == "move":
        return edit.move_circle(scene, int(targets[rng.integers(len(targets))]), rng, min_gap=min_gap, margin=margin)
    function, factors = (edit.scale_radii, _ENLARGE_FACTORS) if kind == "enlarge" else (edit.spread, _SPREAD_FACTORS)
    for factor in factors:
        try:
            return function(scene, factor, min_gap=min_gap, margin=margin)
        except InfeasibleSceneError:
            continue
    raise InfeasibleSceneError(f"{kind}: no factor in {factors} keeps the circles apart and on the canvas")


def run_interventions(
    predictor: Predictor,
    scenes: Sequence[Scene],
    count_range: tuple[int, int],
    seed: int = 0,
    kinds: Sequence[str] = tuple(EDITS),
    min_gap: float = 1.0,
    margin: float = 1.0,
    trained: Collection[int] | None = None,
) -> pd.DataFrame:
    """Apply every edit kind to every scene and predict before and after.

    Args:
        predictor: the model under test.
        scenes: the scenes to edit (one canvas size).
        count_range: the cell's inclusive class range; edits leaving it are excluded.
        seed: seeds which circle is edited and where it goes.
        trained: the counts the model was trained on (None: all of the range); an edit to a count held
            out of training is excluded (``untrained_count``), since a classifier cannot answer it.

    Returns:
        one row per (scene, kind): ``scene``, ``kind``, ``count_before``,
        ``count_after``, ``expected_change``, ``status`` (``ok`` |
        ``out_of_range`` | ``untrained_count`` | ``infeasible``), and for ``ok`` rows
        ``pred_before``, ``pred_after``, ``pred_change``,
        ``expected_count_change`` (change of the softmax-expected count).
    """
    rng = np.random.default_rng(seed)
    rows, edited = [], []
    for index, scene in enumerate(scenes):
        for kind in kinds:
            row = {"scene": index, "kind": kind, "count_before": scene.count,
                   "count_after": scene.count + EDITS[kind], "expected_change": EDITS[kind]}
            if not count_range[0] <= row["count_after"] <= count_range[1]:
                rows.append({**row, "status": "out_of_range"})
                continue
            if trained is not None and row["count_after"] not in trained:
                rows.append({**row, "status": "untrained_count"})
                continue
            try:
                edited.append(edit_scene(scene, kind, rng, min_gap, margin))
                rows.append({**row, "status": "ok"})
            except InfeasibleSceneError:
                rows.append({**row, "status": "infeasible"})
    table = pd.DataFrame(rows)
    if not edited:
        return table
    before = predictor.counts(render_scenes(list(scenes)))
    after = predictor.counts(render_scenes(edited))
    ok = table.index[table["status"] == "ok"]
    scene_of_row = table.loc[ok, "scene"].to_numpy()
    table.loc[ok, "pred_before"] = before["pred_count"][scene_of_row]
    table.loc[ok, "pred_after"] = after["pred_count"]
    table.loc[ok, "pred_change"] = after["pred_count"] - before["pred_count"][scene_of_row]
    table.loc[ok, "correct_before"] = before["pred_count"][scene_of_row] == table.loc[ok, "count_before"].to_numpy()
    table.loc[ok, "expected_count_change"] = after["expected_count"] - before["expected_count"][scene_of_row]
    return table


def summarize_interventions(table: pd.DataFrame, sizes: str = "") -> pd.DataFrame:
    """Per edit kind: how often the prediction changed exactly as the count did.

    A wrong prediction before the edit makes "consistent" hard to read (the
    model was not counting that scene to begin with), so consistency is also
    given on the scenes predicted correctly before the edit.

    Args:
        sizes: the cell's circle-size regime; with ``fixed`` an enlarged
            circle is a size the model never saw (``off_distribution``).

    Returns:
        one row per kind: ``n`` (edits applied), ``excluded_out_of_range``,
        ``excluded_untrained`` (to a count held out of training), ``excluded_infeasible``, ``consistent`` (fraction with pred_change ==
        expected_change), ``n_correct_before`` and ``consistent_if_correct``
        (the same on scenes predicted correctly before the edit),
        ``off_distribution``, ``mean_pred_change``,
        ``mean_expected_count_change``, and the share of each change -1, 0, +1 and other.
    """
    rows = []
    for kind, group in table.groupby("kind", sort=False):
        done = group[group["status"] == "ok"]
        change = done["pred_change"].to_numpy(dtype=float) if len(done) else np.zeros(0)
        correct = done[done["correct_before"].astype(bool)] if len(done) else done
        expected = group["expected_change"].iloc[0]
        rows.append({
            "kind": kind,
            "expected_change": int(expected),
            "n": len(done),
            "n_correct_before": len(correct),
            "consistent_if_correct": float(np.mean(correct["pred_change"] == expected)) if len(correct) else np.nan,
            "off_distribution": bool(kind == "enlarge" and sizes == "fixed"),
            "excluded_out_of_range": int((group["status"] == "out_of_range").sum()),
            "excluded_untrained": int((group["status"] == "untrained_count").sum()),
            "excluded_infeasible": int((group["status"] == "infeasible").sum()),
            "consistent": float(np.mean(change == group["expected_change"].iloc[0])) if len(done) else np.nan,
            "mean_pred_change": float(change.mean()) if len(done) else np.nan,
            "mean_expected_count_change": float(done["expected_count_change"].mean()) if len(done) else np.nan,
            "share_minus1": float(np.mean(change == -1)) if len(done) else np.nan,
            "share_0": float(np.mean(change == 0)) if len(done) else np.nan,
            "share_plus1": float(np.mean(change == 1)) if len(done) else np.nan,
            "share_other": float(np.mean(np.abs(change) > 1)) if len(done) else np.nan,
        })
    return pd.DataFrame(rows)


def deletion_curves(
    predictor: Predictor,
    scenes: Sequence[Scene],
    circle_scores: Sequence[np.ndarray],
    max_steps: int = 8,
    random_orders: int = 1,
    seed: int = 0,
    floor: int = 0,
) -> pd.DataFrame:
    """Remove counted items most-attributed first, and in random orders; predict after each removal.

    Removal stops at ``floor``, the bottom of the class range: below it the
    classifier cannot answer the true count, so a flat curve there says
    nothing about the attribution.

    Args:
        scenes: the scenes.
        circle_scores: per scene ``[K]`` attribution mass of each item (distractors are never removed).
        max_steps: removals per order (at most K - floor).
        floor: the smallest count the model can answer.
        random_orders: random orders per scene (the control).

    Returns:
        rows ``scene``, ``order`` (``attribution`` | ``random``), ``repeat``,
        ``step`` (circles removed), ``expected_count``, ``pred_count``,
        ``delta_expected`` (change from step 0).
    """
    rng = np.random.default_rng(seed)
    rows, images_for = [], []
    for index, (scene, scores) in enumerate(zip(scenes, circle_scores)):
        steps = max(0, min(max_steps, scene.count - floor))
        targets = target_indices(scene)
        by_mass = targets[np.argsort(-np.asarray(scores)[targets], kind="stable")]
        orders = [("attribution", 0, by_mass)]
        orders += [("random", r, rng.permutation(targets)) for r in range(random_orders)]
        for name, repeat, order in orders:
            for step in range(steps + 1):
                images_for.append(keep_items(scene, np.setdiff1d(np.arange(len(scene.radii)), order[:step])))
                rows.append({"scene": index, "order": name, "repeat": repeat, "step": step})
    if not rows:
        return pd.DataFrame(columns=["scene", "order", "repeat", "step", "expected_count", "pred_count", "delta_expected"])
    table = pd.DataFrame(rows)
    predicted = predictor.counts(render_scenes(images_for))
    table["expected_count"] = predicted["expected_count"]
    table["pred_count"] = predicted["pred_count"]
    start = table.groupby(["scene", "order", "repeat"])["expected_count"].transform("first")
    table["delta_expected"] = table["expected_count"] - start
    return table


def summarize_deletion(curves: pd.DataFrame) -> pd.DataFrame:
    """Mean fall of the expected count per step and order, with n (scene-orders).

    Returns:
        rows ``order``, ``step``, ``n``, ``mean_delta_expected``, ``mean_pred_count``.
    """
    if curves.empty:
        return pd.DataFrame(columns=["order", "step", "n", "mean_delta_expected", "mean_pred_count"])
    grouped = curves.groupby(["order", "step"])
    return pd.DataFrame({
        "n": grouped.size(),
        "mean_delta_expected": grouped["delta_expected"].mean(),
        "mean_pred_count": grouped["pred_count"].mean(),
    }).reset_index()
