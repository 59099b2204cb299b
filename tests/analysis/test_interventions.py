import numpy as np

from analysis.interventions import deletion_curves, run_interventions, summarize_interventions
from helpers import counter_predictor, tiny_scenes


def test_perfect_counter_moves_exactly_with_the_count():
    scenes = tiny_scenes(2, 4, n=6)
    table = run_interventions(counter_predictor(2, 4), scenes, (2, 4), seed=0)
    done = table[table["status"] == "ok"]
    assert len(done) > 0
    assert (done["pred_change"] == done["expected_change"]).all()
    summary = summarize_interventions(table).set_index("kind")
    for kind, expected in {"remove": -1, "add": 1, "move": 0, "enlarge": 0, "spread": 0}.items():
        assert summary.loc[kind, "n"] > 0, kind
        assert summary.loc[kind, "consistent"] == 1.0
    # removing from 2 circles or adding to 4 leaves the range: excluded and counted
    assert summary.loc["remove", "excluded_out_of_range"] == sum(s.count == 2 for s in scenes)
    assert summary.loc["add", "excluded_out_of_range"] == sum(s.count == 4 for s in scenes)


def test_deletion_curve_falls_one_per_step_for_a_counter():
    scenes = tiny_scenes(2, 4, n=3)
    scores = [np.arange(s.count, dtype=float) for s in scenes]
    curves = deletion_curves(counter_predictor(0, 4), scenes, scores, max_steps=2)
    for _, group in curves.groupby(["scene", "order", "repeat"]):
        assert np.allclose(group["delta_expected"].to_numpy(), -group["step"].to_numpy(), atol=1e-6)


def test_edits_to_a_held_out_count_are_excluded_and_counted():
    scenes = tiny_scenes(2, 4, n=6)
    table = run_interventions(counter_predictor(2, 4), scenes, (2, 4), seed=0, trained=(2, 4))  # 3 held out
    summary = summarize_interventions(table).set_index("kind")
    # removing from 4 or adding to 2 would give the held-out 3: excluded, never scored
    assert summary.loc["remove", "excluded_untrained"] == sum(s.count == 4 for s in scenes)
    assert summary.loc["add", "excluded_untrained"] == sum(s.count == 2 for s in scenes)
    assert not (table.loc[table["status"] == "ok", "count_after"] == 3).any()
