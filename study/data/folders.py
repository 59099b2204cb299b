"""The folder task on disk: one sub-folder of images per class, listed and decoded (no torch).

- ``class_folders`` / ``folder_files``: which folders are classes and which files are
  images of them (hidden and ``_`` folders are set aside: ``_quarantine``, ``.DS_Store``).
- ``decode_folder``: every image decoded with ``kit.images.decode_image``, unreadable
  files listed instead of failing the task.
- ``check_data_available``: the cheap check an executor runs before a cell, so a cell
  whose photo folder is not on this machine is skipped with the layout to create.

Every ``DataError`` about the folder's layout says what to put where
(``PHOTO_LAYOUTS`` knows the class names of the post's photo tasks).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from kit.images import ImageDecodeError, decode_image
from study.config.spec import TrainSpec
from study.errors import DataError

__all__ = ["PHOTO_LAYOUTS", "check_data_available", "class_folders", "decode_folder", "folder_error", "folder_files"]

# The class folders the post's photo tasks expect, by the task folder's name; the layout hint
# of any other folder names placeholder classes.
PHOTO_LAYOUTS = {
    "paintings": ("impressionist", "modernist"),
    "kittencat": ("cat", "kitten"),
}


def folder_error(root: Path, problem: str) -> DataError:
    """A ``DataError`` for a photo folder that cannot be used, with the layout to create.

    Args:
        root: the task folder (``spec.data``, resolved).
        problem: what is wrong, e.g. ``does not exist or is not a folder``.

    Returns:
        ``data: folder 'ROOT' PROBLEM; put one sub-folder of images per class there
        (ROOT/<class>/*.jpg, ...; .jpg/.png), then rerun the same command``.
    """
    classes = PHOTO_LAYOUTS.get(root.name, ("<class_a>", "<class_b>"))
    layout = ", ".join(f"{root / name}/*.jpg" for name in classes)
    return DataError(
        f"data: folder {str(root)!r} {problem}; put one sub-folder of images per class there "
        f"({layout}; .jpg/.png), then rerun the same command"
    )


def check_data_available(spec: TrainSpec) -> None:
    """Refuse, before any work, a cell whose data is not on this machine.

    Cheap (one ``stat``, no listing, no decoding): a folder task's folder must exist;
    a counting task's scenes are drawn, so it always passes. Relative folders are
    relative to the current directory.

    Raises:
        DataError: the folder task's folder is missing (the message gives the layout to create).
    """
    if spec.task != "folder":
        return
    root = Path(spec.data).expanduser().resolve()
    if not root.is_dir():
        raise folder_error(root, "does not exist or is not a folder")


def _ignored(name: str) -> bool:
    """Names the class listing skips: hidden (``.DS_Store``, ``.git``) or set aside (``_quarantine``)."""
    return name.startswith((".", "_"))


def class_folders(root: Path) -> list[Path]:
    """The class sub-folders of ``root``, in class order.

    Every sub-folder is a class, except hidden ones and ones whose name
    starts with ``_`` (set aside by convention). The order is numeric when
    every name is an integer (``9`` before ``10``, so class index distance is
    count distance for folders of counts) and by code point otherwise; any
    other legal name (spaces, unicode, newlines) is kept verbatim.

    Raises:
        DataError: ``root`` is not a folder, or has fewer than 2 class folders.
    """
    if not root.is_dir():
        raise folder_error(root, "does not exist or is not a folder")
    folders = [p for p in root.iterdir() if p.is_dir() and not _ignored(p.name)]
    numeric = all(_as_int(p.name) is not None for p in folders)
    folders.sort(key=lambda p: (_as_int(p.name), p.name) if numeric else (0, p.name))
    if len(folders) < 2:
        found = f"{len(folders)}{': ' + repr(folders[0].name) if folders else ''}"
        raise folder_error(root, f"needs at least 2 class sub-folders (names not starting with '.' or '_'), "
                                 f"found {found}")
    return folders


def _as_int(name: str) -> int | None:
    try:
        return int(name)
    except ValueError:
        return None


def folder_files(root: Path) -> list[tuple[str, Path]]:
    """``(class name, file)`` for every file below each class folder, sorted.

    Skips hidden files and anything inside a hidden or ``_`` sub-folder.

    Raises:
        DataError: as ``class_folders``.
    """
    listing = []
    for folder in class_folders(root):
        for path in sorted(folder.rglob("*")):
            parts = path.relative_to(folder).parts
            if path.is_file() and not path.name.startswith(".") and not any(_ignored(p) for p in parts[:-1]):
                listing.append((folder.name, path))
    return listing


def decode_folder(root: Path, size: int, resize: str) -> tuple[list[str], list[np.ndarray], list[int], list[str]]:
    """Decode every image below the class folders of ``root`` (``kit.images.decode_image``), skipping unreadable files.

    Args:
        root: the task folder.
        size: side of the square images.
        resize: ``crop``, ``squish`` or ``pad`` (``kit.images.RESIZE_MODES``).

    Returns:
        ``(classes, images, labels, skipped)``: class names in class order, uint8 ``[3, size, size]``
        arrays, their class indices, and the paths (relative to ``root``) that could not be decoded.

    Raises:
        DataError: ``root`` is not a folder or has fewer than 2 class folders.
    """
    root = Path(root).expanduser().resolve()
    files = folder_files(root)
    classes = [folder.name for folder in class_folders(root)]
    index_of = {name: index for index, name in enumerate(classes)}
    images, labels, skipped = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PIL's DecompressionBomb/EXIF chatter is not actionable here
        for label, path in files:
            try:
                images.append(decode_image(path, size, resize))
                labels.append(index_of[label])
            except (ImageDecodeError, OSError):  # corrupt, truncated, empty, not an image, unreadable
                skipped.append(str(path.relative_to(root)))
    return classes, images, labels, skipped
