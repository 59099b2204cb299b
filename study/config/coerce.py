"""Checked construction of dataclasses from plain dicts (TOML, JSON, the command line).

``coerce`` checks one value against a type annotation, converting the safe
cases; ``from_mapping`` builds a whole dataclass. Both fail with the key, the
bad value and the valid choices instead of a bare traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import math
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from study.errors import ConfigError

__all__ = ["coerce", "from_mapping", "type_name", "out_folder", "bounded"]

T = TypeVar("T")


def type_name(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return " | ".join(repr(a) for a in get_args(annotation))
    if get_origin(annotation) in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in get_args(annotation))
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
        raise ConfigError(f"{key}: unknown value {value!r}; valid: {type_name(annotation)}")
    if origin in (Union, types.UnionType):
        errors = []
        for option in get_args(annotation):
            try:
                return coerce(key, value, option)
            except ConfigError as error:
                errors.append(str(error))
        finite = "finite " if any("finite" in error for error in errors) else ""
        raise ConfigError(f"{key}: expected {finite}{type_name(annotation)}, got {value!r}")
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
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str):
            with contextlib.suppress(ValueError):
                number = float(value)
        if number is None:
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            number = float(number)
        except OverflowError:  # an int too large for a float (TOML allows 10**400 spelled out)
            number = math.inf
        if not math.isfinite(number):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return number
    if annotation is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # e.g. counts = 5 in TOML
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    return value


@functools.cache  # get_type_hints re-evaluates every annotation; a sweep builds hundreds of specs
def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_mapping(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, checking keys and types.

    Args:
        cls: a dataclass.
        data: field name -> value.
        where: prefix for error messages (e.g. ``"train."`` or a file name).

    Raises:
        ConfigError: unknown key (with the valid keys), wrong type, bad value.
    """
    hints = _type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ConfigError(f"{where}{unknown[0]}: unknown key; valid keys: {', '.join(sorted(fields))}")
    values = {key: coerce(f"{where}{key}", value, hints[key]) for key, value in data.items()}
    try:
        return cls(**values)
    except ConfigError as error:
        raise ConfigError(f"{where}{error}") from None


def out_folder(text: str) -> Path:
    """The argparse ``type`` of a folder flag (``--out``, ``--cache-dir``): any path but an empty one.

    An empty string would silently mean the current folder; a command that
    writes there must be asked to, with ``--out .``.
    """
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is an empty path (it would mean the current folder); "
                                         "pass a folder such as runs/NAME, or . for the current folder")
    return Path(text)


def bounded(kind: type, low: float, high: float) -> Callable[[str], Any]:
    """An argparse ``type``: an int or float within ``[low, high]`` (finite), else one line with the range.

    Args:
        kind: ``int`` or ``float``.
        low, high: the inclusive valid range.
    """

    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except (ValueError, OverflowError):
            value = None
        if value is None or not math.isfinite(value) or not low <= value <= high:
            what, show = ("an integer", "{:d}") if kind is int else ("a number", "{:g}")
            raise argparse.ArgumentTypeError(f"expected {what} from {show.format(kind(low))} to "
                                             f"{show.format(kind(high))}, got {text!r}")
        return value

    convert.__name__ = kind.__name__
    return convert
