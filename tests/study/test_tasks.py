"""study.data.tasks: counting tasks from synth, photo folders decoded once, the dataset cache."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import study.data.tasks as tasks
from study.errors import ConfigError, DataError
from study.config.spec import TrainSpec
from study.data.folders import check_data_available
from study.data.tasks import Split, Task, build_task
from study.config.scenes import rendered_scene_recipe, scene_recipe
from synth.scenes import MIN_RADIUS_PX


def counting_spec(**changes) -> TrainSpec:
    base = dict(counts="1-3", size=32, n_train=50, n_test=12, n_test_dewind=0, radius=3.0, seed=4)
    return TrainSpec(**{**base, **changes})


def test_counting_task_labels_match_scene_counts_and_split_80_20():
    task = build_task(counting_spec(aspect=1.5), "cpu")
    assert task.classes == ["1", "2", "3"]
    assert task.splits["train"].images.shape == (40, 3, 32, 48) and task.splits["train"].images.dtype == torch.uint8
    assert len(task.splits["valid"].labels) == 10 and len(task.splits["test"].labels) == 12
    for split in (task.splits["train"], task.splits["test"]):
        assert [s.count - 1 for s in split.scenes] == split.labels.tolist()
        assert all((s.width, s.height) == (48, 32) for s in split.scenes)
    # The test set is fresh: no test scene repeats a training scene.
    train_centres = {tuple(s.centers.ravel().round(6)) for s in task.splits["train"].scenes}
    assert not any(tuple(s.centers.ravel().round(6)) in train_centres for s in task.splits["test"].scenes)
    # Each scene's circles are drawn into its own image (ink where the first circle is).
    scene, image = task.splits["train"].scenes[0], task.splits["train"].images[0]
    x, y = scene.centers[0].astype(int)
    assert image[:, y, x].tolist() == [31, 119, 180]


def test_counting_task_is_reproducible_and_seeds_change_it():
    first, second = build_task(counting_spec(), "cpu"), build_task(counting_spec(), "cpu")
    other = build_task(counting_spec(seed=5), "cpu")  # data_seed -1: the data follows the seed
    assert torch.equal(first.splits["train"].images, second.splits["train"].images)
    assert not torch.equal(first.splits["train"].images, other.splits["train"].images)


def test_data_comes_from_the_data_seed_not_the_init_seed():
    def images(**changes):
        task = build_task(counting_spec(n_test_dewind=6, **changes), "cpu")
        return {name: task.split(name).images for name in ("train", *task.eval_splits)}

    same_data = [images(seed=seed, data_seed=7) for seed in (0, 1)]
    assert same_data[0].keys() == {"train", "valid", "test", "test_dewind"}
    assert all(torch.equal(same_data[0][name], same_data[1][name]) for name in same_data[0])
    assert tasks.data_key(counting_spec(seed=0, data_seed=7)) == tasks.data_key(counting_spec(seed=1, data_seed=7))
    assert tasks.data_key(counting_spec(seed=7)) == tasks.data_key(counting_spec(seed=3, data_seed=7))
    other = images(seed=0, data_seed=8)
    assert not any(torch.equal(same_data[0][name], other[name]) for name in other)


def test_data_key_holds_what_changes_the_data_and_nothing_else():
    key = tasks.data_key(counting_spec())
    for recipe in (dict(epochs=9), dict(aug="none"), dict(lr=1e-4), dict(arch="resnet18"), dict(eval_resize="crop"),
                   dict(batch_size=8), dict(precision="fp32"), dict(weights="imagenet")):
        assert tasks.data_key(counting_spec(**recipe)) == key, recipe
    for data in (dict(counts="2-4"), dict(size=48), dict(n_train=60), dict(n_test=5), dict(n_test_dewind=3),
                 dict(aspect=1.5), dict(radius=2.0), dict(sizes="varied"), dict(valid_pct=0.3), dict(data_seed=9)):
        assert tasks.data_key(counting_spec(**data)) != key, data


def test_test_sets_never_repeat_each_other_or_the_training_pool():
    task = build_task(counting_spec(n_test_dewind=12), "cpu")
    seen = [{tuple(s.centers.ravel().round(6)) for s in task.splits[name].scenes}
            for name in ("train", "test", "test_dewind")]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])


def test_cache_is_reused_by_spec_hash(tmp_path, monkeypatch):
    built = build_task(counting_spec(), "cpu", cache_dir=tmp_path, reuse=False)  # not from another test's memory
    assert len(list(tmp_path.glob("counting-*.pt"))) == 1
    monkeypatch.setattr(tasks, "_build_counting", lambda spec: pytest.fail("should load from the cache"))
    # recipe fields share data; reuse=False skips the in-memory copy so the file is what is read
    cached = build_task(counting_spec(epochs=9, aug="none"), "cpu", cache_dir=tmp_path, reuse=False)
    assert torch.equal(built.splits["valid"].images, cached.splits["valid"].images)
    assert [s.to_dict() for s in built.splits["test"].scenes] == [s.to_dict() for s in cached.splits["test"].scenes]
    with pytest.raises(pytest.fail.Exception):
        build_task(counting_spec(n_train=60), "cpu", cache_dir=tmp_path, reuse=False)  # another dataset: not cached


@pytest.fixture
def empty_memory_cache():
    tasks.clear_memory_cache()
    yield
    tasks.clear_memory_cache()


def test_memory_cache_returns_the_same_tensors_without_rebuilding(monkeypatch, empty_memory_cache):
    builds = []
    real_builder = tasks._build_counting
    monkeypatch.setattr(tasks, "_build_counting", lambda spec: builds.append(spec) or real_builder(spec))
    first = build_task(counting_spec(), "cpu")
    again = build_task(counting_spec(seed=4, data_seed=4, epochs=3, aug="none"), "cpu")  # same data key
    assert len(builds) == 1
    assert again.splits["train"].images is first.splits["train"].images
    assert again.splits["test"].scenes is first.splits["test"].scenes
    other = build_task(counting_spec(n_train=60), "cpu")  # another dataset is built
    assert len(builds) == 2 and other.splits["train"].images.shape[0] == 48
    fresh = build_task(counting_spec(), "cpu", reuse=False)  # opting out builds anew, with equal content
    assert len(builds) == 3 and fresh.splits["train"].images is not first.splits["train"].images
    assert torch.equal(fresh.splits["train"].images, first.splits["train"].images)


def test_a_task_in_memory_still_writes_another_run_folders_disk_cache(tmp_path: Path, empty_memory_cache):
    first = build_task(counting_spec(), "cpu", cache_dir=tmp_path / "run1" / ".cache")
    second = build_task(counting_spec(), "cpu", cache_dir=tmp_path / "run2" / ".cache")
    assert list((tmp_path / "run2" / ".cache").iterdir())  # the second run's folder has its own cache file
    assert torch.equal(second.splits["train"].images, first.splits["train"].images)
    assert build_task(counting_spec(), "cpu", cache_dir=tmp_path / "run2" / ".cache") is second  # then reused


def test_memory_cache_keeps_at_most_its_byte_budget(monkeypatch, empty_memory_cache):
    one = build_task(counting_spec(), "cpu")
    monkeypatch.setattr(tasks, "MEMORY_CACHE_BYTES", int(one.nbytes * 1.5))  # room for one such task
    build_task(counting_spec(seed=5), "cpu")  # a second dataset evicts the least recently used
    assert len(tasks._MEMORY) == 1
    builds = []
    real_builder = tasks._build_counting
    monkeypatch.setattr(tasks, "_build_counting", lambda spec: builds.append(spec) or real_builder(spec))
    build_task(counting_spec(seed=5), "cpu")
    assert builds == []  # the most recent one stayed
    build_task(counting_spec(), "cpu")
    assert len(builds) == 1  # the first was evicted, so it is rebuilt
    monkeypatch.setattr(tasks, "MEMORY_CACHE_BYTES", one.nbytes // 2)  # a task larger than the budget
    tasks.clear_memory_cache()
    build_task(counting_spec(), "cpu")
    assert len(tasks._MEMORY) == 0


def log_correlation(scenes, descriptor: str) -> float:
    from synth.numerosity import describe_scenes

    rows = describe_scenes(scenes)
    return float(np.corrcoef(np.log([r["count"] for r in rows]), np.log([r[descriptor] for r in rows]))[0, 1])


def test_controlled_test_set_decouples_count_from_total_ink():
    spec = counting_spec(counts="20-24", size=64, radius=0.0, n_train=20, n_test=150, n_test_dewind=150)
    task = build_task(spec, "cpu")
    assert task.eval_splits == ["valid", "test", "test_dewind"]
    dewind = task.split("test_dewind")
    images, labels, scenes = dewind.images, dewind.labels, dewind.scenes
    assert images.shape == (150, 3, 64, 64) and images.dtype == torch.uint8
    assert labels.tolist() == [s.count - 20 for s in scenes] and set(labels.tolist()) == set(range(5))
    radius = scene_recipe(spec).radius
    radii = np.concatenate([s.radii for s in scenes])
    assert radii.min() >= 0.5 * radius - 1e-9 and radii.max() <= 1.5 * radius + 1e-9 and radii.std() > 0.1 * radius
    assert log_correlation(task.split("test").scenes, "tsa") > 0.99  # fixed radius: ink = N x circle area
    assert abs(log_correlation(scenes, "tsa")) < 0.3  # controlled: ink says little about N
    assert abs(log_correlation(scenes, "size")) < 0.25 and abs(log_correlation(scenes, "spacing")) < 0.25


def test_no_controlled_test_set_when_n_test_dewind_is_zero():
    task = build_task(counting_spec(n_test_dewind=0), "cpu")
    assert task.eval_splits == ["valid", "test"] and "test_dewind" not in task.splits  # counting_spec: 0
    with pytest.raises(ValueError, match="no split 'test_dewind'; valid: train, valid, test"):
        task.split("test_dewind")


def test_auto_radius_and_gap_follow_the_size_and_the_coverage_cap():
    spec = scene_recipe(TrainSpec(counts="45-50", size=64))
    assert spec.min_gap == 1.0
    assert 50 * math.pi * (spec.radius + spec.min_gap / 2) ** 2 <= 0.3 * 64 * 64 + 1e-6
    small = scene_recipe(TrainSpec(counts="1-5", size=224))
    assert small.radius == pytest.approx(0.04 * 224) and small.min_gap == 224 / 64
    varied = scene_recipe(TrainSpec(counts="1-5", size=224, sizes="varied"))
    assert varied.radius_range == pytest.approx((0.5 * small.radius, 1.5 * small.radius))


def test_explicit_radius_that_cannot_pack_is_a_config_error():
    with pytest.raises(ConfigError, match="radius"):
        scene_recipe(TrainSpec(counts="45-50", size=32, radius=6.0))
    with pytest.raises(ConfigError, match="radius: expected at least 1 px"):
        scene_recipe(TrainSpec(counts="1-5", size=32, radius=0.5))


def test_counts_that_cannot_pack_at_the_smallest_radius_name_the_limits():
    # 500 circles of >= 1 px with a 1 px gap need more than half of a 32 x 32 canvas.
    with pytest.raises(ConfigError) as error:
        scene_recipe(TrainSpec(counts="400-500", size=32, n_test_dewind=0))
    message = str(error.value)
    assert message.startswith("counts: cannot pack 400-500 circles")
    assert "at most" in message and "circles of radius 1 fit" in message and "fixed radius at most" in message
    assert "\n" not in message


def test_auto_radius_never_goes_below_one_pixel():
    tiny = scene_recipe(TrainSpec(counts="1-3", size=16, n_test_dewind=0))  # 4% of 16 px = 0.64 px
    assert tiny.radius == MIN_RADIUS_PX
    varied = scene_recipe(TrainSpec(counts="1-3", size=32, sizes="varied", n_test_dewind=0))  # r = 1.28
    assert varied.radius_range == pytest.approx((1.0, 1.92))


def test_dewind_task_builds_when_numerosity_is_available():
    pytest.importorskip("synth.numerosity")
    task = build_task(counting_spec(sizes="dewind", size=64, radius=0.0, n_train=20, n_test=0), "cpu")
    assert len(task.splits["train"].labels) == 16 and task.splits["test"].images.shape[0] == 0


# ---------------------------------------------------------------------- folders
def write_photo_folder(root: Path) -> None:
    """Two classes with every odd format the decoder must handle, and three bad files."""
    rng = np.random.default_rng(0)
    cats, kittens = root / "cats", root / "kittens"
    cats.mkdir(parents=True)
    kittens.mkdir()
    for index in range(3):
        Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(cats / f"rgb{index}.jpg")
        Image.fromarray(rng.integers(0, 255, (30, 20, 3), dtype=np.uint8)).save(kittens / f"rgb{index}.png")
    Image.fromarray(rng.integers(0, 255, (24, 24, 4), dtype=np.uint8), "RGBA").save(cats / "alpha.png")
    Image.fromarray(rng.integers(0, 255, (24, 24), dtype=np.uint8), "L").save(cats / "gray.jpeg")
    Image.fromarray(np.full((24, 24), 65535, dtype=np.uint16)).save(kittens / "deep16.png")
    Image.fromarray(rng.integers(0, 4, (24, 24), dtype=np.uint8), "P").save(kittens / "palette.png")
    (kittens / "corrupt.jpg").write_bytes(b"not an image at all")
    (kittens / "empty.png").write_bytes(b"")
    truncated = (cats / "rgb0.jpg").read_bytes()
    (cats / "truncated.jpg").write_bytes(truncated[: len(truncated) // 2])


def test_folder_task_decodes_odd_formats_and_lists_bad_files(tmp_path):
    write_photo_folder(tmp_path / "photos")
    task = build_task(TrainSpec(task="folder", data=str(tmp_path / "photos"), size=16), "cpu")
    assert task.classes == ["cats", "kittens"]
    assert sorted(task.skipped_files) == ["cats/truncated.jpg", "kittens/corrupt.jpg", "kittens/empty.png"]
    assert len(task.splits["train"].labels) + len(task.splits["valid"].labels) == 10
    assert set(task.splits["valid"].labels.tolist()) == {0, 1}  # stratified: both classes in valid
    assert task.splits["train"].images.shape[1:] == (3, 16, 16) and task.splits["test"].images.shape[0] == 0
    assert task.splits["train"].scenes is None


@pytest.mark.parametrize(
    "layout, message",
    [
        (None, "does not exist"),
        ({"only": 2}, "at least 2 class"),
        ({"good": 2, "broken": 0}, "broken.*no usable image"),
    ],
)
def test_bad_folders_raise_data_error_naming_the_folder(tmp_path, layout, message):
    root = tmp_path / "data"
    if layout is not None:
        for name, count in layout.items():
            (root / name).mkdir(parents=True)
            for index in range(count):
                Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(root / name / f"{index}.png")
            (root / name / "junk.jpg").write_bytes(b"junk")
    with pytest.raises(DataError, match=message) as error:
        build_task(TrainSpec(task="folder", data=str(root), size=16), "cpu")
    assert str(root) in str(error.value)
    assert isinstance(error.value, ValueError)


def test_a_missing_photo_folder_is_refused_before_any_work_with_the_layout_to_create(tmp_path):
    missing = tmp_path / "data" / "kittencat"
    with pytest.raises(DataError, match="does not exist") as error:
        check_data_available(TrainSpec(task="folder", data=str(missing)))
    assert f"{missing}/cat/*.jpg, {missing}/kitten/*.jpg" in str(error.value)  # the post's classes
    with pytest.raises(DataError, match="<class_a>"):  # any other folder: placeholder classes
        check_data_available(TrainSpec(task="folder", data=str(tmp_path / "elsewhere")))
    missing.mkdir(parents=True)
    check_data_available(TrainSpec(task="folder", data=str(missing)))  # present: decoding decides the rest
    check_data_available(counting_spec())  # scenes are drawn: always available


def test_a_task_holds_its_splits_by_name():
    images, labels = torch.zeros((3, 3, 4, 4), dtype=torch.uint8), torch.tensor([0, 1, 0])
    task = Task(classes=["a", "b"], splits={"train": Split(images, labels), "valid": Split(images[:1], labels[:1]),
                                            "test": Split(images[:0], labels[:0])})
    assert len(task.splits["train"]) == 3 and task.canvas_hw == (4, 4) and task.eval_splits == ["valid"]
    assert task.nbytes == (3 + 1) * (48 + 8)
    with pytest.raises(ValueError, match="expected train, valid"):
        Task(classes=["a", "b"], splits={"train": Split(images, labels)})
    with pytest.raises(ValueError, match="got train, valid, tset"):
        Task(classes=["a", "b"], splits={"train": Split(images, labels), "valid": Split(images, labels),
                                         "tset": Split(images, labels)})


def write_solid_classes(root: Path, names: list[str], per_class: int = 3) -> dict[str, int]:
    """One folder per name, each image a solid grey unique to its folder; returns name -> grey."""
    greys = {}
    for index, name in enumerate(names):
        (root / name).mkdir(parents=True)
        greys[name] = 10 + 20 * index
        for image in range(per_class):
            Image.fromarray(np.full((8, 8, 3), greys[name], dtype=np.uint8)).save(root / name / f"{image}.png")
    return greys


@pytest.mark.skipif(os.name == "nt", reason="newlines and some characters are not legal in Windows names")
def test_class_names_survive_any_legal_folder_name_and_set_aside_folders_are_ignored(tmp_path):
    root = tmp_path / "photos"
    names = ["10", "9", "two words", "ça\nva", "Zebra", "apple", "ß"]
    greys = write_solid_classes(root, names)
    # Set aside: a hidden folder (Finder litter) and a "_" folder whose images would
    # otherwise sort before every class and shift every label by one.
    write_solid_classes(root, [".DS_Store", "_quarantine", "__MACOSX"])
    write_solid_classes(root / "apple", [".thumbnails", "_rejected"])  # set-aside folders inside a class too
    (root / "README.txt").write_text("a stray file at the top level is not a class")
    for cache in (tmp_path / "cache", tmp_path / "cache"):  # built, then loaded from the cache
        task = build_task(TrainSpec(task="folder", data=str(root), size=16, valid_pct=0.34), "cpu", cache_dir=cache)
        assert sorted(task.classes) == sorted(names)
        assert task.classes.index("Zebra") < task.classes.index("apple")  # code-point order for text names
        for split in ("train", "valid"):
            images, labels = task.split(split).images, task.split(split).labels
            shown = [greys[task.classes[label]] for label in labels.tolist()]
            assert images[:, 0, 0, 0].tolist() == shown  # every label names the folder its image came from
        assert len(task.splits["train"].labels) + len(task.splits["valid"].labels) == 3 * len(names)


def test_folders_named_by_numbers_sort_numerically(tmp_path):
    write_solid_classes(tmp_path / "counts", ["10", "9", "1"], per_class=2)
    task = build_task(TrainSpec(task="folder", data=str(tmp_path / "counts"), size=16, valid_pct=0.5), "cpu")
    assert task.classes == ["1", "9", "10"]  # class index distance is count distance


def test_folder_split_follows_the_data_seed(tmp_path):
    write_solid_classes(tmp_path / "data", ["a", "b"], per_class=10)
    images = {}
    for seed, data_seed in ((0, 3), (1, 3), (0, 4)):
        task = build_task(TrainSpec(task="folder", data=str(tmp_path / "data"), size=16, seed=seed,
                                    data_seed=data_seed), "cpu")
        images[seed, data_seed] = task.splits["valid"].images[:, 0, 0, 0].tolist(), task.splits["valid"].labels.tolist()
    assert images[0, 3] == images[1, 3]
    assert task.eval_splits == ["valid"] and len(task.split("test")) == 0


def test_resolve_device_auto_and_a_missing_cuda():
    import torch

    from study.data.tasks import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available; use --device cpu or auto"):
            resolve_device("cuda")


# ---------------------------------------------------------------- held-out counts and scene_size


def test_held_out_counts_never_reach_training_and_get_their_own_split():
    spec = TrainSpec(counts="1-5", held_out="3", n_train=100, n_test=50, n_test_dewind=40, size=32)
    task = build_task(spec)
    for split in ("train", "valid", "test", "test_dewind"):
        assert 3 - 1 not in task.splits[split].labels.tolist(), split  # class index of count 3
    held_out = task.splits["test_held_out"]
    assert held_out.labels.tolist() == [2] * 50 and held_out.images.shape == (50, 3, 32, 32)
    assert [s.count for s in held_out.scenes] == [3] * 50
    assert task.classes == ["1", "2", "3", "4", "5"]
    assert task.eval_splits == ["valid", "test", "test_dewind", "test_held_out"]
    # the seen counts are spread evenly: 100 images over 4 counts
    seen = torch.cat([task.splits["train"].labels, task.splits["valid"].labels])
    assert sorted(torch.bincount(seen, minlength=5).tolist()) == [0, 25, 25, 25, 25]


def test_extrapolation_uses_the_radius_of_the_whole_range():
    inside = scene_recipe(TrainSpec(counts="1-30", held_out="21-30", size=64, n_test_dewind=0))
    whole = scene_recipe(TrainSpec(counts="1-30", size=64, n_test_dewind=0))
    assert inside.radius == whole.radius and inside.counts == (1, 30)


def test_no_held_out_split_without_held_out_counts():
    task = build_task(TrainSpec(counts="1-3", n_train=20, n_test=6, n_test_dewind=0, size=32))
    assert "test_held_out" not in task.eval_splits
    with pytest.raises(ValueError, match="test_held_out"):
        task.split("test_held_out")


def test_scene_size_gives_the_same_scenes_at_every_size():
    small = build_task(TrainSpec(counts="1-5", n_train=30, n_test=10, n_test_dewind=0, size=32, scene_size=64))
    large = build_task(TrainSpec(counts="1-5", n_train=30, n_test=10, n_test_dewind=0, size=64, scene_size=64))
    assert small.splits["train"].images.shape[-1] == 32 and large.splits["train"].images.shape[-1] == 64
    for a, b in zip(small.splits["test"].scenes, large.splits["test"].scenes):
        np.testing.assert_allclose(a.centers * 2, b.centers)
        np.testing.assert_allclose(a.radii * 2, b.radii)
        assert a.count == b.count and (a.width, b.width) == (32, 64)
    ink = lambda images: float((255 - images.float()).sum())  # noqa: E731
    assert ink(small.splits["test"].images) / ink(large.splits["test"].images) == pytest.approx(0.25, abs=0.03)


def test_rendered_scene_recipe_is_the_scene_recipe_scaled_to_size():
    spec = TrainSpec(counts="1-5", size=32, scene_size=128, n_test_dewind=0)
    drawn, shown = scene_recipe(spec), rendered_scene_recipe(spec)
    assert (drawn.width, shown.width) == (128, 32)
    assert shown.radius == pytest.approx(drawn.radius / 4) and shown.min_gap == pytest.approx(drawn.min_gap / 4)
    plain = TrainSpec(counts="1-5", size=32, n_test_dewind=0)
    assert rendered_scene_recipe(plain) == scene_recipe(plain)


def test_stimulus_fields_reach_the_scenes_and_survive_the_cache(tmp_path):
    spec = TrainSpec(counts="1-4", shape="square", distractors="2-3", distractor_kind="colour", n_train=40,
                     n_test=8, n_test_dewind=0, size=64)
    built = build_task(spec, cache_dir=tmp_path)
    cached = build_task(spec, cache_dir=tmp_path)  # read back from the cache file
    for task in (built, cached):
        for scene, label in zip(task.splits["train"].scenes, task.splits["train"].labels.tolist()):
            assert scene.count == label + 1  # the label counts targets only
            assert 2 <= scene.n_items - scene.count <= 3
            assert set(scene.shapes.tolist()) == {1}  # squares
    assert torch.equal(built.splits["train"].images, cached.splits["train"].images)


def test_overlap_cells_get_a_controlled_set_without_overlap():
    spec = TrainSpec(counts="1-5", overlap=True, n_train=20, n_test=5, n_test_dewind=10, size=64)
    task = build_task(spec)
    assert len(task.splits["test_dewind"].scenes) == 10
    with pytest.raises(ConfigError, match="overlap"):
        scene_recipe(TrainSpec(counts="1-5", overlap=True, sizes="dewind", size=64))
