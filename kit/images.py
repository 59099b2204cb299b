"""Image files -> 8-bit RGB pixels: one set of decoding rules for every reader of photos.

The folder task (``study.data.folders``) trains on these pixels and ``photos verify``
rewrites files with the same rules (``open_rgb``), so a file verify keeps is decoded
exactly as training will see it. The rules: EXIF orientation applied; grayscale,
palette, CMYK and 16-bit images become 8-bit RGB (16-bit values are rescaled, not
clipped); alpha is composited on white.
"""

from __future__ import annotations

from os import PathLike

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["RESIZE_MODES", "ImageDecodeError", "decode_image", "open_rgb", "to_rgb"]

# How an image reaches a square ``size`` (see ``decode_image``).
RESIZE_MODES = ("crop", "squish", "pad")

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I", "F")


class ImageDecodeError(ValueError):
    """A file that is not a readable image; the message names the file and what is wrong with it."""


def open_rgb(path: str | PathLike[str]) -> Image.Image:
    """Decode a whole image file to an 8-bit RGB PIL image (EXIF orientation applied).

    The file is decoded fully here, so a truncated file fails now, not at first use.

    Raises:
        ImageDecodeError: the file is not an image PIL can read, is truncated or corrupt, or is empty.
        FileNotFoundError / PermissionError / IsADirectoryError: the file itself cannot be opened.
    """
    try:
        with Image.open(path) as image:
            image.load()
            rgb = to_rgb(ImageOps.exif_transpose(image))
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except UnidentifiedImageError:
        raise ImageDecodeError(f"image {str(path)!r}: not in an image format PIL can read") from None
    except Exception as error:  # PIL raises OSError, ValueError, SyntaxError, EOFError... for bad files
        why = str(error) or type(error).__name__
        kind = "truncated" if isinstance(error, EOFError) or "truncat" in why.lower() else "corrupt"
        raise ImageDecodeError(f"image {str(path)!r}: {kind} ({why})") from error
    width, height = rgb.size
    if width < 1 or height < 1:
        raise ImageDecodeError(f"image {str(path)!r}: empty ({width}x{height} pixels)")
    return rgb


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode -> 8-bit RGB (16-bit is rescaled, not clipped; alpha composited on white)."""
    if image.mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        image = Image.fromarray(np.clip(values / top * 255 + 0.5, 0, 255).astype(np.uint8))
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return image.convert("RGB")


def decode_image(path: str | PathLike[str], size: int | None = None, resize: str = "crop") -> np.ndarray:
    """Decode one image file to RGB uint8 ``[3, H, W]``, optionally resized to ``[3, size, size]``.

    Args:
        path: the image file.
        size: side of the square output; None keeps the image's own size.
        resize: how a non-square image reaches ``size`` (``RESIZE_MODES``): ``crop``
            scales the shorter side to ``size`` then crops the centre (fastai's integer
            size); ``squish`` stretches; ``pad`` scales the longer side to ``size`` then
            pads by reflection (fastai's PAD). Resampling is bilinear.

    Returns:
        uint8 ``[3, H, W]`` (C-contiguous).

    Raises:
        ImageDecodeError: the file is not a readable image (see ``open_rgb``).
        ValueError: ``resize`` is not one of ``RESIZE_MODES``, or ``size`` < 1.
    """
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize: expected one of {', '.join(RESIZE_MODES)}, got {resize!r}")
    if size is not None and size < 1:
        raise ValueError(f"size: expected at least 1 pixel, got {size}")
    image = open_rgb(path)
    if size is None:
        return np.ascontiguousarray(np.asarray(image).transpose(2, 0, 1))
    if resize == "squish":
        return np.ascontiguousarray(np.asarray(image.resize((size, size), Image.BILINEAR)).transpose(2, 0, 1))
    width, height = image.size
    scale = size / (min(width, height) if resize == "crop" else max(width, height))
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    pixels = np.asarray(image.resize((new_w, new_h), Image.BILINEAR))  # [h, w, 3]
    if resize == "crop":
        top, left = (new_h - size) // 2, (new_w - size) // 2
        pixels = pixels[top : top + size, left : left + size]
    else:
        pad_h, pad_w = size - new_h, size - new_w
        pixels = np.pad(pixels, ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)),
                        mode="symmetric")
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))
