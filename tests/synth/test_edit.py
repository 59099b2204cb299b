import numpy as np
import pytest

from synth.edit import add_circle, is_valid, move_circle, remove_circle, scale_radii, spread
from synth.sampling import sample_scenes
from synth.scenes import InfeasibleSceneError, Scene, SceneRecipe


@pytest.fixture
def scene():
    return sample_scenes(SceneRecipe(counts=(6, 6), width=96, height=96, radius=4, min_gap=2), 1, seed=0)[0]


def test_remove_add_move_change_count_by_minus_one_plus_one_zero(scene):
    rng = np.random.default_rng(0)
    assert remove_circle(scene, 0).count == 5
    added = add_circle(scene, rng)
    assert added.count == 7 and is_valid(added, min_gap=2)
    moved = move_circle(scene, 3, rng)
    assert moved.count == 6 and is_valid(moved, min_gap=2)
    assert not np.array_equal(moved.centers[3], scene.centers[3])
    assert np.array_equal(np.delete(moved.centers, 3, 0), np.delete(scene.centers, 3, 0))


def test_scale_and_spread_keep_count(scene):
    small = scale_radii(scene, 0.5)
    assert small.count == 6 and np.allclose(small.radii, scene.radii / 2)
    tight = spread(scene, 0.9)
    assert np.allclose(tight.centers.mean(0), scene.centers.mean(0))


def test_edits_that_break_the_scene_raise(scene):
    with pytest.raises(InfeasibleSceneError):
        scale_radii(scene, 20.0)
    full = Scene(width=10, height=10, centers=[[5, 5]], radii=[4.5], colors=[[0, 0, 0]])
    with pytest.raises(InfeasibleSceneError):
        add_circle(full, np.random.default_rng(0), radius=4.0)
    with pytest.raises(IndexError):
        remove_circle(scene, 6)


@pytest.fixture
def shaped():
    recipe = SceneRecipe(counts=(5, 5), width=96, height=96, radius=4, min_gap=2, shape="triangle", distractors=(2, 2),
                     distractor_kind="shape")
    return sample_scenes(recipe, 1, seed=0)[0]


def test_edits_keep_shapes_colours_and_targets(shaped):
    rng = np.random.default_rng(0)
    moved = move_circle(shaped, 2, rng)
    assert np.array_equal(moved.shapes, shaped.shapes) and np.array_equal(moved.targets, shaped.targets)
    assert np.array_equal(moved.colors, shaped.colors) and is_valid(moved, min_gap=2)
    for edited in (scale_radii(shaped, 0.8), spread(shaped, 0.95)):
        assert np.array_equal(edited.shapes, shaped.shapes) and edited.count == 5 and edited.n_items == 7


def test_removing_a_distractor_keeps_the_label_and_a_target_lowers_it(shaped):
    distractor, target = int(np.flatnonzero(~shaped.targets)[0]), int(np.flatnonzero(shaped.targets)[0])
    without_distractor = remove_circle(shaped, distractor)
    assert without_distractor.count == 5 and without_distractor.n_items == 6
    assert remove_circle(shaped, target).count == 4


def test_add_adds_a_target_of_the_target_shape(shaped):
    added = add_circle(shaped, np.random.default_rng(1))
    assert added.count == 6 and added.n_items == 8
    assert added.targets[-1] and added.shapes[-1] == shaped.shapes[shaped.targets][0]
    assert is_valid(added, min_gap=2)  # the new triangle keeps its extent gap


def test_is_valid_measures_extent_radii():
    # Two squares of radius 4 (extent 5.01) 10.5 px apart: circles would clear a 2 px gap, squares do not.
    scene = Scene(width=40, height=20, centers=[[10, 10], [20.5, 10]], radii=[4, 4], colors=[[0, 0, 0]] * 2)
    assert is_valid(scene, min_gap=2)
    assert not is_valid(scene.replace(shapes=[1, 1]), min_gap=2)
