"""Tasks: a ``TrainSpec`` -> device-resident uint8 images, labels and (counting) scenes.

Two kinds of task:

- ``counting``: scenes sampled by ``synth.scenes`` and rendered once by
  ``synth.render``; class ``i`` is the count ``lo + i``. Splits: ``train``
  and ``valid`` (one pool, split at random), ``test`` (a fresh i.i.d. set)
  and, when ``n_test_dewind > 0``, ``test_dewind``: a controlled test set
  whose count is independent of Size and Spacing (DeWind et al., 2015).
- ``folder``: one class per sub-folder of ``spec.data``, decoded once with
  PIL and resized to ``size`` (crop, squish or pad); ``train`` and ``valid``.

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
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from study.errors import ConfigError, DataError, DeviceUnavailableError
from study.config.spec import TrainSpec, spec_hash
from synth.render import render_scenes
from synth.scenes import (
    MIN_RADIUS_PX,
    InfeasibleSceneError,
    Scene,
    SceneSpec,
    auto_gap,
    auto_radius,
    check_feasible,
    parse_range,
    sample_scenes,
)

__all__ = [
    "DataError",
    "DEWIND_RADIUS_SPREAD",
    "EVAL_SPLITS",
    "Task",
    "MEMORY_CACHE_BYTES",
    "build_task",
    "class_folders",
    "clear_memory_cache",
    "data_key",
    "decode_folder",
    "decode_image",
    "dewind_scene_spec",
    "rendered_scene_spec",
    "resolve_device",
    "scene_spec",
]


# Radii of varied-size and DeWind scenes: uniform on [(1 - s) r, (1 + s) r]
# around the cell's radius r (max/min = 3). DeWind's design holds Size
# independent of N only when max/min radius > (hi/lo)^(1/4): 1.50 for 1-5,
# 1.16 for 11-20, 1.03 for 45-50, so a ratio of 3 serves every range the
# presets use, and radii stay within half a radius of the training circles.
DEWIND_RADIUS_SPREAD = 0.5

# Evaluation splits in the order they are reported.
EVAL_SPLITS = ("valid", "test", "test_dewind", "test_held_out")
_ALL_SPLITS = ("train", *EVAL_SPLITS)

# Streams of the data seed: the training pool uses the data seed itself (so
# `python -m synth --n n_train --seed S` draws the same pool); the test sets
# use derived seeds.
_SEED_STREAMS = {"test": 1, "test_dewind": 2, "test_held_out": 3}

# Bump when the cached content or its meaning changes, so stale caches are ignored.
_CACHE_VERSION = 3

# Most bytes of task tensors kept in memory between the cells of one process (a quick-preset
# task at 64 px is about 50 MB; a 224 px task of 5,000 images about 750 MB).
MEMORY_CACHE_BYTES = 2 * 2**30
# (data key hash, device, disk cache file) -> Task, least recently used first.
_MEMORY: collections.OrderedDict[tuple[str, str, str], "Task"] = collections.OrderedDict()


@dataclasses.dataclass
class Task:
    """A dataset ready for training, resident on one device.

    Attributes:
        classes: class names (counting: the counts as strings, in count order;
            folder: the folder names, numeric order when every name is an integer).
        train_images, valid_images, test_images, test_dewind_images, test_held_out_images:
            uint8 ``[N, 3, H, W]``.
        train_labels, ...: int64 ``[N]`` class indices (count ``classes[i]``).
        train_scenes, ...: counting only, the scenes in canvas pixel coordinates (the
            images' own size); None for folders.
            ``test_dewind_*`` are None when the cell has no controlled test set,
            ``test_held_out_*`` when it holds no count out.
        skipped_files: folder only, files that could not be decoded.
    """

    classes: list[str]
    train_images: torch.Tensor
    train_labels: torch.Tensor
    valid_images: torch.Tensor
    valid_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    test_dewind_images: torch.Tensor | None = None
    test_dewind_labels: torch.Tensor | None = None
    test_held_out_images: torch.Tensor | None = None
    test_held_out_labels: torch.Tensor | None = None
    train_scenes: list[Scene] | None = None
    valid_scenes: list[Scene] | None = None
    test_scenes: list[Scene] | None = None
    test_dewind_scenes: list[Scene] | None = None
    test_held_out_scenes: list[Scene] | None = None
    skipped_files: list[str] = dataclasses.field(default_factory=list)

    @property
    def canvas_hw(self) -> tuple[int, int]:
        """``(H, W)`` of the stored images."""
        return int(self.train_images.shape[2]), int(self.train_images.shape[3])

    @property
    def eval_splits(self) -> list[str]:
        """The evaluation splits this task has, in report order.

        ``valid`` always; ``test`` when it holds images (folder tasks have
        none); ``test_dewind`` when the cell asked for a controlled test set;
        ``test_held_out`` when it holds counts out.
        """
        return [
            name for name in EVAL_SPLITS
            if name == "valid" or (getattr(self, f"{name}_labels") is not None and len(getattr(self, f"{name}_labels")))
        ]

    @property
    def nbytes(self) -> int:
        """Bytes held by the image and label tensors of every split."""
        tensors = [getattr(self, f"{name}_{kind}") for name in _ALL_SPLITS for kind in ("images", "labels")]
        return sum(t.numel() * t.element_size() for t in tensors if t is not None)

    def _present(self) -> list[str]:
        return [name for name in _ALL_SPLITS if getattr(self, f"{name}_labels") is not None]

    def _check_split(self, name: str) -> None:
        if name not in self._present():
            raise ValueError(f"split: this task has no split {name!r}; valid: {', '.join(self._present())}")

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Images uint8 ``[N, 3, H, W]`` and labels int64 ``[N]`` of one split.

        ``train``, ``valid`` and ``test`` always exist (a folder task's ``test``
        is empty); ``test_dewind`` when the cell asked for it.

        Raises:
            ValueError: a split this task does not have, naming the ones it has.
        """
        self._check_split(name)
        return getattr(self, f"{name}_images"), getattr(self, f"{name}_labels")

    def scenes(self, name: str) -> list[Scene] | None:
        """The scenes of a split, aligned with ``split(name)``; None for folder tasks.

        Raises:
            ValueError: a split this task does not have.
        """
        self._check_split(name)
        return getattr(self, f"{name}_scenes")


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
               for label, p in _folder_files(root)]
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


