"""Tasks: a ``TrainSpec`` -> device-resident uint8 images, labels and (counting) scenes.

Two kinds of task:

- ``counting``: scenes sampled by ``synth.scenes`` and rendered once by
  ``synth.render``; class ``i`` is the count ``lo + i``. Splits: ``train``
  and ``valid`` (one pool, split at random), ``test`` (a fresh i.i.d. set)
  and, when ``n_test_dewind > 0``, ``test_dewind``: a controlled test set
  whose count is independent of Size and Spacing (DeWind et al., 2015).
- ``folder``: one class per sub-folder of ``spec.data``, listed and decoded
  once by ``study.data.folders`` (``kit.images`` rules) and resized to
  ``size`` (crop, squish or pad); ``train`` and ``valid`` (and an empty ``test``).

A ``Task`` holds its splits by name (``task.splits["test_dewind"]``), each a
``Split`` of aligned images, labels and scenes.

Seeds: every piece of data comes from the *data seed*
(``spec.resolved_data_seed``), never from the init seed, so cells that differ
only in ``seed`` (weights, batch order, augmentation) see identical images.
The i.i.d. and controlled test sets draw from seeds derived from the data
seed, so they never repeat the training scenes.

Both kinds are cached on disk (``cache_dir``) under a hash of exactly the
fields that change the data (``data_key``), so the cells of a sweep that
share a dataset render or decode it once. A cache file is a ``torch.save``
dict of tensors and strings written atomically; it is read with
``weights_only=True``. Within one process the built tasks are also kept in
memory under the same key (and the device), so the cells a worker process
runs one after another share one copy: no re-render, re-decode or re-read.
The memory cache holds at most ``MEMORY_CACHE_BYTES`` of image tensors
(least recently used tasks leave first); its tasks are shared, so nothing
may write into a ``Task``'s tensors or scene lists.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kit.seeds import derive_seed
from study.config.scenes import dewind_scene_recipe, scene_recipe
from study.config.scenes import canvas_width as _canvas_width, scaled_scene_recipe as _scaled
from study.config.spec import TrainSpec, spec_hash
from study.data.folders import decode_folder, folder_error, folder_files
from study.errors import ConfigError, DeviceUnavailableError
from synth.render import render_scenes
from synth.sampling import sample_scenes
from synth.scenes import InfeasibleSceneError, Scene, SceneRecipe

__all__ = [
    "EVAL_SPLITS",
    "SPLITS",
    "Split",
    "Task",
    "MEMORY_CACHE_BYTES",
    "build_task",
    "clear_memory_cache",
    "data_key",
    "resolve_device",
]


# Evaluation splits in the order they are reported.
EVAL_SPLITS = ("valid", "test", "test_dewind", "test_held_out")
SPLITS = ("train", *EVAL_SPLITS)

# Streams of the data seed: the training pool uses the data seed itself (so
# `python -m synth --n n_train --seed S` draws the same pool); the test sets
# use derived seeds.
# Bump when the cached content or its meaning changes, so stale caches are ignored.
_CACHE_VERSION = 4

# Most bytes of task tensors kept in memory between the cells of one process (a quick-preset
# task at 64 px is about 50 MB; a 224 px task of 5,000 images about 750 MB).
MEMORY_CACHE_BYTES = 2 * 2**30
# (data key hash, device, disk cache file) -> Task, least recently used first.
_MEMORY: collections.OrderedDict[tuple[str, str, str], "Task"] = collections.OrderedDict()


@dataclasses.dataclass(frozen=True, eq=False)
class Split:
    """One split of a task: images, labels and (counting) scenes, aligned row for row.

    Attributes:
        images: uint8 ``[N, 3, H, W]`` on the task's device.
        labels: int64 ``[N]`` class indices (count ``classes[i]`` for a counting task).
        scenes: counting only, the ``N`` scenes in canvas pixel coordinates (the images'
            own size); None for folder tasks.
    """

    images: torch.Tensor
    labels: torch.Tensor
    scenes: list[Scene] | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held by the image and label tensors."""
        return sum(t.numel() * t.element_size() for t in (self.images, self.labels))


