"""Write and read image folders: ``DIR/<count>/<index>.png`` plus metadata.

The layout is the one the original post loaded with fastai's
``ImageDataBunch.from_folder`` (one sub-folder per class), with two files
beside it that no image folder usually has: ``metadata.csv`` (one row per
image: path, count (targets), the numerosity descriptors of the targets
and ``n_items``, targets plus distractors) and ``scenes.jsonl`` (one
line per image: its items, with shape and target flag), so every image can
be re-rendered or edited.

A folder is written to a temporary sibling and renamed into place, so an
interrupted run never leaves a half-written dataset behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from kit.progress import progress_bar
from synth.numerosity import describe_scene
from synth.render import render_scenes, render_scenes_matplotlib
from synth.scenes import Scene

__all__ = ["write_folder", "read_folder", "check_out_path", "FolderExistsError", "OutputPathError"]

_BATCH_BYTES = 256 * 2**20  # uint8 pixels rendered per batch: 512 images at 224 px, fewer for larger images


class FolderExistsError(FileExistsError):
    """The output folder exists and is not empty."""


class OutputPathError(OSError):
    """The output path cannot hold a folder (a file, under a file, not writable...)."""


def check_out_path(out: Path, overwrite: bool) -> None:
    """Refuse an output path before any work, with the reason in one line.

    Raises:
        FolderExistsError: a non-empty folder and no ``overwrite``.
        OutputPathError: ``out`` or one of its parents is a file.
    """
    if out.is_file() or (out.exists() and not out.is_dir()):
        raise OutputPathError(f"--out {out} is an existing file, not a folder; choose a folder path")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputPathError(f"--out {out}: {parent} is a file, so no folder can be made under it")
            break
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FolderExistsError(f"--out {out} exists and is not empty; choose another folder or pass --overwrite")


def _topmost_missing_parent(out: Path) -> Path | None:
    """The highest parent of ``out`` that does not exist yet (None if all exist)."""
    missing = [parent for parent in out.parents if not parent.exists()]
    return missing[-1] if missing else None


def _make_staging(out: Path) -> Path:
    """A fresh hidden sibling of ``out`` to write into; errors name ``out``'s parent, not the temp name."""
    try:
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as error:
        raise OSError(error.errno, error.strerror, str(out.parent)) from None


def _render(scenes: Sequence[Scene], renderer: str, device: str) -> torch.Tensor:
    if renderer == "fast":
        return render_scenes(scenes, device=device).cpu()
    if renderer == "matplotlib":
        return render_scenes_matplotlib(scenes)
    raise ValueError(f"renderer: unknown {renderer!r}; valid: fast, matplotlib")


def write_folder(
    out: str | Path,
    scenes: Sequence[Scene],
    renderer: str = "fast",
    device: str = "cpu",
    overwrite: bool = False,
    chunk: int = 512,
    progress: bool = True,
) -> Path:
    """Render ``scenes`` and write the folder.

    Args:
        out: target folder; created, or replaced when ``overwrite``.
        scenes: scenes to render; image ``i`` goes to ``<count>/<i:06d>.png``.
        renderer: ``fast`` (torch) or ``matplotlib``.
        chunk: most scenes rendered per batch; fewer for large images, so
            one batch holds at most ``_BATCH_BYTES`` of pixels.
        progress: show progress on stderr (a bar on a terminal, else a line per tenth: ``kit.progress``).

    Returns:
        The folder's path.

    Raises:
        FolderExistsError: ``out`` exists, is not empty and ``overwrite`` is off.
        OutputPathError: ``out`` is a file or lies under one.
        OSError: the folder cannot be written (read-only, no space...);
            nothing is left behind.
    """
    out = Path(out)
    check_out_path(out, overwrite)
    if scenes:
        chunk = max(1, min(chunk, _BATCH_BYTES // (3 * scenes[0].width * scenes[0].height)))
    created, staging = _topmost_missing_parent(out), None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = _make_staging(out)
        rows, lines = [], []
        with progress_bar(len(scenes), "rendering and writing", "img", "auto" if progress else "quiet") as bar:
            for start in range(0, len(scenes), chunk):
                batch = scenes[start : start + chunk]
                images = _render(batch, renderer, device).permute(0, 2, 3, 1).numpy()  # [B, H, W, 3]
                for offset, (scene, image) in enumerate(zip(batch, images)):
                    relative = f"{scene.count}/{start + offset:06d}.png"
                    (staging / str(scene.count)).mkdir(exist_ok=True)
                    Image.fromarray(image).save(staging / relative, optimize=False)
                    rows.append({"path": relative, **describe_scene(scene), "n_items": scene.n_items})
                    lines.append(json.dumps({"path": relative, **scene.to_dict()}, sort_keys=True))
                    bar.update(1)
        pd.DataFrame(rows).to_csv(staging / "metadata.csv", index=False, float_format="%.6g")
        (staging / "scenes.jsonl").write_text("\n".join(lines) + "\n")
        _swap_into_place(staging, out)
    except BaseException:
        # Leave the disk as it was: no staging folder, no parents made for nothing.
        for leftover in (staging, created):
            if leftover is not None:
                shutil.rmtree(leftover, ignore_errors=True)
        raise
    return out


def _swap_into_place(staging: Path, out: Path) -> None:
    """Rename ``staging`` to ``out``; an existing ``out`` is moved aside first, then removed."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(staging, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_folder(folder: str | Path) -> tuple[torch.Tensor, torch.Tensor, list[Scene], pd.DataFrame]:
    """Read a folder written by ``write_folder``.

    Returns:
        images uint8 ``[N, 3, H, W]``, counts int64 ``[N]``, scenes, and the
        metadata table, all in the folder's index order.
    """
    folder = Path(folder)
    for name in ("metadata.csv", "scenes.jsonl"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name} is missing: is {folder} a folder written by `python -m synth`?")
    metadata = pd.read_csv(folder / "metadata.csv")
    records = [json.loads(line) for line in (folder / "scenes.jsonl").read_text().splitlines() if line]
    scenes = [Scene.from_dict(record) for record in records]
    images = np.stack([np.asarray(Image.open(folder / path).convert("RGB")) for path in metadata["path"]])
    counts = torch.tensor(metadata["count"].to_numpy(), dtype=torch.int64)
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), counts, scenes, metadata
