"""Sweeps: the ``[sweep]``/``[train]``/``[grid]`` structure and its expansion into cells.

A sweep file has three sections (see study/presets/*.toml for worked examples):

  [sweep]   name, description
  [train]   scalar TrainSpec defaults shared by every cell
  [grid]    TrainSpec fields, each a value or a list of values; the cells are
            the Cartesian product of the lists (list order = run order)
  [[grid]]  several blocks instead of one: each block is crossed on its own
            over [train] and the sweep is the union of the blocks (so the
            post's experiments, which are not one product, fit in one file)

Any TrainSpec field may be an axis (``study.config.spec`` lists them with their
meaning): count range, augmentation policy, init, circle-size regime,
training-set size, architecture, epochs, lr, seeds ...
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import typing
from pathlib import Path
from typing import Any

import tomli_w

from study.config.coerce import coerce, from_mapping
from study.config.names import check_arch, check_aug
from study.config.scenes import scene_recipe
from study.config.spec import TRAIN_DEFAULTS, TrainSpec, ignored_fields
from study.errors import ConfigError
from synth.scenes import parse_range

__all__ = ["SWEEP_SECTIONS", "SweepInfo", "Sweep", "parse_sweep", "check_cell", "check_names", "shared_radius"]

SWEEP_SECTIONS = ("sweep", "train", "grid")


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
class Sweep:
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

        The expansion runs once per sweep (the spec is frozen, so it is kept);
        each call returns a new list of the same TrainSpecs.

        Raises:
            ConfigError: a combination TrainSpec rejects (e.g. a bad count
                range), naming the grid block and the cell.
        """
        return list(self._expanded)

    @functools.cached_property
    def _expanded(self) -> tuple[TrainSpec, ...]:
        defaults = dict(self.train)
        built: list[TrainSpec] = []
        for index, block in enumerate(self.grids):
            where = "grid." if len(self.grids) == 1 else f"grid[{index}]."
            axes = [(key, value if isinstance(value, tuple) else (value,)) for key, value in block]
            for combination in itertools.product(*(values for _, values in axes)):
                chosen = dict(zip((key for key, _ in axes), combination))
                built.append(_make_cell(defaults, chosen, where))
        cells: dict[str, TrainSpec] = {}
        for spec in shared_radius(built):
            cells.setdefault(spec.cell_id(), spec)
        return tuple(cells.values())

    def values(self, name: str) -> set[Any]:
        """Every value the TrainSpec field ``name`` takes in this sweep's cells, without expanding the grid.

        The [train] value counts when some grid block leaves the field to it.
        (Fields a cell's task ignores are reset at expansion; their values are listed all the same.)
        """
        found: set[Any] = set()
        for block in self.grids:
            chosen = dict(block)
            if name in chosen:
                found.update(chosen[name] if isinstance(chosen[name], tuple) else (chosen[name],))
            else:
                found.add(dict(self.train)[name])
        return found

    def to_dict(self) -> dict[str, Any]:
        """The TOML-shaped dict: ``{"sweep": ..., "train": ..., "grid": [...]}``."""
        return {
            "sweep": dataclasses.asdict(self.info),
            "train": {key: _thaw(value) for key, value in self.train},
            "grid": [{key: _thaw(value) for key, value in block} for block in self.grids],
        }

    def to_toml(self) -> str:
        """The resolved spec as TOML; ``load_sweep(config=...)`` reads it back."""
        header = (
            f"# Resolved sweep spec written by `python -m study.sweep` ({len(self.cells())} cells).\n"
            "# Rerun it with: python -m study.sweep --config <this file>\n\n"
        )
        return header + tomli_w.dumps(self.to_dict())


def _build(values: dict[str, Any]) -> TrainSpec:
    """A checked TrainSpec, resetting the fields its task ignores.

    A folder (photo) cell gets the defaults of the counting-only fields, and
    vice versa, so a block that crosses task = ["counting", "folder"] with
    counts = [...] does not train the same photo cell once per count range.
    """
    values = dict(values)
    for key in ignored_fields(str(values.get("task", "counting"))):
        values[key] = TRAIN_DEFAULTS[key]
    spec = TrainSpec(**values)
    check_names(spec)
    check_cell(spec)
    return spec