def _derived_seed(data_seed: int, stream: str) -> int:
    """A seed for one data stream, independent of the others (numpy SeedSequence mixing)."""
    return int(np.random.SeedSequence([data_seed, _SEED_STREAMS[stream]]).generate_state(1)[0])


# ---------------------------------------------------------------------- counting
def scene_spec(spec: TrainSpec) -> SceneSpec:
    """The ``SceneSpec`` a counting cell's training scenes are drawn from (auto radius and gap resolved).

    Its canvas is the scene canvas: ``scene_size`` (times ``aspect`` in
    width) when set, else ``size``; ``rendered_scene_spec`` is the same
    spec on the images' canvas.

    An explicit ``radius`` is used as given (at least ``MIN_RADIUS_PX``).
    The auto radius is ``synth.scenes.auto_radius`` (4% of the side, capped
    so the largest count covers at most 30% of the canvas), raised to
    ``MIN_RADIUS_PX`` when smaller; it is never shrunk further. Cheap enough
    to call at configuration time to refuse impossible cells.

    Raises:
        ConfigError: the training scenes cannot be packed (naming the largest
            feasible count at that radius and the largest feasible radius for
            the count), or, when ``n_test_dewind > 0``, the controlled test
            set cannot be built at this size (see ``dewind_scene_spec``).
    """
    base = _training_scene_spec(spec)
    if spec.n_test_dewind > 0:
        dewind_scene_spec(spec, base)
    return base


def rendered_scene_spec(spec: TrainSpec) -> SceneSpec:
    """``scene_spec`` scaled to the images' canvas (``size``): draw new scenes from this to show them
    to a trained model (it is ``scene_spec`` itself when ``scene_size`` is 0)."""
    return _scaled(scene_spec(spec), spec)


def _scaled(scenes_spec: SceneSpec, spec: TrainSpec) -> SceneSpec:
    """A scene spec with every length multiplied by ``spec.render_scale`` (canvas as the images')."""
    factor = spec.render_scale
    if factor == 1.0:
        return scenes_spec
    radius_range = scenes_spec.radius_range
    return dataclasses.replace(
        scenes_spec, width=_canvas_width(spec, spec.size), height=spec.size, radius=scenes_spec.radius * factor,
        radius_range=(radius_range[0] * factor, radius_range[1] * factor) if radius_range else None,
        min_gap=scenes_spec.min_gap * factor, margin=scenes_spec.margin * factor,
    )


