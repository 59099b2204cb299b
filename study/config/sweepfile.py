"""Sweep files: presets, config files, the ``--set`` language, and ``load_sweep``.

A sweep is read in layers: a preset (``study/presets/*.toml``), then a config
file, then each ``--set section.key=value``; ``study.config.grid.parse_sweep`` checks
the result. Errors name the file, the key, the bad value and the choices.
"""

from __future__ import annotations

import importlib.resources
import tomllib
import typing
from pathlib import Path
from typing import Any

from study.errors import ConfigError
from study.config.grid import SWEEP_SECTIONS, Sweep, parse_sweep

__all__ = [
    "DEFAULT_PRESET",
    "preset_names",
    "read_preset",
    "read_config_file",
    "merge_raw",
    "apply_set",
    "load_sweep",
]

DEFAULT_PRESET = "quick"

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
        ConfigError: missing, unreadable or non-UTF-8 file, or invalid TOML, naming the file.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as error:
        raise ConfigError(f"--config: cannot read {str(path)!r}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"--config: {str(path)!r} is not UTF-8 text (byte {error.start}); "
                          "save it as UTF-8") from None
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


def load_sweep(
    preset: str | None = None,
    config: str | Path | None = None,
    sets: typing.Sequence[str] = (),
) -> Sweep:
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
