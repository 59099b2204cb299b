import time

import numpy as np
import pytest

from synth.edit import is_valid
from synth.sampling import sample_scenes
from synth.scenes import (
    MIN_RADIUS_PX,
    InfeasibleSceneError,
    Scene,
    SceneRecipe,
    auto_radius,
    fit_radius,
    parse_range,
)


@pytest.mark.parametrize("counts", [(1, 5), (45, 50), (1, 100)])
def test_labels_are_exact_and_cover_the_range(counts):
    size = 160 if counts[1] == 100 else 96
    recipe = SceneRecipe(counts=counts, width=size, height=size, radius=auto_radius(size, size, counts[1]))
    scenes = sample_scenes(recipe, 2 * (counts[1] - counts[0] + 1), seed=0)
    assert sorted({s.count for s in scenes}) == list(range(counts[0], counts[1] + 1))


def test_circles_do_not_overlap_and_stay_inside():
    recipe = SceneRecipe(counts=(20, 30), width=96, height=72, radius_range=(2.0, 5.0), min_gap=2.0, margin=3.0)
    for scene in sample_scenes(recipe, 30, seed=1):
        assert is_valid(scene, min_gap=2.0, margin=3.0)
        assert (scene.radii >= 2.0).all() and (scene.radii <= 5.0).all()
        assert (scene.width, scene.height) == (96, 72)


def test_fixed_radius_is_fixed():
    scenes = sample_scenes(SceneRecipe(counts=(3, 3), radius=7.5), 5, seed=0)
    assert all(np.all(s.radii == 7.5) for s in scenes)


def test_same_seed_same_scenes_other_seed_other_scenes():
    recipe = SceneRecipe(counts=(1, 5), width=64, height=64, radius=3)
    first, again, other = (sample_scenes(recipe, 10, seed) for seed in (4, 4, 5))
    assert all(np.array_equal(a.centers, b.centers) for a, b in zip(first, again))
    assert not all(np.array_equal(a.centers, b.centers) for a, b in zip(first, other))


def test_impossible_packing_fails_fast_naming_spec_and_limits():
    recipe = SceneRecipe(counts=(500, 500), width=64, height=64, radius=20)
    started = time.monotonic()
    with pytest.raises(InfeasibleSceneError) as error:
        sample_scenes(recipe, 10, seed=0)
    assert time.monotonic() - started < 1.0
    message = str(error.value)
    assert "500-500 circles" in message and "64x64" in message
    assert "at most 1 circles of radius 20" in message and "radius at most" in message


def test_borderline_packing_raises_instead_of_placing_fewer():
    # Within the density bound but hard for random placement: must either succeed exactly or raise.
    recipe = SceneRecipe(counts=(60, 60), width=64, height=64, radius=3.2, min_gap=1)
    try:
        scenes = sample_scenes(recipe, 3, seed=0, timeout_s=5)
    except InfeasibleSceneError as error:
        assert "60 circles" in str(error) or "60-60" in str(error)
    else:
        assert all(s.count == 60 and is_valid(s, 1) for s in scenes)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"counts": (0, 3)}, "counts"),
        ({"counts": "5-1"}, "exceeds"),
        ({"radius": -1}, "radius"),
        ({"control": "magic"}, "valid: none, dewind"),
        ({"width": 2}, "width"),
    ],
)
def test_bad_specs_name_the_field(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        SceneRecipe(**kwargs)


def test_parse_range():
    assert parse_range("45-50") == (45, 50)
    assert parse_range("7") == (7, 7)
    assert parse_range("2.5-4", cast=float) == (2.5, 4.0)
    with pytest.raises(ValueError, match="--counts"):
        parse_range("a-b", "--counts")


def test_scene_round_trips_through_dict():
    scene = sample_scenes(SceneRecipe(counts=(4, 4), width=64, height=48, radius=3), 1, seed=2)[0]
    again = Scene.from_dict(scene.to_dict())
    assert np.array_equal(again.centers, scene.centers) and np.array_equal(again.radii, scene.radii)
    assert (again.width, again.height, again.background) == (64, 48, scene.background)


@pytest.mark.parametrize("text", ["0-0", "0-3", "0", (0, 2), -1])
def test_parse_range_refuses_counts_below_one(text):
    with pytest.raises(ValueError, match="--counts: values must be at least 1, got (0|-1)"):
        parse_range(text, "--counts")


def test_parse_range_minimum_can_be_lifted_for_radii():
    assert parse_range("0.5-2", "--radius-range", float, minimum=None) == (0.5, 2.0)


def test_auto_radius_never_goes_below_the_visible_floor():
    assert auto_radius(32, 32, 10_000) == MIN_RADIUS_PX == 1.0
    assert auto_radius(224, 224, 5) == pytest.approx(0.04 * 224)
    with pytest.raises(ValueError, match="max_count: counts start at 1, got 0"):
        auto_radius(64, 64, 0)


def test_fit_radius_returns_the_auto_radius_when_it_packs():
    assert fit_radius(64, 64, 50) == auto_radius(64, 64, 50)
    assert fit_radius(224, 224, 5, relative_range=(0.5, 1.5)) == pytest.approx(0.04 * 224)


def test_fit_radius_names_the_largest_count_and_radius_that_fit():
    # 32 px, radius 1, gap 0.5, margin 1: centres' box 28 px, excluded radius 1.25,
    # available (28 + 2.5)^2 = 930.25; 0.5 * 930.25 / (pi * 1.25^2) = 94.7, so 94 circles fit.
    with pytest.raises(InfeasibleSceneError) as error:
        fit_radius(32, 32, 500, gap=0.5)
    message = str(error.value)
    assert "cannot pack 500-500 circles, radius 1," in message
    assert "at most 94 circles of radius 1 fit" in message and "for 500 circles" in message