def _canvas_width(spec: TrainSpec, side: int) -> int:
    return int(round(side * spec.aspect))


def _rescale(scenes: list[Scene], spec: TrainSpec) -> list[Scene]:
    """Scenes drawn on the scene canvas, scaled to the images' canvas (unchanged when scene_size is 0)."""
    if spec.render_scale == 1.0:
        return scenes
    width = _canvas_width(spec, spec.size)
    return [scene.rescaled(width, spec.size) for scene in scenes]


def _radius_range(radius: float) -> tuple[float, float]:
    """Varied radii around ``radius`` (``DEWIND_RADIUS_SPREAD``), never below ``MIN_RADIUS_PX``."""
    return max(MIN_RADIUS_PX, (1 - DEWIND_RADIUS_SPREAD) * radius), (1 + DEWIND_RADIUS_SPREAD) * radius


def _training_scene_spec(spec: TrainSpec) -> SceneSpec:
    lo, hi = parse_range(spec.counts, "counts")
    side = spec.scene_size or spec.size
    height, width = side, _canvas_width(spec, side)
    gap = spec.min_gap or auto_gap(side)

    def make(radius: float) -> SceneSpec:
        try:
            return SceneSpec(
                counts=(lo, hi), width=width, height=height, radius=radius,
                radius_range=_radius_range(radius) if spec.sizes in ("varied", "dewind") else None,
                min_gap=gap, control="dewind" if spec.sizes == "dewind" else "none", **_stimulus(spec),
            )
        except ValueError as error:  # a combination synth cannot draw, e.g. overlap with sizes=dewind
            raise ConfigError(f"scenes of counts {spec.counts}: {error}") from None

    if spec.radius:
        if spec.radius < MIN_RADIUS_PX:
            raise ConfigError(f"radius: expected at least {MIN_RADIUS_PX:g} px (or 0 = auto), got {spec.radius:g}")
        return _checked(make(spec.radius), "radius")
    # The auto radius is capped so the largest count covers <= 30% of the canvas, well
    # inside the sampler's limit: when even that (or the 1 px floor) cannot pack, the
    # cell is impossible at this size, and shrinking further would only hide it.
    probe = make(MIN_RADIUS_PX)  # knows the most items per scene and the shapes' extent
    radius = max(MIN_RADIUS_PX, auto_radius(width, height, probe.max_items, gap, probe.extent_factor))
    return _checked(make(radius), "counts")


def _stimulus(spec: TrainSpec) -> dict[str, Any]:
    """The ``SceneSpec`` options of a cell's items: shape, colour, distractors, overlap."""
    try:
        return {"shape": spec.shape, "colour": spec.colour, "distractor_kind": spec.distractor_kind,
                "distractors": parse_range(spec.distractors, "distractors", minimum=0), "overlap": spec.overlap}
    except ValueError as error:
        raise ConfigError(str(error)) from None


def _infeasibility(candidate: SceneSpec) -> str | None:
    """Why the sampler cannot pack ``candidate`` (synth's message), or None when it can."""
    try:
        check_feasible(candidate)
        if candidate.control == "dewind":
            from synth.numerosity import dewind_ranges

            dewind_ranges(candidate)
    except InfeasibleSceneError as error:
        return str(error)
    return None


def _checked(candidate: SceneSpec, field: str) -> SceneSpec:
    problem = _infeasibility(candidate)
    if problem is not None:
        raise ConfigError(f"{field}: {problem}")
    return candidate


