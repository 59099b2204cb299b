"""study.tasks: counting tasks from synth, photo folders decoded once, the dataset cache."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import study.tasks as tasks
from study.errors import ConfigError
from study.spec import TrainSpec
from study.tasks import DataError, build_task, decode_image, scene_spec


def counting_spec(**changes) -> TrainSpec:
    base = dict(counts="1-3", size=32, n_train=50, n_test=12, radius=3.0, seed=4)
    return TrainSpec(**{**base, **changes})


def test_counting_task_labels_match_scene_counts_and_split_80_20():
    task = build_task(counting_spec(aspect=1.5), "cpu")
    assert task.classes == ["1", "2", "3"]
    assert task.train_images.shape == (40, 3, 32, 48) and task.train_images.dtype == torch.uint8
    assert len(task.valid_labels) == 10 and len(task.test_labels) == 12
    for scenes, labels in ((task.train_scenes, task.train_labels), (task.test_scenes, task.test_labels)):
        assert [s.count - 1 for s in scenes] == labels.tolist()
        assert all((s.width, s.height) == (48, 32) for s in scenes)
    # The test set is fresh: no test scene repeats a training scene.
    train_centres = {tuple(s.centers.ravel().round(6)) for s in task.train_scenes}
    assert not any(tuple(s.centers.ravel().round(6)) in train_centres for s in task.test_scenes)
    # Each scene's circles are drawn into its own image (ink where the first circle is).
    scene, image = task.train_scenes[0], task.train_images[0]
    x, y = scene.centers[0].astype(int)
    assert image[:, y, x].tolist() == [31, 119, 180]


def test_counting_task_is_reproducible_and_seeds_change_it():
    first, second = build_task(counting_spec(), "cpu"), build_task(counting_spec(), "cpu")
    other = build_task(counting_spec(seed=5), "cpu")
    assert torch.equal(first.train_images, second.train_images)
    assert not torch.equal(first.train_images, other.train_images)


def test_cache_is_reused_by_spec_hash(tmp_path, monkeypatch):
    built = build_task(counting_spec(), "cpu", cache_dir=tmp_path)
    assert len(list(tmp_path.glob("counting-*.pt"))) == 1
    monkeypatch.setattr(tasks, "_build_counting", lambda spec: pytest.fail("should load from the cache"))
    cached = build_task(counting_spec(epochs=9, aug="none"), "cpu", cache_dir=tmp_path)  # recipe fields share data
    assert torch.equal(built.valid_images, cached.valid_images)
    assert [s.to_dict() for s in built.test_scenes] == [s.to_dict() for s in cached.test_scenes]
    with pytest.raises(pytest.fail.Exception):
        build_task(counting_spec(n_train=60), "cpu", cache_dir=tmp_path)  # a different dataset is not cached


def test_auto_radius_and_gap_follow_the_size_and_the_coverage_cap():
    spec = scene_spec(TrainSpec(counts="45-50", size=64))
    assert spec.min_gap == 1.0
    assert 50 * math.pi * (spec.radius + spec.min_gap / 2) ** 2 <= 0.3 * 64 * 64 + 1e-6
    small = scene_spec(TrainSpec(counts="1-5", size=224))
    assert small.radius == pytest.approx(0.04 * 224) and small.min_gap == 224 / 64
    varied = scene_spec(TrainSpec(counts="1-5", size=224, sizes="varied"))
    assert varied.radius_range == pytest.approx((0.5 * small.radius, 1.5 * small.radius))


def test_explicit_radius_that_cannot_pack_is_a_config_error():
    with pytest.raises(ConfigError, match="radius"):
        scene_spec(TrainSpec(counts="45-50", size=32, radius=6.0))


def test_dewind_task_builds_when_numerosity_is_available():
    pytest.importorskip("synth.numerosity")
    task = build_task(counting_spec(sizes="dewind", size=64, radius=0.0, n_train=20, n_test=0), "cpu")
    assert len(task.train_labels) == 16 and task.test_images.shape[0] == 0


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
    assert len(task.train_labels) + len(task.valid_labels) == 10
    assert set(task.valid_labels.tolist()) == {0, 1}  # stratified: both classes in valid
    assert task.train_images.shape[1:] == (3, 16, 16) and task.test_images.shape[0] == 0
    assert task.train_scenes is None


def test_sixteen_bit_and_rgba_convert_to_8_bit_rgb(tmp_path):
    Image.fromarray(np.full((8, 8), 32768, dtype=np.uint16)).save(tmp_path / "half.png")
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # red, half transparent, over white
    rgba[..., 3] = 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    assert decode_image(tmp_path / "half.png", 8, "squish").mean() == pytest.approx(128, abs=1)
    pixel = decode_image(tmp_path / "alpha.png", 8, "squish")[:, 0, 0]
    assert pixel[0] == 255 and 120 < pixel[1] < 135 and pixel[1] == pixel[2]  # red at half alpha over white


def test_resize_modes_crop_squish_and_pad(tmp_path):
    wide = np.zeros((10, 40, 3), dtype=np.uint8)
    wide[:, :10] = 255  # a white left quarter
    Image.fromarray(wide).save(tmp_path / "wide.png")
    crop = decode_image(tmp_path / "wide.png", 10, "crop")
    squish = decode_image(tmp_path / "wide.png", 10, "squish")
    pad = decode_image(tmp_path / "wide.png", 10, "pad")
    assert crop.shape == squish.shape == pad.shape == (3, 10, 10)
    assert crop.max() == 0  # the centre crop loses the white left quarter
    assert squish[:, :, :2].min() > 200  # squish keeps it, squeezed
    assert pad.shape == (3, 10, 10) and pad[:, 4:6, 0].min() > 200


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


def test_resolve_device_auto_and_a_missing_cuda():
    import torch

    from study.tasks import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available; use --device cpu or auto"):
            resolve_device("cuda")
