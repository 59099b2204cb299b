"""kit.images on files written in the test: known pixels in, known pixels out; bad files named."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kit.images import ImageDecodeError, decode_image, open_rgb

# A 2x2 image: red, green / blue, white (rows top to bottom).
PIXELS = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [255, 255, 255]]], dtype=np.uint8)  # [H, W, 3]


def test_a_two_by_two_png_decodes_to_its_pixels_channels_first(tmp_path: Path):
    Image.fromarray(PIXELS).save(tmp_path / "tiny.png")
    pixels = decode_image(tmp_path / "tiny.png")
    assert pixels.shape == (3, 2, 2) and pixels.dtype == np.uint8 and pixels.flags.c_contiguous
    assert pixels[:, 0, 0].tolist() == [255, 0, 0] and pixels[:, 0, 1].tolist() == [0, 255, 0]
    assert pixels[:, 1, 0].tolist() == [0, 0, 255] and pixels[:, 1, 1].tolist() == [255, 255, 255]


def test_grayscale_palette_sixteen_bit_and_alpha_become_8_bit_rgb(tmp_path: Path):
    Image.fromarray(np.array([[0, 100], [200, 255]], dtype=np.uint8), "L").save(tmp_path / "gray.png")
    assert decode_image(tmp_path / "gray.png")[:, 0, 1].tolist() == [100, 100, 100]
    Image.fromarray(PIXELS).convert("P").save(tmp_path / "palette.png")
    assert np.array_equal(decode_image(tmp_path / "palette.png"), PIXELS.transpose(2, 0, 1))
    Image.fromarray(np.full((8, 8), 32768, dtype=np.uint16)).save(tmp_path / "half.png")
    assert decode_image(tmp_path / "half.png", 8, "squish").mean() == pytest.approx(128, abs=1)  # rescaled, not clipped
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # red, half transparent, over white
    rgba[..., 3] = 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    pixel = decode_image(tmp_path / "alpha.png", 8, "squish")[:, 0, 0]
    assert pixel[0] == 255 and 120 < pixel[1] < 135 and pixel[1] == pixel[2]
    assert open_rgb(tmp_path / "alpha.png").mode == "RGB"


def test_resize_modes_crop_squish_and_pad(tmp_path: Path):
    wide = np.zeros((10, 40, 3), dtype=np.uint8)
    wide[:, :10] = 255  # a white left quarter
    Image.fromarray(wide).save(tmp_path / "wide.png")
    crop = decode_image(tmp_path / "wide.png", 10, "crop")
    squish = decode_image(tmp_path / "wide.png", 10, "squish")
    pad = decode_image(tmp_path / "wide.png", 10, "pad")
    assert crop.shape == squish.shape == pad.shape == (3, 10, 10)
    assert crop.max() == 0  # the centre crop loses the white left quarter
    assert squish[:, :, :2].min() > 200  # squish keeps it, squeezed
    assert pad[:, 4:6, 0].min() > 200  # the 40x10 strip scaled to 10x3 (white at the left), padded above and below


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_truncated_file_is_an_error_naming_the_file(tmp_path: Path, fmt: str):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, format=fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ImageDecodeError, match="truncated") as error:
        decode_image(path, 8)
    assert str(path) in str(error.value)


def test_a_file_that_is_no_image_is_an_error_naming_the_file(tmp_path: Path):
    (tmp_path / "notes.jpg").write_text("not an image at all")
    with pytest.raises(ImageDecodeError, match="not in an image format PIL can read") as error:
        decode_image(tmp_path / "notes.jpg")
    assert str(tmp_path / "notes.jpg") in str(error.value)
    assert isinstance(error.value, ValueError)  # callers that catch ValueError keep working


def test_bad_arguments_name_the_value_and_the_choices(tmp_path: Path):
    Image.fromarray(PIXELS).save(tmp_path / "tiny.png")
    with pytest.raises(ValueError, match="resize: expected one of crop, squish, pad, got 'stretch'"):
        decode_image(tmp_path / "tiny.png", 4, "stretch")
    with pytest.raises(ValueError, match="size: expected at least 1 pixel, got 0"):
        decode_image(tmp_path / "tiny.png", 0)
    with pytest.raises(FileNotFoundError):
        decode_image(tmp_path / "missing.png")
