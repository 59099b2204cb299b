import numpy as np

from analysis.baselines import baseline_accuracy, component_counts
from helpers import tiny_scenes
from synth.render import render_scenes
from synth.scenes import SceneSpec, sample_scenes


def test_components_exact_on_separate_circles():
    scenes = tiny_scenes(1, 6, n=12)
    counts = np.array([s.count for s in scenes])
    assert (component_counts(render_scenes(scenes)) == counts).all()


def test_both_baselines_exact_with_a_fixed_radius():
    spec = SceneSpec(counts=(1, 5), width=48, height=48, radius=3.0, min_gap=2.0)
    train, test = sample_scenes(spec, 20, seed=0), sample_scenes(spec, 10, seed=1)
    result = baseline_accuracy(render_scenes(train), np.array([s.count for s in train]),
                               render_scenes(test), np.array([s.count for s in test]))
    assert result["components"]["accuracy"] == 1.0
    assert result["ink_area"]["accuracy"] == 1.0
    assert result["ink_area"]["n"] == 10


def test_ink_area_counter_fails_on_dewind_stimuli_but_components_do_not():
    # Fitted on one radius, ink area is the count; on DeWind scenes size varies independently of N, so it is not.
    fixed = SceneSpec(counts=(1, 5), width=64, height=64, radius=3.0, min_gap=2.0)
    dewind = SceneSpec(counts=(1, 5), width=64, height=64, radius=3.0, min_gap=2.0, control="dewind")
    train, test = sample_scenes(fixed, 40, seed=0), sample_scenes(dewind, 60, seed=1)
    result = baseline_accuracy(render_scenes(train), np.array([s.count for s in train]),
                               render_scenes(test), np.array([s.count for s in test]))
    assert result["ink_area"]["accuracy"] < 0.6
    assert result["components"]["accuracy"] > 0.9
