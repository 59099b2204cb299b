"""Tasks: a ``TrainSpec`` -> device-resident uint8 images, labels and (counting) scenes.

Two kinds of task:

- ``counting``: scenes sampled by ``synth.scenes`` and rendered once by
  ``synth.render``; class ``i`` is the count ``lo + i``.
- ``folder``: one class per sub-folder of ``spec.data``, decoded once with
  PIL and resized to ``size`` (crop, squish or pad).

Both are cached on disk (``cache_dir``) by a hash of the spec fields that
determine them, so the cells of a sweep that share a dataset render or
decode it once. A cache file is a ``torch.save`` dict of tensors written
atomically; it is read with ``weights_only=True``.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from study.errors import ConfigError, DataError
from study.spec import TrainSpec, spec_hash
from synth.render import render_scenes
from synth.scenes import InfeasibleSceneError, Scene, SceneSpec, auto_gap, auto_radius, parse_range

__all__ = ["DataError", "Task", "build_task", "resolve_device", "scene_spec", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")

# Bump when the cached content or its meaning changes, so stale caches are ignored.
_CACHE_VERSION = 1



@dataclasses.dataclass
class Task:
    """A dataset ready for training, resident on one device.

    Attributes:
        classes: class names (counting: the counts as strings).
        train_images, valid_images, test_images: uint8 ``[N, 3, H, W]``.
        train_labels, valid_labels, test_labels: int64 ``[N]`` class indices.
        train_scenes, valid_scenes, test_scenes: counting only, the scenes in
            canvas pixel coordinates (the images' own size); None for folders.
        skipped_files: folder only, files that could not be decoded.
    """

    classes: list[str]
    train_images: torch.Tensor
    train_labels: torch.Tensor
    valid_images: torch.Tensor
    valid_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    train_scenes: list[Scene] | None = None
    valid_scenes: list[Scene] | None = None
    test_scenes: list[Scene] | None = None
    skipped_files: list[str] = dataclasses.field(default_factory=list)

    @property
    def canvas_hw(self) -> tuple[int, int]:
        """``(H, W)`` of the stored images."""
        return int(self.train_images.shape[2]), int(self.train_images.shape[3])

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Images and labels of ``train``, ``valid`` or ``test``."""
        if name not in ("train", "valid", "test"):
            raise ValueError(f"split: expected train, valid or test, got {name!r}")
        return getattr(self, f"{name}_images"), getattr(self, f"{name}_labels")


def build_task(spec: TrainSpec, device: str | torch.device = "cpu", cache_dir: Path | None = None) -> Task:
    """Build (or load from cache) the task a spec describes, on ``device``.

    Args:
        spec: the training run; task fields only matter here.
        device: where the tensors live (``auto``: cuda when available).
        cache_dir: folder of cached datasets (None: no cache).

    Returns:
        a ``Task``.

    Raises:
        DataError: folder task with a missing folder, < 2 classes, or an empty class.
        ConfigError: counting task whose circles cannot be packed.
        NotImplementedError: ``sizes="dewind"`` before ``synth.numerosity`` exists.
    """
    key, builder = (
        (_counting_key(spec), _build_counting) if spec.task == "counting" else (_folder_key(spec), _build_folder)
    )
    path = Path(cache_dir) / f"{spec.task}-{spec_hash(key)[:16]}.pt" if cache_dir else None
    payload = _load_cache(path) if path else None
    if payload is None:
        payload = builder(spec)
        if path:
            _save_cache(payload, path)
    return _to_task(payload, resolve_device(device))


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> cuda when available, else cpu; anything else as given.

    Raises:
        RuntimeError: cuda asked for on a machine without it.
    """
    device = str(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device: {device!r} requested but CUDA is not available; use --device cpu or auto")
    return torch.device(device)


# ---------------------------------------------------------------------- counting
def scene_spec(spec: TrainSpec) -> SceneSpec:
    """The ``SceneSpec`` a counting ``TrainSpec`` asks for (auto radius and gap resolved).

    Raises:
        ConfigError: an explicit radius whose largest count cannot be packed.
    """
    lo, hi = parse_range(spec.counts, "counts")
    height, width = spec.size, int(round(spec.size * spec.aspect))
    gap = spec.min_gap or auto_gap(spec.size)
    radius = spec.radius or auto_radius(width, height, hi, gap)

    def make(r: float) -> SceneSpec:
        varied = spec.sizes in ("varied", "dewind")
        return SceneSpec(
            counts=(lo, hi),
            width=width,
            height=height,
            radius=r,
            radius_range=(0.5 * r, 1.5 * r) if varied else None,
            min_gap=gap,
            control="dewind" if spec.sizes == "dewind" else "none",
        )

    from synth.scenes import check_feasible

    candidate = make(radius)
    for _ in range(40):  # auto radius: shrink until the sampler can pack the largest count
        try:
            check_feasible(candidate)
            return candidate
        except InfeasibleSceneError as error:
            if spec.radius:
                raise ConfigError(f"radius: {error}") from None
            radius *= 0.9
            candidate = make(radius)
    raise ConfigError(f"counts: cannot pack {hi} circles on a {width}x{height} canvas at any usable radius")


def _counting_key(spec: TrainSpec) -> dict[str, Any]:
    fields = ("counts", "sizes", "radius", "min_gap", "aspect", "n_train", "n_test", "size", "valid_pct", "seed")
    return {"version": _CACHE_VERSION, "task": "counting", **{f: getattr(spec, f) for f in fields}}


def _build_counting(spec: TrainSpec) -> dict[str, torch.Tensor]:
    """Sample, render and split the counting scenes (on CPU; the task moves them)."""
    from synth.scenes import sample_scenes

    scenes_spec = scene_spec(spec)
    try:
        # Test scenes get their own derived seed so they never repeat training scenes.
        pool = sample_scenes(scenes_spec, spec.n_train, seed=spec.seed)
        test = sample_scenes(scenes_spec, spec.n_test, seed=spec.seed + 1_000_003) if spec.n_test else []
    except InfeasibleSceneError as error:
        raise ConfigError(f"counts: {error}") from None
    lo = scenes_spec.counts[0]
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(spec.seed))
    n_valid = max(1, int(round(spec.valid_pct * len(pool))))
    payload = {"classes": list(range(lo, scenes_spec.counts[1] + 1))}
    splits = {"valid": order[:n_valid].tolist(), "train": order[n_valid:].tolist(), "test": None}
    for name, indices in splits.items():
        scenes = [pool[i] for i in indices] if indices is not None else test
        payload[f"{name}_images"] = _render(scenes, scenes_spec)
        payload[f"{name}_labels"] = torch.tensor([s.count - lo for s in scenes], dtype=torch.int64)
        payload.update({f"{name}_scenes_{k}": v for k, v in _pack_scenes(scenes).items()})
    payload["classes"] = torch.tensor(payload["classes"])
    return payload


def _render(scenes: list[Scene], spec: SceneSpec) -> torch.Tensor:
    if not scenes:
        return torch.zeros((0, 3, spec.height, spec.width), dtype=torch.uint8)
    return render_scenes(scenes, "cpu")


def _pack_scenes(scenes: list[Scene]) -> dict[str, torch.Tensor]:
    """Scenes as flat tensors (for ``weights_only`` loading): per-scene counts, then per-circle arrays."""
    counts = [s.count for s in scenes]
    return {
        "counts": torch.tensor(counts, dtype=torch.int64),
        "centers": torch.from_numpy(np.concatenate([s.centers for s in scenes]) if scenes else np.zeros((0, 2))),
        "radii": torch.from_numpy(np.concatenate([s.radii for s in scenes]) if scenes else np.zeros(0)),
        "colors": torch.from_numpy(
            np.concatenate([s.colors for s in scenes]) if scenes else np.zeros((0, 3), np.uint8)
        ),
        "meta": torch.tensor(
            [[s.width, s.height, *s.background, s.field_area] for s in scenes], dtype=torch.float64
        ).reshape(-1, 6),
    }


def _unpack_scenes(payload: dict[str, torch.Tensor], prefix: str) -> list[Scene]:
    counts = payload[f"{prefix}counts"].tolist()
    bounds = np.cumsum([0, *counts])
    centers, radii = payload[f"{prefix}centers"].numpy(), payload[f"{prefix}radii"].numpy()
    colors, meta = payload[f"{prefix}colors"].numpy(), payload[f"{prefix}meta"].numpy()
    return [
        Scene(
            width=int(meta[i, 0]),
            height=int(meta[i, 1]),
            centers=centers[bounds[i] : bounds[i + 1]],
            radii=radii[bounds[i] : bounds[i + 1]],
            colors=colors[bounds[i] : bounds[i + 1]],
            background=tuple(int(c) for c in meta[i, 2:5]),
            field_area=float(meta[i, 5]),
        )
        for i in range(len(counts))
    ]


# ---------------------------------------------------------------------- folder
def _class_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        raise DataError(f"data: folder {str(root)!r} does not exist or is not a folder")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(folders) < 2:
        raise DataError(
            f"data: folder {str(root)!r} needs at least 2 class sub-folders, found {len(folders)}"
            f"{': ' + folders[0].name if folders else ''}"
        )
    return folders


def _folder_files(root: Path) -> list[tuple[str, Path]]:
    """``(class name, file)`` for every non-hidden file below each class folder, sorted."""
    return [
        (folder.name, path)
        for folder in _class_folders(root)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    ]


def _folder_key(spec: TrainSpec) -> dict[str, Any]:
    root = Path(spec.data).expanduser().resolve()
    listing = [(label, str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for label, p in _folder_files(root)]
    fields = ("resize", "size", "valid_pct", "seed")
    return {
        "version": _CACHE_VERSION,
        "task": "folder",
        "root": str(root),
        "files": spec_hash(listing),
        **{f: getattr(spec, f) for f in fields},
    }


def decode_image(path: Path, size: int, resize: str) -> np.ndarray:
    """Decode one image to RGB uint8 ``[3, size, size]``.

    Grayscale, palette, RGBA (composited on white) and 16-bit images become
    8-bit RGB. ``crop``: shorter side to ``size`` then centre crop (fastai's
    integer size); ``squish``: stretch; ``pad``: longer side to ``size`` then
    reflection padding (fastai's PAD).

    Raises:
        OSError / ValueError (from PIL) when the file is not a readable image.
    """
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        image.load()  # decodes fully: truncated files fail here, not later
        image = ImageOps.exif_transpose(image)
        image = _to_rgb(image)
    width, height = image.size
    if width < 1 or height < 1:
        raise ValueError(f"empty image {width}x{height}")
    if resize == "squish":
        image = image.resize((size, size), Image.BILINEAR)
        return np.asarray(image).transpose(2, 0, 1).copy()
    scale = size / (min(width, height) if resize == "crop" else max(width, height))
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    pixels = np.asarray(image.resize((new_w, new_h), Image.BILINEAR))  # [h, w, 3]
    if resize == "crop":
        top, left = (new_h - size) // 2, (new_w - size) // 2
        pixels = pixels[top : top + size, left : left + size]
    else:
        pad_h, pad_w = size - new_h, size - new_w
        pixels = np.pad(pixels, ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)), mode="symmetric")
    return np.ascontiguousarray(pixels.transpose(2, 0, 1))


def _to_rgb(image):
    """Any PIL mode -> 8-bit RGB (16-bit is rescaled, not clipped; alpha composited on white)."""
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        image = Image.fromarray(np.clip(values / top * 255 + 0.5, 0, 255).astype(np.uint8))
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    return image.convert("RGB")


def _build_folder(spec: TrainSpec) -> dict[str, Any]:
    """Decode every image once; skip unreadable files; stratified split."""
    from sklearn.model_selection import train_test_split

    root = Path(spec.data).expanduser().resolve()
    files = _folder_files(root)
    classes = [folder.name for folder in _class_folders(root)]
    images, labels, skipped = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PIL's DecompressionBomb/EXIF chatter is not actionable here
        for label, path in files:
            try:
                images.append(decode_image(path, spec.size, spec.resize))
                labels.append(classes.index(label))
            except Exception:  # any decode failure: corrupt, truncated, empty, not an image
                skipped.append(str(path.relative_to(root)))
    per_class = np.bincount(np.array(labels, dtype=int), minlength=len(classes))
    empty = [name for name, n in zip(classes, per_class) if n == 0]
    if empty:
        raise DataError(f"data: class folder(s) {', '.join(empty)} in {str(root)!r} contain no usable image")
    if min(per_class) < 2:
        small = [name for name, n in zip(classes, per_class) if n < 2]
        raise DataError(f"data: class folder(s) {', '.join(small)} in {str(root)!r} need at least 2 images to split")
    indices = np.arange(len(labels))
    n_valid = max(len(classes), int(round(spec.valid_pct * len(labels))))
    if len(labels) - n_valid < len(classes):
        raise DataError(f"data: {str(root)!r} has too few images ({len(labels)}) to split into train and valid")
    train, valid = train_test_split(indices, test_size=n_valid, stratify=labels, random_state=spec.seed)
    stack = torch.from_numpy(np.stack(images))  # [N, 3, size, size]
    label_tensor = torch.tensor(labels, dtype=torch.int64)
    train, valid = torch.from_numpy(np.sort(train)), torch.from_numpy(np.sort(valid))
    empty_images = torch.zeros((0, 3, spec.size, spec.size), dtype=torch.uint8)
    return {
        "classes_names": "\n".join(classes),
        "skipped": "\n".join(skipped),
        "train_images": stack[train],
        "train_labels": label_tensor[train],
        "valid_images": stack[valid],
        "valid_labels": label_tensor[valid],
        "test_images": empty_images,
        "test_labels": torch.zeros(0, dtype=torch.int64),
    }


# ---------------------------------------------------------------------- cache
def _load_cache(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a corrupt cache is rebuilt, never trusted
        return None


def _save_cache(payload: dict[str, Any], path: Path) -> None:
    """Atomic (temp file + rename), so concurrent cells never read half a cache file."""
    from study.store import atomic_torch_save

    atomic_torch_save(payload, path)


def _to_task(payload: dict[str, Any], device: torch.device) -> Task:
    tensors = {
        f"{split}_{kind}": payload[f"{split}_{kind}"].to(device)
        for split in ("train", "valid", "test")
        for kind in ("images", "labels")
    }
    if "classes" in payload:  # counting
        scenes = {f"{split}_scenes": _unpack_scenes(payload, f"{split}_scenes_") for split in ("train", "valid", "test")}
        classes = [str(int(c)) for c in payload["classes"].tolist()]
        return Task(classes=classes, **tensors, **scenes)
    skipped = [s for s in payload["skipped"].split("\n") if s]
    return Task(classes=payload["classes_names"].split("\n"), **tensors, skipped_files=skipped)
