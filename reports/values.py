"""Reading numbers out of CSV/JSON values (blank, text and NaN mean "no number")."""

from __future__ import annotations

from typing import Any

__all__ = ["to_float", "row_accuracy"]


def to_float(value: Any) -> float | None:
    """A CSV/JSON value as a float, or None when it is blank, text, a bool or NaN."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number


def row_accuracy(row: dict[str, Any]) -> float | None:
    """A results row's accuracy: the test split when it has one, else validation (photo folders)."""
    test = to_float(row.get("test_accuracy"))
    return test if test is not None else to_float(row.get("valid_accuracy"))
