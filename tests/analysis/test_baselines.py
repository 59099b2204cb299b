import numpy as np
import pytest

from analysis.baselines import (InkAreaCounter, baseline_accuracy, component_counts, ink_area,
                                unusable_baselines)
from helpers import tiny_scenes
from synth.render import render_scenes
from synth.sampling import sample_scenes
from synth.scenes import DEFAULT_COLOR, SceneRecipe


def test_components_exact_on_separate_circles():
    scenes = tiny_scenes(1, 6, n=12)
    counts = np.array([s.count for s in scenes])
    assert (component_counts(render_scenes(scenes)) == counts).all()


def test_both_baselines_exact_with_a_fixed_radius():
    recipe = SceneRecipe(counts=(1, 5), width=48, height=48, radius=3.0, min_gap=2.0)
    train, test = sample_scenes(recipe, 20, seed=0), sample_scenes(recipe, 10, seed=1)
    result = baseline_accuracy(render_scenes(train), np.array([s.count for s in train]),
                               render_scenes(test), np.array([s.count for s in test]))
    assert result["components"]["accuracy"] == 1.0
    assert result["ink_area"]["accuracy"] == 1.0
    assert result["ink_area"]["n"] == 10


def test_ink_area_counter_fails_on_dewind_stimuli_but_components_do_not():
    # Fitted on one radius, ink area is the count; on DeWind scenes size varies independently of N, so it is not.
    fixed = SceneRecipe(counts=(1, 5), width=64, height=64, radius=3.0, min_gap=2.0)
    dewind = SceneRecipe(counts=(1, 5), width=64, height=64, radius=3.0, min_gap=2.0, control="dewind")
    train, test = sample_scenes(fixed, 40, seed=0), sample_scenes(dewind, 60, seed=1)
    result = baseline_accuracy(render_scenes(train), np.array([s.count for s in train]),
                               render_scenes(test), np.array([s.count for s in test]))
    assert result["ink_area"]["accuracy"] < 0.6
    assert result["components"]["accuracy"] > 0.9


ORANGE = (255, 127, 14)


def _with_distractors(scenes, n_distractors=2):
    """The scenes with their last items recoloured orange: the targets are the rest (default colour)."""
    return [s.replace(colors=np.array([DEFAULT_COLOR] * (len(s.radii) - n_distractors) + [ORANGE] * n_distractors,
                                      dtype=np.uint8)) for s in scenes]


def test_baselines_count_targets_of_the_target_colour_only():
    recipe = SceneRecipe(counts=(3, 7), width=48, height=48, radius=3.0, min_gap=2.0)
    train, test = _with_distractors(sample_scenes(recipe, 30, seed=0)), _with_distractors(sample_scenes(recipe, 12, seed=1))
    targets_of = lambda scenes: np.array([len(s.radii) - 2 for s in scenes])  # noqa: E731
    images = render_scenes(test)
    assert (component_counts(images, target_colour=DEFAULT_COLOR) == targets_of(test)).all()
    assert (component_counts(images) == targets_of(test) + 2).all()  # blind to colour: distractors counted too
    # one item of the target colour is ~pi r^2 of ink whatever the distractors
    one = ink_area(render_scenes([test[0].replace(centers=test[0].centers[:1], radii=test[0].radii[:1],
                                                  colors=test[0].colors[:1])]))[0]
    assert ink_area(images[:1], target_colour=DEFAULT_COLOR)[0] == pytest.approx(one * targets_of(test)[0], rel=0.02)
    result = baseline_accuracy(render_scenes(train), targets_of(train), images, targets_of(test),
                               target_colour=DEFAULT_COLOR)
    assert result["components"]["accuracy"] == 1.0 and result["ink_area"]["accuracy"] == 1.0


def test_unusable_baselines_name_why():
    assert unusable_baselines({"distractors": "0", "overlap": False}) == {}
    shape = unusable_baselines({"distractors": "2-4", "distractor_kind": "shape"})
    assert set(shape) == {"ink_area", "components"} and "shape only" in shape["components"]
    assert set(unusable_baselines({"distractors": "2", "distractor_kind": "colour", "overlap": True})) == {"components"}
    only_ink = baseline_accuracy(render_scenes(tiny_scenes()), np.array([s.count for s in tiny_scenes()]),
                                 render_scenes(tiny_scenes()), np.array([s.count for s in tiny_scenes()]),
                                 counters=("ink_area",))
    assert set(only_ink) == {"ink_area"}


def test_ink_counter_answers_held_out_classes_when_given_them():
    recipe = SceneRecipe(counts=(1, 5), width=48, height=48, radius=3.0, min_gap=2.0)
    train = [s for s in sample_scenes(recipe, 40, seed=0) if s.count != 3]
    held = [s for s in sample_scenes(recipe, 40, seed=1) if s.count == 3]
    counts = np.array([s.count for s in train])
    seen_only = InkAreaCounter().fit(render_scenes(train), counts)
    assert 3 not in seen_only.predict(render_scenes(held))
    every = InkAreaCounter().fit(render_scenes(train), counts, classes=range(1, 6))
    assert (every.predict(render_scenes(held)) == 3).all()  # ink interpolates: a regression over the counts
