"""Configuration as data: frozen dataclasses with checked construction from dicts.

``TrainSpec`` describes one cell of a sweep (one training run); everything
that trains takes one. ``from_mapping`` builds any of these dataclasses from
a plain dict (TOML, JSON, CLI) and fails with the key, the bad value and the
valid choices instead of a bare traceback.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

__all__ = ["ConfigError", "TrainSpec", "from_mapping", "spec_hash"]


class ConfigError(ValueError):
    """A configuration value that is unknown, of the wrong type, or out of range."""


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """One training run: a task, a model, a recipe and a seed.

    Defaults follow the original post's fastai v1 recipe where it applies
    (see ``../shared/seed/README.md``); ``weights`` defaults to ``none``
    because ImageNet weights need a download (``imagenet`` is the post).
    """

    # --- task ---
    task: Literal["counting", "folder"] = "counting"
    counts: str = "1-5"  # counting: inclusive "lo-hi" class range
    sizes: Literal["fixed", "varied", "dewind"] = "fixed"  # circle-size regime
    radius: float = 0.0  # counting: circle radius in px at `size`; 0 = auto from size and counts
    min_gap: float = 0.0  # counting: min edge-to-edge gap in px; 0 = auto (1 px per 64 px of size)
    aspect: float = 1.0  # counting: canvas width / height (the post's figures were 4:3)
    n_train: int = 2500  # counting: images split into train/valid (the post: 2,500)
    n_test: int = 1000  # counting: a fresh test set with its own seed
    data: str = ""  # folder: root with one sub-folder per class
    resize: Literal["crop", "squish", "pad"] = "crop"  # folder: how images reach `size`
    valid_pct: float = 0.2
    # --- model ---
    arch: str = "resnet34"  # torchvision resnet name or "timm:<name>"
    weights: str = "none"  # "imagenet", "none", or a path to a state dict
    head: Literal["fastai", "linear"] = "fastai"
    # --- recipe ---
    aug: str = "fastai"  # augmentation policy name (study.augment registry)
    size: int = 64  # training image size in px (the post: 224)
    epochs: int = 5
    lr: float | Literal["find"] = 3e-3  # max lr of the one-cycle schedule, or "find"
    freeze: Literal["auto", "yes", "no"] = "auto"  # auto: frozen body iff pretrained weights
    batch_size: int = 64
    weight_decay: float = 1e-2
    seed: int = 0
    compile: bool = False  # torch.compile on CUDA

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
        ]
        for key, ok, expected in checks:
            if not ok:
                raise ConfigError(f"{key}: expected {expected}, got {getattr(self, key)!r}")
        if isinstance(self.lr, float) and not self.lr > 0:
            raise ConfigError(f"lr: expected a positive number or 'find', got {self.lr!r}")
        if self.task == "counting":
            from synth.scenes import parse_range

            try:
                parse_range(self.counts, "counts")
            except ValueError as error:
                raise ConfigError(str(error)) from None
        if self.task == "folder" and not self.data:
            raise ConfigError("data: the folder task needs data=<folder with one sub-folder per class>")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

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


T = TypeVar("T")


def _type_name(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return " | ".join(repr(a) for a in get_args(annotation))
    if get_origin(annotation) in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(annotation))
    return getattr(annotation, "__name__", str(annotation))


def coerce(key: str, value: Any, annotation: Any) -> Any:
    """Check ``value`` against a type annotation, converting the safe cases.

    Ints are accepted where floats are expected, and strings from the CLI are
    parsed when the annotation allows no string. Anything else raises
    ``ConfigError`` naming ``key``, the value and the expected type/choices.
    """
    origin = get_origin(annotation)
    if origin is Literal:
        if value in get_args(annotation):
            return value
        raise ConfigError(f"{key}: unknown value {value!r}; valid: {_type_name(annotation)}")
    if origin in (Union, types.UnionType):
        errors = []
        for option in get_args(annotation):
            try:
                return coerce(key, value, option)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(f"{key}: expected {_type_name(annotation)}, got {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            value = [value]
        (item_type,) = get_args(annotation)[:1] or (Any,)
        return origin(coerce(f"{key}[{i}]", item, item_type) for i, item in enumerate(value))
    if annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.replace("_", ""))
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if annotation is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # e.g. counts = 5 in TOML
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    return value


def from_mapping(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, checking keys and types.

    Args:
        cls: a dataclass.
        data: field name -> value.
        where: prefix for error messages (e.g. ``"train."`` or a file name).

    Raises:
        ConfigError: unknown key (with the valid keys), wrong type, bad value.
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(f"{where}{unknown[0]}: unknown key; valid keys: {', '.join(sorted(fields))}")
    values = {key: coerce(f"{where}{key}", value, hints[key]) for key, value in data.items()}
    try:
        return cls(**values)
    except ConfigError as error:
        raise ConfigError(f"{where}{error}") from None