def dewind_scene_spec(spec: TrainSpec, base: SceneSpec | None = None) -> SceneSpec:
    """The ``SceneSpec`` of a counting cell's controlled (DeWind) test set.

    Same count range, canvas, gap and items as the training scenes (never
    overlapping: DeWind's descriptors assume items that do not occlude each
    other); radii vary
    around the cell's radius ``r`` on ``[max(1 px, 0.5 r), 1.5 r]``
    (``DEWIND_RADIUS_SPREAD``), which DeWind's design needs to hold Size
    independent of N. Count is then independent of Size (ISA x TSA) and
    Spacing (FA x Sparsity); it cannot be independent of TSA and ISA at once
    (log TSA - log ISA = log N), so for a narrow range such as 45-50 TSA is
    nearly uncorrelated with N, while for 1-5 a correlation of about 0.6
    remains (against exactly 1 in the fixed-radius i.i.d. test set).

    Args:
        spec: the counting cell.
        base: its training ``scene_spec`` when already computed.

    Raises:
        ConfigError: this radius range cannot hold Size independent of N for
            the count range, or the largest count does not fit.
    """
    base = base or _training_scene_spec(spec)
    # DeWind's size and spacing descriptors assume items that do not occlude each other, so
    # an overlap cell's controlled set is drawn without overlap (its items still fit the cell's).
    candidate = dataclasses.replace(base, radius_range=_radius_range(base.radius), control="dewind", overlap=False)
    return _checked(candidate, "n_test_dewind")


def _sample(scenes_spec: SceneSpec, n: int, seed: int) -> list[Scene]:
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
    train_spec = scene_spec(spec)
    seen, held = spec.train_counts, spec.held_out_counts
    pool = _sample_counts(train_spec, spec.n_train, data_seed, seen)
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(data_seed))
    n_valid = max(1, int(round(spec.valid_pct * len(pool))))
    splits = {
        "train": [pool[i] for i in order[n_valid:].tolist()],
        "valid": [pool[i] for i in order[:n_valid].tolist()],
        "test": _sample_counts(train_spec, spec.n_test, _derived_seed(data_seed, "test"), seen),
    }
    if spec.n_test_dewind:
        dewind_spec = dewind_scene_spec(spec, train_spec)
        splits["test_dewind"] = _sample_counts(dewind_spec, spec.n_test_dewind,
                                               _derived_seed(data_seed, "test_dewind"), seen)
    if held:
        splits["test_held_out"] = _sample_counts(train_spec, spec.n_test, _derived_seed(data_seed, "test_held_out"),
                                                 held)
    lo, hi = train_spec.counts
    payload: dict[str, Any] = {"classes": torch.arange(lo, hi + 1)}
    for name, scenes in splits.items():
        scenes = _rescale(scenes, spec)
        payload[f"{name}_images"] = _render(scenes, _scaled(train_spec, spec))
        payload[f"{name}_labels"] = torch.tensor([s.count - lo for s in scenes], dtype=torch.int64)
        payload.update({f"{name}_scenes_{k}": v for k, v in _pack_scenes(scenes).items()})
    return payload


def _sample_counts(scenes_spec: SceneSpec, n: int, seed: int, keep: tuple[int, ...]) -> list[Scene]:
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


def _render(scenes: list[Scene], spec: SceneSpec) -> torch.Tensor:
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


def _unpack_scenes(payload: dict[str, torch.Tensor], prefix: str) -> list[Scene]:
    counts = payload[f"{prefix}counts"].tolist()
    bounds = np.cumsum([0, *counts])
    centers, radii = payload[f"{prefix}centers"].numpy(), payload[f"{prefix}radii"].numpy()
    colors, meta = payload[f"{prefix}colors"].numpy(), payload[f"{prefix}meta"].numpy()
    shapes, targets = payload[f"{prefix}shapes"].numpy(), payload[f"{prefix}targets"].numpy()
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
def _ignored(name: str) -> bool:
    """Folders the class listing skips: hidden (``.DS_Store``, ``.git``) or set aside (``_quarantine``, ``__MACOSX``)."""
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
        raise DataError(f"data: folder {str(root)!r} does not exist or is not a folder")
    folders = [p for p in root.iterdir() if p.is_dir() and not _ignored(p.name)]
    numeric = all(_as_int(p.name) is not None for p in folders)
    folders.sort(key=lambda p: (_as_int(p.name), p.name) if numeric else (0, p.name))
    if len(folders) < 2:
        raise DataError(
            f"data: folder {str(root)!r} needs at least 2 class sub-folders (names not starting with '.' or '_'), "
            f"found {len(folders)}{': ' + repr(folders[0].name) if folders else ''}"
        )
    return folders


def _as_int(name: str) -> int | None:
    try:
        return int(name)
    except ValueError:
        return None