@dataclasses.dataclass(eq=False)
class Task:
    """A dataset ready for training, resident on one device.

    Attributes:
        classes: class names (counting: the counts as strings, in count order;
            folder: the folder names, numeric order when every name is an integer).
        splits: split name -> ``Split``, in report order: ``train``, ``valid`` and
            ``test`` always (a folder task's ``test`` is empty); ``test_dewind`` when the
            cell asked for a controlled test set; ``test_held_out`` when it holds counts out.
        skipped_files: folder only, files that could not be decoded.
    """

    classes: list[str]
    splits: dict[str, Split]
    skipped_files: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        unknown = [name for name in self.splits if name not in SPLITS]
        missing = [name for name in ("train", "valid") if name not in self.splits]
        if unknown or missing:
            raise ValueError(f"splits: expected train, valid and any of {', '.join(SPLITS[2:])}; "
                             f"got {', '.join(self.splits) or 'none'}")

    @property
    def canvas_hw(self) -> tuple[int, int]:
        """``(H, W)`` of the stored images."""
        images = self.splits["train"].images
        return int(images.shape[2]), int(images.shape[3])

    @property
    def eval_splits(self) -> list[str]:
        """The evaluation splits this task has, in report order.

        ``valid`` always; ``test`` when it holds images (folder tasks have
        none); ``test_dewind`` when the cell asked for a controlled test set;
        ``test_held_out`` when it holds counts out.
        """
        return [name for name in EVAL_SPLITS if name == "valid" or len(self.splits.get(name, ()))]

    @property
    def nbytes(self) -> int:
        """Bytes held by the image and label tensors of every split."""
        return sum(split.nbytes for split in self.splits.values())

    def split(self, name: str) -> Split:
        """The split called ``name`` (``task.splits[name]`` with a clear error).

        Raises:
            ValueError: a split this task does not have, naming the ones it has.
        """
        if name not in self.splits:
            raise ValueError(f"split: this task has no split {name!r}; valid: {', '.join(self.splits)}")
        return self.splits[name]


def build_task(
    spec: TrainSpec, device: str | torch.device = "cpu", cache_dir: Path | None = None, reuse: bool = True,
) -> Task:
    """Build (or load from cache) the task a spec describes, on ``device``.

    Args:
        spec: the training run; only the fields in ``data_key`` matter here.
        device: where the tensors live (``auto``: cuda when available).
        cache_dir: folder of cached datasets (None: no disk cache).
        reuse: return the task this process already built for the same data key and device
            (the same tensors; see the module docstring), and keep this one for later calls.

    Returns:
        a ``Task`` (shared with other callers when ``reuse``: read it, never write into it).

    Raises:
        DataError: folder task with a missing folder, < 2 classes, or an empty class.
        ConfigError: counting task whose circles cannot be packed.
    """
    builder = _build_counting if spec.task == "counting" else _build_folder
    target = resolve_device(device)
    key_hash = spec_hash(data_key(spec))
    path = Path(cache_dir) / f"{spec.task}-{key_hash[:16]}.pt" if cache_dir else None
    # The disk cache is part of the key: a task built for another cache folder (another run
    # folder in the same process) is not reused, so this run's folder still gets its cache file.
    memory_key = (key_hash, str(target), str(path))
    if reuse and memory_key in _MEMORY:
        _MEMORY.move_to_end(memory_key)
        return _MEMORY[memory_key]
    payload = _load_cache(path) if path else None
    if payload is None:
        payload = builder(spec)
        if path:
            _save_cache(payload, path)
    task = _to_task(payload, target)
    if reuse:
        _remember(memory_key, task)
    return task


def _remember(key: tuple[str, str, str], task: Task) -> None:
    """Keep ``task`` in the memory cache, dropping the least recently used ones beyond ``MEMORY_CACHE_BYTES``."""
    _MEMORY[key] = task
    while len(_MEMORY) > 1 and sum(kept.nbytes for kept in _MEMORY.values()) > MEMORY_CACHE_BYTES:
        _MEMORY.popitem(last=False)
    if task.nbytes > MEMORY_CACHE_BYTES:  # too large to keep at all
        _MEMORY.pop(key, None)


def clear_memory_cache() -> None:
    """Forget every task kept in memory (the disk cache is untouched)."""
    _MEMORY.clear()


