"""Write and read image folders: ``DIR/<count>/<index>.png`` plus metadata.

The layout is the one the original post loaded with fastai's
``ImageDataBunch.from_folder`` (one sub-folder per class), with two files
beside it that no image folder usually has: ``metadata.csv`` (one row per
image: path, count and the numerosity descriptors) and ``scenes.jsonl`` (one
line per image: its circles), so every image can be re-rendered or edited.

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
from tqdm.auto import tqdm

from synth.numerosity import describe_scene
from synth.render import render_scenes, render_scenes_matplotlib
from synth.scenes import Scene

__all__ = ["write_folder", "read_folder", "FolderExistsError"]


class FolderExistsError(FileExistsError):
    """The output folder exists and is not empty."""


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
        chunk: scenes rendered per batch (bounds memory).

    Returns:
        The folder's path.

    Raises:
        FolderExistsError: ``out`` exists, is not empty and ``overwrite`` is off.
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FolderExistsError(f"--out {out} exists and is not empty; choose another folder or pass --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        rows, lines = [], []
        bar = tqdm(total=len(scenes), desc=f"writing {out.name}", unit="img", disable=not progress)
        for start in range(0, len(scenes), chunk):
            batch = scenes[start : start + chunk]
            images = _render(batch, renderer, device).permute(0, 2, 3, 1).numpy()  # [B, H, W, 3]
            for offset, (scene, image) in enumerate(zip(batch, images)):
                index = start + offset
                relative = f"{scene.count}/{index:06d}.png"
                (staging / str(scene.count)).mkdir(exist_ok=True)
                Image.fromarray(image).save(staging / relative, optimize=False)
                rows.append({"path": relative, **describe_scene(scene)})
                lines.append(json.dumps({"path": relative, **scene.to_dict()}, sort_keys=True))
            bar.update(len(batch))
        bar.close()
        pd.DataFrame(rows).to_csv(staging / "metadata.csv", index=False, float_format="%.6g")
        (staging / "scenes.jsonl").write_text("\n".join(lines) + "\n")
        _swap_into_place(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
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