def _folder_files(root: Path) -> list[tuple[str, Path]]:
    """``(class name, file)`` for every file below each class folder, sorted.

    Skips hidden files and anything inside a hidden or ``_`` sub-folder.
    """
    listing = []
    for folder in class_folders(root):
        for path in sorted(folder.rglob("*")):
            parts = path.relative_to(folder).parts
            if path.is_file() and not path.name.startswith(".") and not any(_ignored(p) for p in parts[:-1]):
                listing.append((folder.name, path))
    return listing


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
        pixels = np.pad(pixels, ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)),
                        mode="symmetric")
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


def decode_folder(root: Path, size: int, resize: str) -> tuple[list[str], list[np.ndarray], list[int], list[str]]:
    """Decode every image below the class folders of ``root`` (``decode_image``), skipping unreadable files.

    Returns:
        ``(classes, images, labels, skipped)``: class names in class order, uint8 ``[3, size, size]``
        arrays, their class indices, and the paths (relative to ``root``) that could not be decoded.

    Raises:
        DataError: ``root`` is not a folder or has fewer than 2 class folders.
    """
    root = Path(root).expanduser().resolve()
    files = _folder_files(root)
    classes = [folder.name for folder in class_folders(root)]
    index_of = {name: index for index, name in enumerate(classes)}
    images, labels, skipped = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PIL's DecompressionBomb/EXIF chatter is not actionable here
        for label, path in files:
            try:
                images.append(decode_image(path, size, resize))
                labels.append(index_of[label])
            except Exception:  # any decode failure: corrupt, truncated, empty, not an image
                skipped.append(str(path.relative_to(root)))
    return classes, images, labels, skipped


def _build_folder(spec: TrainSpec) -> dict[str, Any]:
    """Decode every image once; skip unreadable files; stratified split by the data seed."""
    from sklearn.model_selection import train_test_split

    root = Path(spec.data).expanduser().resolve()
    classes, images, labels, skipped = decode_folder(root, spec.size, spec.resize)
    per_class = np.bincount(np.array(labels, dtype=int), minlength=len(classes))
    empty = [repr(name) for name, n in zip(classes, per_class) if n == 0]
    if empty:
        raise DataError(f"data: class folder(s) {', '.join(empty)} in {str(root)!r} contain no usable image")
    if min(per_class) < 2:
        small = [repr(name) for name, n in zip(classes, per_class) if n < 2]
        raise DataError(f"data: class folder(s) {', '.join(small)} in {str(root)!r} need at least 2 images to split")
    indices = np.arange(len(labels))
    n_valid = max(len(classes), int(round(spec.valid_pct * len(labels))))
    if len(labels) - n_valid < len(classes):
        raise DataError(f"data: {str(root)!r} has too few images ({len(labels)}) to split into train and valid")
    train, valid = train_test_split(indices, test_size=n_valid, stratify=labels, random_state=spec.resolved_data_seed)
    stack = torch.from_numpy(np.stack(images))  # [N, 3, size, size]
    label_tensor = torch.tensor(labels, dtype=torch.int64)
    train, valid = torch.from_numpy(np.sort(train)), torch.from_numpy(np.sort(valid))
    # Names travel as JSON lists: any legal folder name (newlines included) survives the cache.
    return {
        "class_names_json": json.dumps(classes),
        "skipped_json": json.dumps(skipped),
        "train_images": stack[train],
        "train_labels": label_tensor[train],
        "valid_images": stack[valid],
        "valid_labels": label_tensor[valid],
        "test_images": torch.zeros((0, 3, spec.size, spec.size), dtype=torch.uint8),
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
    from kit.store import atomic_write_with

    atomic_write_with(path, lambda handle: torch.save(payload, handle))


def _to_task(payload: dict[str, Any], device: torch.device) -> Task:
    present = [name for name in _ALL_SPLITS if f"{name}_labels" in payload]
    tensors = {
        f"{name}_{kind}": payload[f"{name}_{kind}"].to(device) for name in present for kind in ("images", "labels")
    }
    if "classes" in payload:  # counting
        scenes = {f"{name}_scenes": _unpack_scenes(payload, f"{name}_scenes_") for name in present}
        classes = [str(int(c)) for c in payload["classes"].tolist()]
        return Task(classes=classes, **tensors, **scenes)
    return Task(classes=json.loads(payload["class_names_json"]), **tensors,
                skipped_files=json.loads(payload["skipped_json"]))