def data_key(spec: TrainSpec) -> dict[str, Any]:
    """Exactly what determines a task's data: two specs with equal keys get identical images.

    Counting: the scene, stimulus and split fields, image size and the
    resolved data seed. Folder: the folder's resolved path and file listing (names, sizes,
    mtimes), the resize mode, size, split fraction and the data seed. The
    init seed, the recipe and the model never enter.
    """
    if spec.task == "counting":
        fields = ("counts", "held_out", "sizes", "radius", "min_gap", "aspect", "shape", "colour", "distractors",
                  "distractor_kind", "overlap", "scene_size", "n_train", "n_test", "n_test_dewind", "size",
                  "valid_pct")
        return {"version": _CACHE_VERSION, "task": "counting", "data_seed": spec.resolved_data_seed,
                **{f: getattr(spec, f) for f in fields}}
    root = Path(spec.data).expanduser().resolve()
    listing = [(label, str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
               for label, p in folder_files(root)]
    return {
        "version": _CACHE_VERSION,
        "task": "folder",
        "root": str(root),
        "files": spec_hash(listing),
        "data_seed": spec.resolved_data_seed,
        **{f: getattr(spec, f) for f in ("resize", "size", "valid_pct")},
    }


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> cuda when available, else cpu; anything else as given.

    Raises:
        DeviceUnavailableError: cuda asked for on a machine without it (a one-line
            message naming the fix; callers show it without a traceback).
    """
    device = str(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceUnavailableError(f"device: {device!r} requested but CUDA is not available; use --device cpu or auto")
    return torch.device(device)


# ---------------------------------------------------------------------- counting
def _rescale(scenes: list[Scene], spec: TrainSpec) -> list[Scene]:
    """Scenes drawn on the scene canvas, scaled to the images' canvas (unchanged when scene_size is 0)."""
    if spec.render_scale == 1.0:
        return scenes
    width = _canvas_width(spec, spec.size)
    return [scene.rescaled(width, spec.size) for scene in scenes]



def _sample(scenes_spec: SceneRecipe, n: int, seed: int) -> list[Scene]:
    """``n`` scenes, i.i.d. or DeWind-controlled as the spec says; ConfigError when they cannot be packed."""
    # The samplers' time-out bounds a whole call; allow ~50 ms a scene (10x what dense
    # 45-50 scenes take) so large sets are not refused for their size alone.
    timeout = max(30.0, 0.05 * n)
    try:
        if scenes_spec.control == "dewind":
            from synth.numerosity import sample_dewind_scenes

            return sample_dewind_scenes(scenes_spec, n, seed=seed, timeout_s=timeout)
        return sample_scenes(scenes_spec, n, seed=seed, timeout_s=timeout)
    except InfeasibleSceneError as error:
        raise ConfigError(f"counts: {error}") from None


def _build_counting(spec: TrainSpec) -> dict[str, Any]:
    """Sample, render and split the counting scenes (on CPU; the task moves them)."""
    data_seed = spec.resolved_data_seed
    train_spec = scene_recipe(spec)
    seen, held = spec.train_counts, spec.held_out_counts
    pool = _sample_counts(train_spec, spec.n_train, data_seed, seen)
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(data_seed))
    n_valid = max(1, int(round(spec.valid_pct * len(pool))))
    splits = {
        "train": [pool[i] for i in order[n_valid:].tolist()],
        "valid": [pool[i] for i in order[:n_valid].tolist()],
        "test": _sample_counts(train_spec, spec.n_test, derive_seed(data_seed, "test"), seen),
    }
    if spec.n_test_dewind:
        dewind_spec = dewind_scene_recipe(spec, train_spec)
        splits["test_dewind"] = _sample_counts(dewind_spec, spec.n_test_dewind,
                                               derive_seed(data_seed, "test_dewind"), seen)
    if held:
        splits["test_held_out"] = _sample_counts(train_spec, spec.n_test, derive_seed(data_seed, "test_held_out"),
                                                 held)
    lo, hi = train_spec.counts
    rendered: dict[str, dict[str, Any]] = {}
    for name, scenes in splits.items():
        scenes = _rescale(scenes, spec)
        rendered[name] = {
            "images": _render(scenes, _scaled(train_spec, spec)),
            "labels": torch.tensor([s.count - lo for s in scenes], dtype=torch.int64),
            "scenes": _pack_scenes(scenes),
        }
    return {"classes": torch.arange(lo, hi + 1), "splits": rendered}