def _make_cell(defaults: dict[str, Any], chosen: dict[str, Any], where: str) -> TrainSpec:
    """One checked TrainSpec: the block's values over [train].

    Args:
        defaults: every TrainSpec field -> its [train] value.
        chosen: the fields this grid combination sets.
        where: the block's prefix for errors (``grid.`` or ``grid[2].``).

    Raises:
        ConfigError: prefixed with the section to fix: ``train.`` when the
            [train] values are refused on their own, else the grid block's.
    """
    try:
        return _build({**defaults, **chosen})
    except ConfigError as error:
        try:
            _build(defaults)
            section = where
        except ConfigError:
            section = "train."
        raise ConfigError(f"{section}{error}") from None


def _canvas(spec: TrainSpec) -> tuple[int, float, float]:
    """What a shared radius depends on: the side of the scene canvas, aspect and gap."""
    return spec.scene_size or spec.size, spec.aspect, spec.min_gap


def shared_radius(cells: list[TrainSpec]) -> list[TrainSpec]:
    """Give the auto-radius counting cells of one canvas the same circles.

    The auto radius shrinks as the largest count grows, so left alone 1-5 and
    45-50 would be drawn with different circles and a comparison of count
    ranges would also compare circle sizes. Every counting cell with
    ``radius = 0`` therefore gets the radius the sweep's largest count on the
    same canvas (size, aspect, gap) needs; it is recorded in the spec, so it
    is part of the cell id. A radius set by the sweep is kept.

    Args:
        cells: the expanded cells, in run order.

    Returns:
        The same cells with ``radius`` resolved where it was 0.
    """
    auto = [cell for cell in cells if cell.task == "counting" and cell.radius == 0]
    radius: dict[tuple[int, float, float], float] = {}
    for canvas in {_canvas(cell) for cell in auto}:
        group = [cell for cell in auto if _canvas(cell) == canvas]
        top = max(parse_range(cell.counts, "counts")[1] for cell in group)
        densest = [cell for cell in group if parse_range(cell.counts, "counts")[1] == top]
        # Rounded down to 0.1 um of a px: readable in spec.json, never less feasible.
        radius[canvas] = min(math.floor(scene_recipe(cell).radius * 1e4) / 1e4 for cell in densest)
    auto_ids = {id(cell) for cell in auto}  # identity, not ==: comparing dataclasses made this O(cells^2)
    return [dataclasses.replace(cell, radius=radius[_canvas(cell)]) if id(cell) in auto_ids else cell
            for cell in cells]


def check_cell(spec: TrainSpec) -> None:
    """Refuse, before any training, a cell that cannot train or cannot be drawn.

    Raises:
        ConfigError: naming the key and the value, and what would work.
    """
    if spec.batch_size < 2:
        raise ConfigError(f"batch_size: {spec.batch_size} cannot train: BatchNorm needs at least 2 images "
                          "per batch; set batch_size to 2 or more (the post used 64)")
    if spec.task != "counting":
        return
    lo, hi = parse_range(spec.counts, "counts")
    if lo < 1:
        raise ConfigError(f"counts: {spec.counts!r} starts at {lo}; counts start at 1 (e.g. 1-{max(hi, 1)})")
    n_valid = max(1, int(round(spec.valid_pct * spec.n_train)))
    if spec.n_train - n_valid < 2:
        raise ConfigError(
            f"n_train: {spec.n_train} images with valid_pct {spec.valid_pct} leave {spec.n_train - n_valid} "
            "training image(s); raise n_train or lower valid_pct so at least 2 are left for training")
    scene_recipe(spec)  # ConfigError when the largest count cannot be packed on the canvas


def check_names(spec: TrainSpec) -> None:
    """Names that choose code (aug policy, architecture, weights) must exist.

    A ``timm:<name>`` is checked for its form only: whether timm knows it is
    asked where cells are about to run (``study.engine.backbones.check_timm_names``),
    so reading a sweep never imports timm or torch.
    """
    if spec.weights not in ("imagenet", "none") and not Path(spec.weights).expanduser().is_file():
        raise ConfigError(
            f"weights: unknown value {spec.weights!r}; valid: 'imagenet', 'none', "
            "or the path of an existing state-dict file"
        )
    check_aug(spec.aug)
    check_arch(spec.arch)


# ---------------------------------------------------------------- checking raw sweep dicts


def _check_table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table ([{where}]), got {value!r}")
    return value


def parse_sweep(raw: dict[str, Any], source: str = "") -> Sweep:
    """Check a raw sweep dict and resolve it into a Sweep.

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
        spec = Sweep(info=info, train=train, grids=grids)
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
