import numpy as np
import pytest

from synth.edit import add_circle, is_valid, move_circle, remove_circle, scale_radii, spread
from synth.scenes import InfeasibleSceneError, Scene, SceneSpec, sample_scenes


@pytest.fixture
def scene():
    return sample_scenes(SceneSpec(counts=(6, 6), width=96, height=96, radius=4, min_gap=2), 1, seed=0)[0]


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
