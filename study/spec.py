"""``TrainSpec``: one training run, and the vocabulary derived from its fields.

Each field carries its own metadata (``dataclasses.field(metadata=...)``): a
help text, a short human label, the task it applies to, and its role:

- ``setting``: defines what is studied (count range, augmentation, lr ...);
  cells that agree on every setting are replicates of one configuration;
- ``seed``: a replicate index (init seed, data seed);
- ``runtime``: how a run executes, not what it studies (``compile``).

Tables, groupings, figure legends, the sweep's summary and the flags of
``python -m study.train`` are all derived from this metadata: adding a field
here adds it everywhere, and nothing else lists the fields by hand.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from study.errors import ConfigError
from study.schedule import validate_stages
from synth.scenes import parse_range

__all__ = [
    "TrainSpec",
    "FieldInfo",
    "spec_fields",
    "field_info",
    "setting_fields",
    "seed_fields",
    "fields_for_task",
    "ignored_fields",
    "varying_fields",
    "configuration_key",
    "field_label",
    "spec_hash",
    "TRAIN_DEFAULTS",
]

Role = Literal["setting", "seed", "runtime"]
TaskName = Literal["counting", "folder"]


def _field(default: Any, help: str, *, label: str = "", task: TaskName | None = None, role: Role = "setting") -> Any:
    """A dataclass field with the study's metadata (see the module docstring)."""
    return dataclasses.field(default=default, metadata={"help": help, "label": label, "task": task, "role": role})


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """One training run: a task, a model, a recipe and its seeds.

    Defaults follow the original post's fastai v1 recipe where it applies
    (docs/POST.md); ``weights`` defaults to ``none`` because ImageNet weights
    need a download (``imagenet`` is what the post used).
    """

    # --- task ---
    task: TaskName = _field("counting", "counting (synthetic circles) or folder (photos, one sub-folder per class)")
    counts: str = _field("1-5", "inclusive class range lo-hi, e.g. 45-50", label="count range", task="counting")
    sizes: Literal["fixed", "varied", "dewind"] = _field(
        "fixed", "circle-size regime: one radius, radii varied per circle, or DeWind-controlled scenes",
        label="circle sizes", task="counting")
    radius: float = _field(0.0, "circle radius in px at `size`; 0 = auto (one radius for the compared ranges)",
                           task="counting")
    min_gap: float = _field(0.0, "min edge-to-edge gap in px; 0 = auto (1 px per 64 px of size)",
                            label="gap", task="counting")
    aspect: float = _field(1.0, "canvas width / height (the post's figures were 4:3)", task="counting")
    n_train: int = _field(2500, "images split into train/valid", label="images", task="counting")
    n_test: int = _field(1000, "images in a fresh test set with its own seed", label="test images", task="counting")
    data: str = _field("", "root folder with one sub-folder of images per class", label="photo folder", task="folder")
    resize: Literal["crop", "squish", "pad"] = _field("crop", "how photos reach `size`", task="folder")
    eval_resize: Literal["squish", "crop"] = _field(
        "squish", "how a non-square canvas reaches `size` for validation and test, the same for every policy "
        "(squish keeps every circle; crop is what fastai did and can cut circles off)",
        label="eval resize", task="counting")
    n_test_dewind: int = _field(
        1000, "images in a second test set with count independent of size and spacing (DeWind); 0 = none",
        label="controlled test images", task="counting")
    valid_pct: float = _field(0.2, "fraction of the images held out for validation", label="valid fraction")
    # --- model ---
    arch: str = _field("resnet34", "torchvision resnet name or timm:<name>", label="architecture")
    weights: str = _field("none", "imagenet, none, or the path of a state-dict file", label="init")
    head: Literal["fastai", "linear"] = _field("fastai", "classifier head: fastai's two-layer head or one linear layer")
    # --- recipe ---
    aug: str = _field("fastai", "augmentation policy (study.augment registry)", label="augmentation")
    size: int = _field(64, "training image size in px (the post: 224)", label="px")
    epochs: int = _field(5, "epochs of the one-cycle schedule")
    lr: float | Literal["find"] = _field(3e-3, "max lr of the one-cycle schedule, or find (lr_find)")
    freeze: Literal["auto", "yes", "no"] = _field("auto", "freeze the body: auto = iff pretrained weights")
    batch_size: int = _field(64, "images per training step", label="batch size")
    weight_decay: float = _field(1e-2, "AdamW weight decay", label="weight decay")
    stages: str = _field(
        "", "training stages run one after another on the same model, e.g. "
        "'frozen 3@3e-3, unfrozen 15@1e-6:1e-4' (epochs@max lr; lo:hi = discriminative lrs over the "
        "layer groups; @find = lr_find); empty = one stage of `epochs` at `lr` with `freeze`")
    precision: Literal["auto", "fp32", "bf16"] = _field(
        "auto", "auto = bf16 autocast + channels_last where the device has native bf16 (CUDA, CPUs with "
        "AVX512-BF16 or AMX), else fp32")
    # --- replicates ---
    seed: int = _field(0, "init seed: weights, batch order, augmentation (and the data, unless data_seed is set)",
                       role="seed")
    data_seed: int = _field(-1, "data seed: scenes and the train/valid split; -1 = same as seed",
                            label="data seed", role="seed")
    # --- runtime ---
    compile: bool = _field(False, "torch.compile the model (CUDA)", role="runtime")

    def __post_init__(self) -> None:
        checks = [
            ("size", self.size >= 16, "an image size >= 16"),
            ("epochs", self.epochs >= 1, "at least 1 epoch"),
            ("batch_size", self.batch_size >= 1, "a batch size >= 1"),
            ("n_train", self.n_train >= 10, "at least 10 images"),
            ("n_test", self.n_test >= 0, "a non-negative number of images"),
            ("valid_pct", 0.0 < self.valid_pct < 1.0, "a fraction strictly between 0 and 1"),
            ("aspect", 0.25 <= self.aspect <= 4.0, "a width/height ratio between 0.25 and 4"),
            ("radius", self.radius >= 0, "a radius >= 0 (0 = auto)"),
            ("min_gap", self.min_gap >= 0, "a gap >= 0 (0 = auto)"),
            ("data_seed", self.data_seed >= -1, "a seed >= 0, or -1 for the same as seed"),
            ("n_test_dewind", self.n_test_dewind >= 0, "a non-negative number of images"),
        ]
        for key, ok, expected in checks:
            if not ok:
                raise ConfigError(f"{key}: expected {expected}, got {getattr(self, key)!r}")
        if isinstance(self.lr, float) and not self.lr > 0:
            raise ConfigError(f"lr: expected a positive number or 'find', got {self.lr!r}")
        if self.task == "counting":
            try:
                parse_range(self.counts, "counts")
            except ValueError as error:
                raise ConfigError(str(error)) from None
        if self.task == "folder" and not self.data:
            raise ConfigError("data: the folder task needs data=<folder with one sub-folder per class>")
        validate_stages(self.stages)
        precisions = typing.get_args(typing.get_type_hints(TrainSpec)["precision"])
        if self.precision not in precisions:
            raise ConfigError(f"precision: unknown {self.precision!r}; valid: {', '.join(precisions)}")

    @property
    def resolved_data_seed(self) -> int:
        """The seed of the scenes and the split (``data_seed``, or ``seed`` when it is -1)."""
        return self.seed if self.data_seed < 0 else self.data_seed

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def label(self, fields: Sequence[str] | None = None) -> str:
        """A short human name from the given fields (default: the main axes), e.g. ``1-5 fastai none s0``."""
        names = fields if fields is not None else ("counts" if self.task == "counting" else "data", "aug", "weights")
        parts = [_short_value(name, getattr(self, name)) for name in names if name not in ignored_fields(self.task)]
        return " ".join(parts)

    def cell_id(self) -> str:
        """A readable, stable folder name: the main axes plus a hash of everything."""
        if self.task == "counting":
            what = f"count{self.counts}-{self.sizes}"
        else:
            what = "folder-" + (self.data.rstrip("/").split("/")[-1] or "data")
        weights = self.weights if self.weights in ("imagenet", "none") else "file"
        name = f"{what}-{self.aug}-{self.arch.replace(':', '_')}-{weights}-n{self.n_train}-s{self.seed}"
        return f"{name}-{spec_hash(self.to_dict())[:8]}"


