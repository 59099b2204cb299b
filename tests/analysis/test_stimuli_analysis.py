"""Analysis of richer stimuli: distractors are never edited or removed, new scenes come on the images' canvas."""

import dataclasses

import numpy as np

from analysis.cell_analysis import _target_colour
from analysis.confounds import dewind_scenes
from analysis.interventions import keep_items, target_indices
from helpers import tiny_scenes
from study.config.spec import TRAIN_DEFAULTS
from synth.scenes import DEFAULT_COLOR


@dataclasses.dataclass(frozen=True)
class MarkedScene:
    """A stand-in for a scene whose items carry per-item shapes and target flags."""

    centers: np.ndarray
    radii: np.ndarray
    colors: np.ndarray
    shapes: np.ndarray
    targets: np.ndarray

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


def _marked():
    return MarkedScene(centers=np.arange(8.0).reshape(4, 2), radii=np.ones(4), colors=np.zeros((4, 3), np.uint8),
                       shapes=np.array([0, 1, 0, 1], np.int8), targets=np.array([True, False, True, False]))


def test_only_targets_are_edited_and_items_keep_their_marks():
    scene = _marked()
    assert target_indices(scene).tolist() == [0, 2]
    assert target_indices(tiny_scenes(n=1)[0]).tolist() == list(range(tiny_scenes(n=1)[0].count))
    kept = keep_items(scene, np.array([1, 2]))
    assert kept.shapes.tolist() == [1, 0] and kept.targets.tolist() == [False, True]
    assert kept.centers.tolist() == [[2.0, 3.0], [4.0, 5.0]]


def test_target_colour_from_scenes_or_the_default():
    scene = _marked().replace(colors=np.array([[1, 2, 3], [9, 9, 9], [1, 2, 3], [9, 9, 9]], np.uint8))
    spec = {"distractors": "2", "distractor_kind": "colour", "colour": "fixed"}
    assert _target_colour([scene], spec) == (1, 2, 3)
    assert _target_colour(tiny_scenes(n=2), spec) == tuple(DEFAULT_COLOR)  # scenes without marks: the default colour
    assert _target_colour([scene], {**spec, "distractors": "0"}) is None
    assert _target_colour([scene], {**spec, "distractor_kind": "shape"}) is None


def test_generated_dewind_scenes_are_drawn_on_the_images_canvas():
    spec = {**TRAIN_DEFAULTS, "counts": "1-5", "size": 32, "scene_size": 64, "n_test_dewind": 0}
    scenes = dewind_scenes(spec, 6)
    assert {(s.width, s.height) for s in scenes} == {(32, 32)}
    assert all((s.centers >= 0).all() and (s.centers <= 32).all() for s in scenes)
    native = dewind_scenes({**spec, "scene_size": 0, "size": 64}, 6)
    assert {s.width for s in native} == {64}
    # the same scene canvas scaled by 32/64: radii half of those drawn at 64 px
    assert np.mean([s.radii.mean() for s in scenes]) < 0.75 * np.mean([s.radii.mean() for s in native])
