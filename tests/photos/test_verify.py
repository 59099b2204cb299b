"""photos.verify on folders made in the test: conversions, quarantine, duplicates, dry run."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from photo_server import image_bytes

from photos.errors import PhotosError
from photos.verify import list_images, verify_folder


def _save(path: Path, image: Image.Image, fmt: str, **options) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format=fmt, **options)


def _snapshot(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """A class folder with one file of every kind verify handles."""
    folder = tmp_path / "cat"
    folder.mkdir()
    (folder / "a_rgb.jpg").write_bytes(image_bytes(80, 70, "JPEG", seed=1))
    (folder / "b_copy.jpg").write_bytes(image_bytes(80, 70, "JPEG", seed=1))  # same bytes as a_rgb.jpg
    _save(folder / "palette.png", Image.open(io.BytesIO(image_bytes(64, 64, "PNG", mode="P", seed=2))), "PNG")
    rgba = Image.new("RGBA", (64, 64), (255, 0, 0, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))  # fully transparent: composited on white
    _save(folder / "rgba.png", rgba, "PNG")
    _save(folder / "gray.jpg", Image.new("L", (64, 96), 100), "JPEG")
    gray16 = Image.fromarray(np.full((64, 64), 65535, dtype=np.uint16))
    _save(folder / "gray16.png", gray16, "PNG")
    _save(folder / "cmyk.jpg", Image.new("CMYK", (64, 64), (0, 0, 0, 0)), "JPEG")
    _save(folder / "sub/anim.gif", Image.open(io.BytesIO(image_bytes(64, 64, "GIF", mode="P", seed=3))), "GIF")
    (folder / "truncated.jpg").write_bytes(image_bytes(128, 128, "JPEG", seed=4)[:1500])
    (folder / "corrupt.jpg").write_bytes(np.random.default_rng(5).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    (folder / "tiny.png").write_bytes(image_bytes(8, 8, "PNG", seed=6))
    (folder / "_manifest.csv").write_text("not checked\n")
    (folder / ".hidden.jpg").write_text("not checked\n")
    return folder


def test_verify_converts_and_quarantines(mixed: Path) -> None:
    summary = verify_folder(mixed, min_size=32, quiet=True)
    files = {p.relative_to(mixed).as_posix() for p in list_images(mixed)}
    assert files == {"a_rgb.jpg", "palette.png", "rgba.png", "gray.jpg", "gray16.png", "cmyk.jpg", "sub/anim.png"}
    for name in files:
        with Image.open(mixed / name) as image:
            image.load()
            assert image.mode == "RGB", name
    with Image.open(mixed / "rgba.png") as image:
        assert image.getpixel((0, 0)) == (255, 255, 255) and image.getpixel((5, 5)) == (255, 0, 0)
    with Image.open(mixed / "gray16.png") as image:
        assert image.getpixel((3, 3)) == (255, 255, 255)  # 16-bit white stays white, not clipped garbage
    with Image.open(mixed / "gray.jpg") as image:
        assert image.size == (64, 96) and abs(image.getpixel((10, 10))[0] - 100) <= 2
    quarantined = {p.relative_to(mixed / "_quarantine").as_posix() for p in (mixed / "_quarantine").rglob("*")
                   if p.is_file()}
    assert quarantined == {"truncated/truncated.jpg", "corrupt/corrupt.jpg", "too-small/tiny.png",
                           "duplicate/b_copy.jpg"}
    assert (mixed / "_manifest.csv").read_text() == "not checked\n" and (mixed / ".hidden.jpg").exists()
    with open(mixed / "_verify.csv", newline="") as handle:
        report = {row["file"]: row for row in csv.DictReader(handle)}
    assert len(report) == 11
    assert report["b_copy.jpg"]["detail"] == "same bytes as a_rgb.jpg"
    assert report["truncated.jpg"]["moved_to"] == "_quarantine/truncated/truncated.jpg"
    assert report["palette.png"]["action"] == "convert" and report["palette.png"]["reason"] == "P -> RGB"
    assert report["sub/anim.gif"]["moved_to"] == "sub/anim.png"
    assert report["a_rgb.jpg"]["action"] == "keep"
    assert report["corrupt.jpg"]["detail"] == "no image format PIL knows"
    assert "truncated" in report["truncated.jpg"]["detail"]
    assert summary.converted() == 6 and sum(summary.quarantined().values()) == 4
    again = verify_folder(mixed, min_size=32, quiet=True)  # a clean folder stays as it is
    assert {c.action for c in again.checks} == {"keep"} and len(again.checks) == 7


def test_min_size_is_the_shorter_side(mixed: Path) -> None:
    summary = verify_folder(mixed, min_size=65, quiet=True)
    small = {c.file for c in summary.checks if c.reason == "too-small"}
    assert small == {"tiny.png", "palette.png", "rgba.png", "gray.jpg", "gray16.png", "cmyk.jpg", "sub/anim.gif"}
    assert (mixed / "a_rgb.jpg").exists()  # 80x70: shorter side 70 >= 65


def test_dry_run_changes_nothing(mixed: Path) -> None:
    before = _snapshot(mixed)
    summary = verify_folder(mixed, min_size=32, dry_run=True, quiet=True)
    assert _snapshot(mixed) == before and summary.report is None
    text = summary.text()
    assert "would quarantine truncated.jpg: truncated" in text and "would convert rgba.png: RGBA -> RGB" in text
    assert "nothing changed" in text


def test_task_root_keeps_class_paths(tmp_path: Path) -> None:
    root = tmp_path / "kittencat"
    for name, seed in (("cat/1.jpg", 1), ("cat/2.jpg", 2), ("kitten/1.jpg", 3), ("kitten/2.jpg", 1)):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(image_bytes(70, 70, "JPEG", seed=seed))
    verify_folder(root, quiet=True)
    # the same photo in both classes: the later path (kitten/) is quarantined, class kept in its path
    assert (root / "_quarantine/duplicate/kitten/2.jpg").exists() and (root / "cat/1.jpg").exists()
    assert sorted(p.name for p in root.iterdir()) == ["_quarantine", "_verify.csv", "cat", "kitten"]


def test_bad_folder(tmp_path: Path) -> None:
    with pytest.raises(PhotosError, match="nope: not found"):
        verify_folder(tmp_path / "nope")
    (tmp_path / "file.jpg").write_bytes(b"x")
    with pytest.raises(PhotosError, match="file.jpg: is a file"):
        verify_folder(tmp_path / "file.jpg")