def spec_hash(data: Any) -> str:
    """SHA-256 of a JSON-able value with sorted keys (stable across runs and machines)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


# ---------------------------------------------------------------- derived vocabulary


@dataclasses.dataclass(frozen=True)
class FieldInfo:
    """What the study knows about one TrainSpec field.

    Attributes:
        name: the field name (``n_train``); annotation: its type.
        default: its default; help: one line for --help and docs.
        label: a short human label for tables and legends (``images``).
        task: the task it applies to, or None for every task.
        role: ``setting``, ``seed`` or ``runtime``.
    """

    name: str
    annotation: Any
    default: Any
    help: str
    label: str
    task: str | None
    role: str


def spec_fields() -> tuple[FieldInfo, ...]:
    """Every TrainSpec field with its metadata, in declaration order."""
    hints = typing.get_type_hints(TrainSpec)
    return tuple(
        FieldInfo(f.name, hints[f.name], f.default, f.metadata["help"], f.metadata["label"] or f.name,
                  f.metadata["task"], f.metadata["role"])
        for f in dataclasses.fields(TrainSpec)
    )


def field_info(name: str) -> FieldInfo:
    """The metadata of one field. Raises ConfigError naming the valid fields."""
    for info in spec_fields():
        if info.name == name:
            return info
    raise ConfigError(f"{name}: unknown TrainSpec field; valid: {', '.join(f.name for f in spec_fields())}")


def field_label(name: str) -> str:
    """Human label of a field (``count range`` for ``counts``); unknown names come back unchanged."""
    for info in spec_fields():
        if info.name == name:
            return info.label
    return name


def setting_fields() -> tuple[str, ...]:
    """Fields that define a configuration: cells equal on all of them are replicates."""
    return tuple(info.name for info in spec_fields() if info.role == "setting")


def seed_fields() -> tuple[str, ...]:
    """Replicate fields (init seed, data seed)."""
    return tuple(info.name for info in spec_fields() if info.role == "seed")


def fields_for_task(task: str) -> tuple[str, ...]:
    """Fields that mean something for ``task`` (shared ones included)."""
    return tuple(info.name for info in spec_fields() if info.task in (None, task))


def ignored_fields(task: str) -> tuple[str, ...]:
    """Fields ``task`` ignores (a folder cell ignores ``counts``; a counting cell ignores ``data``)."""
    return tuple(info.name for info in spec_fields() if info.task not in (None, task))


def configuration_key(spec: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The setting fields of a spec dict as a hashable key (fields the task ignores are blank).

    Cells with equal keys differ only in seeds (or runtime options), so they
    are pooled as replicates.
    """
    ignored = ignored_fields(str(spec.get("task", "counting")))
    return tuple(
        (name, "" if name in ignored else json.dumps(spec.get(name, TRAIN_DEFAULTS[name]), default=str))
        for name in setting_fields()
    )


def varying_fields(specs: Iterable[dict[str, Any]], roles: Sequence[str] = ("setting",)) -> list[str]:
    """Fields of the given roles whose value differs between specs (ignored fields count as blank)."""
    specs = list(specs)
    names = [info.name for info in spec_fields() if info.role in roles]
    varying = []
    for name in names:
        values = {
            "" if name in ignored_fields(str(s.get("task", "counting"))) else json.dumps(s.get(name), default=str)
            for s in specs
        }
        if len(values) > 1:
            varying.append(name)
    return varying


def _short_value(name: str, value: Any) -> str:
    if name == "data":
        return str(value).rstrip("/").split("/")[-1] or "data"
    if name == "seed":
        return f"s{value}"
    if name == "data_seed":
        return f"d{value}"
    if name in ("weights",) and value not in ("imagenet", "none"):
        return "file"
    return str(value)


TRAIN_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(TrainSpec)}