def _sample_counts(scenes_spec: SceneRecipe, n: int, seed: int, keep: tuple[int, ...]) -> list[Scene]:
    """``n`` scenes whose counts are ``keep`` (a subset of the spec's range), spread evenly over them.

    The whole range is sampled (so DeWind's design and the radius are those of
    the full range) and the scenes of the other counts are dropped; with every
    count kept this is ``_sample`` itself, scene for scene.
    """
    lo, hi = scenes_spec.counts
    if n == 0:
        return []
    if len(keep) == hi - lo + 1:
        return _sample(scenes_spec, n, seed)
    # The sampler cycles through the counts, so drawing this many gives every kept count its quota.
    draw = math.ceil(n * (hi - lo + 1) / len(keep)) + (hi - lo + 1)
    quota = {count: n // len(keep) + (index < n % len(keep)) for index, count in enumerate(keep)}
    chosen = []
    for scene in _sample(scenes_spec, draw, seed):
        if quota.get(scene.count, 0) > 0:
            quota[scene.count] -= 1
            chosen.append(scene)
    return chosen


def _render(scenes: list[Scene], spec: SceneRecipe) -> torch.Tensor:
    if not scenes:
        return torch.zeros((0, 3, spec.height, spec.width), dtype=torch.uint8)
    return render_scenes(scenes, "cpu")


def _pack_scenes(scenes: list[Scene]) -> dict[str, torch.Tensor]:
    """Scenes as flat tensors (for ``weights_only`` loading): items per scene, then per-item arrays."""
    counts = [s.n_items for s in scenes]
    return {
        "counts": torch.tensor(counts, dtype=torch.int64),
        "centers": torch.from_numpy(np.concatenate([s.centers for s in scenes]) if scenes else np.zeros((0, 2))),
        "radii": torch.from_numpy(np.concatenate([s.radii for s in scenes]) if scenes else np.zeros(0)),
        "colors": torch.from_numpy(
            np.concatenate([s.colors for s in scenes]) if scenes else np.zeros((0, 3), np.uint8)
        ),
        "shapes": torch.from_numpy(np.concatenate([s.shapes for s in scenes]) if scenes else np.zeros(0, np.int8)),
        "targets": torch.from_numpy(np.concatenate([s.targets for s in scenes]) if scenes else np.zeros(0, bool)),
        "meta": torch.tensor(
            [[s.width, s.height, *s.background, s.field_area] for s in scenes], dtype=torch.float64
        ).reshape(-1, 6),
    }


def _unpack_scenes(packed: dict[str, torch.Tensor]) -> list[Scene]:
    """The scenes ``_pack_scenes`` flattened."""
    counts = packed["counts"].tolist()
    bounds = np.cumsum([0, *counts])
    centers, radii = packed["centers"].numpy(), packed["radii"].numpy()
    colors, meta = packed["colors"].numpy(), packed["meta"].numpy()
    shapes, targets = packed["shapes"].numpy(), packed["targets"].numpy()
    return [
        Scene(
            width=int(meta[i, 0]),
            height=int(meta[i, 1]),
            centers=centers[bounds[i] : bounds[i + 1]],
            radii=radii[bounds[i] : bounds[i + 1]],
            colors=colors[bounds[i] : bounds[i + 1]],
            shapes=shapes[bounds[i] : bounds[i + 1]],
            targets=targets[bounds[i] : bounds[i + 1]],
            background=tuple(int(c) for c in meta[i, 2:5]),
            field_area=float(meta[i, 5]),
        )
        for i in range(len(counts))
    ]


# ---------------------------------------------------------------------- folder
def _build_folder(spec: TrainSpec) -> dict[str, Any]:
    """Decode every image once; skip unreadable files; stratified split by the data seed."""
    from sklearn.model_selection import train_test_split

    root = Path(spec.data).expanduser().resolve()
    classes, images, labels, skipped = decode_folder(root, spec.size, spec.resize)
    per_class = np.bincount(np.array(labels, dtype=int), minlength=len(classes))
    empty = [repr(name) for name, n in zip(classes, per_class) if n == 0]
    if empty:
        raise folder_error(root, f"has class folder(s) {', '.join(empty)} that contain no usable image")
    if min(per_class) < 2:
        small = [repr(name) for name, n in zip(classes, per_class) if n < 2]
        raise folder_error(root, f"has class folder(s) {', '.join(small)} that need at least 2 images to split")
    indices = np.arange(len(labels))
    n_valid = max(len(classes), int(round(spec.valid_pct * len(labels))))
    if len(labels) - n_valid < len(classes):
        raise folder_error(root, f"has too few images ({len(labels)}) to split into train and valid")
    train, valid = train_test_split(indices, test_size=n_valid, stratify=labels, random_state=spec.resolved_data_seed)
    stack = torch.from_numpy(np.stack(images))  # [N, 3, size, size]
    label_tensor = torch.tensor(labels, dtype=torch.int64)
    train, valid = torch.from_numpy(np.sort(train)), torch.from_numpy(np.sort(valid))
    # Names travel as JSON lists: any legal folder name (newlines included) survives the cache.
    return {
        "class_names_json": json.dumps(classes),
        "skipped_json": json.dumps(skipped),
        "splits": {
            "train": {"images": stack[train], "labels": label_tensor[train]},
            "valid": {"images": stack[valid], "labels": label_tensor[valid]},
            "test": {"images": torch.zeros((0, 3, spec.size, spec.size), dtype=torch.uint8),
                     "labels": torch.zeros(0, dtype=torch.int64)},
        },
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
    from kit.store import atomic_write_with

    atomic_write_with(path, lambda handle: torch.save(payload, handle))


def _to_task(payload: dict[str, Any], device: torch.device) -> Task:
    """A built or cached payload as a ``Task`` on ``device``."""
    stored = payload["splits"]
    splits = {
        name: Split(images=stored[name]["images"].to(device), labels=stored[name]["labels"].to(device),
                    scenes=_unpack_scenes(stored[name]["scenes"]) if "scenes" in stored[name] else None)
        for name in SPLITS if name in stored
    }
    if "classes" in payload:  # counting
        return Task(classes=[str(int(c)) for c in payload["classes"].tolist()], splits=splits)
    return Task(classes=json.loads(payload["class_names_json"]), splits=splits,
                skipped_files=json.loads(payload["skipped_json"]))
