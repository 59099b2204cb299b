"""Configuration as data: frozen dataclasses with checked construction from dicts.

``TrainSpec`` describes one cell of a sweep (one training run); everything
that trains takes one. ``from_mapping`` builds any of these dataclasses from
a plain dict (TOML, JSON, CLI) and fails with the key, the bad value and the
valid choices instead of a bare traceback.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.resources
import itertools
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, packaged as tomli
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = [
    "ConfigError",
    "TrainSpec",
    "from_mapping",
    "spec_hash",
    "SweepInfo",
    "SweepSpec",
    "load_sweep",
    "parse_sweep",
    "preset_names",
    "read_preset",
    "read_config_file",
    "apply_set",
]


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


# ============================================================================ sweeps
#
# A sweep file has three sections (see study/presets/*.toml for worked examples):
#
#   [sweep]   name, description
#   [train]   scalar TrainSpec defaults shared by every cell
#   [grid]    TrainSpec fields, each a value or a list of values; the cells are
#             the Cartesian product of the lists (list order = run order)
#   [[grid]]  several blocks instead of one: each block is crossed on its own
#             over [train] and the sweep is the union of the blocks (so the
#             post's experiments, which are not one product, fit in one file)
#
# The grid axes the issue names map onto TrainSpec fields: task, counts (count
# range), aug (augmentation policy), weights (init: imagenet | none), sizes
# (circle-size regime), n_train (training-set size), arch, epochs, lr (a number
# or "find") and seed; any other TrainSpec field may be an axis too.

SWEEP_SECTIONS = ("sweep", "train", "grid")

# Settings a task ignores. A folder (photo) cell gets the TrainSpec defaults
# for the counting-only fields, and vice versa, so a block that crosses
# task = ["counting", "folder"] with counts = [...] does not train the same
# photo cell once per count range under different cell ids.
COUNTING_ONLY_FIELDS = ("counts", "sizes", "radius", "min_gap", "aspect", "n_train", "n_test")
FOLDER_ONLY_FIELDS = ("data", "resize")


@dataclasses.dataclass(frozen=True)
class SweepInfo:
    """The ``[sweep]`` section: what the sweep is called and why it exists."""

    name: str = "sweep"  # also the default run folder: runs/<name>
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or any(c in self.name for c in "/\\ ") or self.name.startswith("."):
            raise ConfigError(
                f"name: expected a folder-safe name (no spaces or slashes), got {self.name!r}"
            )


def _freeze(value: Any) -> Any:
    """Lists become tuples so a frozen spec is immutable all the way down."""
    return tuple(value) if isinstance(value, list) else value


def _thaw(value: Any) -> Any:
    """Tuples become lists for TOML output."""
    return list(value) if isinstance(value, tuple) else value


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """A resolved sweep: defaults plus grid blocks; ``cells()`` expands it.

    Attributes:
        info: the ``[sweep]`` section.
        train: every TrainSpec field -> its default for this sweep (resolved,
            so a saved sweep.toml does not depend on the code's defaults).
        grids: one tuple of ``(field, value-or-tuple-of-values)`` pairs per
            grid block, in file order.
    """

    info: SweepInfo
    train: tuple[tuple[str, Any], ...]
    grids: tuple[tuple[tuple[str, Any], ...], ...]

    @property
    def name(self) -> str:
        return self.info.name

    def cells(self) -> list[TrainSpec]:
        """Expand the grid blocks into TrainSpecs, in run order, without duplicates.

        Raises:
            ConfigError: a combination TrainSpec rejects (e.g. a bad count
                range), naming the grid block and the cell.
        """
        defaults = dict(self.train)
        cells: dict[str, TrainSpec] = {}
        for index, block in enumerate(self.grids):
            where = "grid." if len(self.grids) == 1 else f"grid[{index}]."
            axes = [(key, value if isinstance(value, tuple) else (value,)) for key, value in block]
            for combination in itertools.product(*(values for _, values in axes)):
                chosen = dict(zip((key for key, _ in axes), combination))
                spec = _make_cell({**defaults, **chosen}, where, set(chosen))
                cells.setdefault(spec.cell_id(), spec)
        return list(cells.values())

    def to_dict(self) -> dict[str, Any]:
        """The TOML-shaped dict: ``{"sweep": ..., "train": ..., "grid": [...]}``."""
        return {
            "sweep": dataclasses.asdict(self.info),
            "train": {key: _thaw(value) for key, value in self.train},
            "grid": [{key: _thaw(value) for key, value in block} for block in self.grids],
        }

    def to_toml(self) -> str:
        """The resolved spec as TOML; ``load_sweep(config=...)`` reads it back."""
        import tomli_w

        header = (
            f"# Resolved sweep spec written by `python -m study.sweep` ({len(self.cells())} cells).\n"
            "# Rerun it with: python -m study.sweep --config <this file>\n\n"
        )
        return header + tomli_w.dumps(self.to_dict())


def _make_cell(values: dict[str, Any], where: str, grid_keys: set[str]) -> TrainSpec:
    """One TrainSpec from merged values, resetting the fields its task ignores.

    Args:
        values: every TrainSpec field -> value ([train] overlaid with the block).
        where: the block's prefix for errors (``grid.`` or ``grid[2].``).
        grid_keys: fields the block set, so an error names the section that
            set the bad value (``grid.counts`` vs ``train.epochs``).
    """
    ignored = COUNTING_ONLY_FIELDS if values.get("task") == "folder" else FOLDER_ONLY_FIELDS
    for key in ignored:
        values[key] = TRAIN_DEFAULTS[key]
    try:
        spec = TrainSpec(**values)
        _check_names(spec)
    except ConfigError as error:
        key = str(error).split(":", 1)[0]
        raise ConfigError(f"{where if key in grid_keys else 'train.'}{error}") from None
    return spec


TRAIN_DEFAULTS: dict[str, Any] = {
    field.name: field.default for field in dataclasses.fields(TrainSpec) if field.init
}


def _registry_names(module_name: str) -> list[str] | None:
    """The names a registry module knows, or None if it cannot say.

    The augmentation and model registries live in modules other people own;
    this looks for the usual spellings of "list the names" so that a typo in
    a sweep fails before any training, and stays silent if the module is
    missing (the cell itself then reports the bad name).
    """
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    for attribute in ("names", "available", "list_names", "POLICIES", "REGISTRY", "ARCHITECTURES", "ARCHS"):
        found = getattr(module, attribute, None)
        if found is None:
            continue
        names = found() if callable(found) else found
        if isinstance(names, (dict, list, tuple, set, frozenset)) and names:
            return sorted(str(name) for name in names)
    return None


def _check_names(spec: TrainSpec) -> None:
    """Names that choose code (aug policy, architecture, weights) must exist."""
    if spec.weights not in ("imagenet", "none") and not Path(spec.weights).expanduser().is_file():
        raise ConfigError(
            f"weights: unknown value {spec.weights!r}; valid: 'imagenet', 'none', "
            "or the path of an existing state-dict file"
        )
    checks = [("aug", spec.aug, "study.augment"), ("arch", spec.arch, "study.models")]
    for key, value, module_name in checks:
        if key == "arch" and value.startswith("timm:"):
            continue  # timm has hundreds of names; the model registry checks them when building
        names = _registry_names(module_name)
        if names is not None and value not in names:
            raise ConfigError(f"{key}: unknown value {value!r}; valid: {', '.join(names)}")


# ---------------------------------------------------------------- loading sweep files


def preset_names() -> list[str]:
    """The presets shipped in study/presets/ (without the .toml suffix)."""
    folder = importlib.resources.files("study") / "presets"
    return sorted(item.name[: -len(".toml")] for item in folder.iterdir() if item.name.endswith(".toml"))


def read_preset(name: str) -> dict[str, Any]:
    """The raw (unchecked) dict of preset ``name``.

    Raises:
        ConfigError: unknown preset, naming the known ones.
    """
    names = preset_names()
    if name not in names:
        raise ConfigError(f"--preset: unknown preset {name!r}; valid: {', '.join(names)}")
    text = (importlib.resources.files("study") / "presets" / f"{name}.toml").read_text(encoding="utf-8")
    return _parse_toml(text, f"preset {name!r}")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The raw (unchecked) dict of a TOML sweep file.

    Raises:
        ConfigError: missing file or invalid TOML, naming the file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"--config: cannot read {str(path)!r}: {error.strerror or error}") from None
    return _parse_toml(text, str(path))


def _parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: invalid TOML: {error}") from None


def merge_raw(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Layer a config file over a preset: tables merge key by key, grids replace.

    A ``grid`` in the override replaces the base's grid entirely, because
    merging two grids key by key would silently cross axes nobody asked for.
    """
    merged = {key: dict(value) if isinstance(value, dict) else value for key, value in base.items()}
    for key, value in override.items():
        if key != "grid" and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def parse_set_value(text: str) -> Any:
    """A ``--set`` value: TOML syntax when it parses (3, 1e-4, true, ["a", "b"]), else a string."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def apply_set(raw: dict[str, Any], assignment: str) -> dict[str, Any]:
    """Apply one ``--set section.key=value`` to a raw sweep dict (returns a new dict).

    ``grid.key=a,b`` sets a list axis (a comma-separated value is split);
    with several ``[[grid]]`` blocks it sets the key in every block.

    Raises:
        ConfigError: bad syntax or an unknown section, naming the valid ones.
    """
    target, equals, text = assignment.partition("=")
    section, dot, key = target.strip().partition(".")
    if not equals or not dot or not section or not key or "." in key:
        raise ConfigError(
            f"--set {assignment!r}: expected section.key=value such as train.epochs=3 "
            f"or grid.aug=fastai,sensible (sections: {', '.join(SWEEP_SECTIONS)})"
        )
    if section not in SWEEP_SECTIONS:
        raise ConfigError(f"--set {assignment!r}: unknown section {section!r}; valid: {', '.join(SWEEP_SECTIONS)}")
    value = parse_set_value(text.strip())
    if section == "grid" and isinstance(value, str) and "," in value:
        value = [parse_set_value(part.strip()) for part in value.split(",")]
    raw = merge_raw(raw, {})
    grid = raw.get("grid", {})
    blocks = [block for block in (grid if isinstance(grid, list) else [grid]) if isinstance(block, dict)]
    if section == "train" and blocks and all(key in block for block in blocks):
        # The grid wins over [train], so this default would silently do nothing.
        raise ConfigError(
            f"--set {assignment!r}: the grid sets {key} in every block, so a [train] default is never "
            f"used; use --set grid.{key}={text.strip()}"
        )
    if section == "grid":
        grid = raw.get("grid", {})
        blocks = grid if isinstance(grid, list) else [grid]
        blocks = [{**block, key: value} if isinstance(block, dict) else block for block in blocks]
        raw["grid"] = blocks if isinstance(grid, list) else blocks[0]
    else:
        raw[section] = {**raw.get(section, {}), key: value}
    return raw


def _check_table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table ([{where}]), got {value!r}")
    return value


def parse_sweep(raw: dict[str, Any], source: str = "") -> SweepSpec:
    """Check a raw sweep dict and resolve it into a SweepSpec.

    Every key and value is checked, and every cell is built once, so any
    mistake surfaces here rather than hours into a sweep.

    Args:
        raw: the parsed TOML (``[sweep]``, ``[train]``, ``[grid]`` or ``[[grid]]``).
        source: where it came from, prefixed to error messages.

    Raises:
        ConfigError: naming the section.key, the bad value and the valid choices.
    """
    prefix = f"{source}: " if source else ""
    try:
        unknown = sorted(set(raw) - set(SWEEP_SECTIONS))
        if unknown:
            raise ConfigError(f"{unknown[0]}: unknown section; valid sections: {', '.join(SWEEP_SECTIONS)}")
        info = from_mapping(SweepInfo, _check_table(raw.get("sweep", {}), "sweep"), "sweep.")
        train = _parse_train(_check_table(raw.get("train", {}), "train"))
        grid = raw.get("grid", {})
        blocks = grid if isinstance(grid, list) else [_check_table(grid, "grid")]
        if not blocks:
            blocks = [{}]
        grids = tuple(
            _parse_block(_check_table(block, "grid"), "grid." if len(blocks) == 1 else f"grid[{index}].")
            for index, block in enumerate(blocks)
        )
        spec = SweepSpec(info=info, train=train, grids=grids)
        spec.cells()  # build every cell now: cross-field errors surface before training
    except ConfigError as error:
        raise ConfigError(f"{prefix}{error}") from None
    return spec


def _parse_train(table: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """Check [train] (scalars only) and fill in every TrainSpec default."""
    hints = typing.get_type_hints(TrainSpec)
    values = dict(TRAIN_DEFAULTS)
    for key, value in table.items():
        _check_field(key, "train.")
        if isinstance(value, list):
            raise ConfigError(f"train.{key}: expected a single value, got the list {value!r}; put axes under [grid]")
        values[key] = coerce(f"train.{key}", value, hints[key])
    return tuple(values.items())


def _parse_block(table: dict[str, Any], where: str) -> tuple[tuple[str, Any], ...]:
    """Check one grid block: each field a value or a non-empty list of values."""
    hints = typing.get_type_hints(TrainSpec)
    block = []
    for key, value in table.items():
        _check_field(key, where)
        if isinstance(value, list):
            if not value:
                raise ConfigError(f"{where}{key}: expected a non-empty list of values, got []")
            checked = tuple(coerce(f"{where}{key}[{i}]", item, hints[key]) for i, item in enumerate(value))
        else:
            checked = coerce(f"{where}{key}", value, hints[key])
        block.append((key, checked))
    return tuple(block)


def _check_field(key: str, where: str) -> None:
    if key not in TRAIN_DEFAULTS:
        raise ConfigError(f"{where}{key}: unknown key; valid keys: {', '.join(sorted(TRAIN_DEFAULTS))}")


def load_sweep(
    preset: str | None = None,
    config: str | Path | None = None,
    sets: typing.Sequence[str] = (),
) -> SweepSpec:
    """The sweep the command line asks for: preset, then config file, then --set.

    With neither a preset nor a config file, the ``quick`` preset is used.
    A config file layers over the preset when both are given.

    Raises:
        ConfigError: for any unknown key, wrong type, bad value or bad syntax.
    """
    raw: dict[str, Any] = {}
    source = ""
    if preset is not None or config is None:
        raw = read_preset(preset or DEFAULT_PRESET)
        source = f"preset {preset or DEFAULT_PRESET!r}"
    if config is not None:
        from_file = read_config_file(config)
        section = from_file.get("sweep", {})
        if isinstance(section, dict) and "name" not in section:
            # A file without a name names the sweep (and its run folder) after itself.
            from_file = merge_raw(from_file, {"sweep": {"name": Path(config).stem}})
        raw = merge_raw(raw, from_file)
        source = str(config)
    for assignment in sets:
        raw = apply_set(raw, assignment)
    if sets:
        source += " with --set"
    return parse_sweep(raw, source)


DEFAULT_PRESET = "quick"
