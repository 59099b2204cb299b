"""How numbers, durations and intervals read, the same on the console, in the analysis and in the report.

One function per kind of value; callers choose only the number of decimals.
A missing value (None, "", NaN) reads as ``MISSING`` everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from kit.records import to_float

__all__ = ["MISSING", "number", "general", "duration", "interval", "ci_sentence"]

MISSING = "–"


def number(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` decimals: ``number(0.87654) == "0.877"``.

    Integers stay integers (``3``, ``"120"``), a non-zero number too small
    for ``digits`` decimals reads in scientific form (``4.0e-04``), text
    passes through unchanged, and blanks, None and NaN read as ``MISSING``.
    """
    as_float = _as_float(value)
    if not isinstance(as_float, float):
        return as_float
    if as_float.is_integer() and abs(as_float) < 1e6 and "." not in str(value):
        return str(int(as_float))
    if as_float != 0 and abs(as_float) < 10**-digits:
        return f"{as_float:.1e}"
    return f"{as_float:.{digits}f}"


def general(value: Any) -> str:
    """A number in its shortest form (learning rates: ``0.003``, ``1e-04``); blanks read as ``MISSING``."""
    as_float = _as_float(value)
    return f"{as_float:g}" if isinstance(as_float, float) else as_float


def _as_float(value: Any) -> float | str:
    """``value`` as a finite-or-infinite float, or the text to show instead: ``MISSING`` for blanks,
    None and NaN, the value itself for text that is not a number."""
    if value is None or value == "":
        return MISSING
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        return str(value)
    return MISSING if math.isnan(as_float) else as_float


def duration(seconds: Any) -> str:
    """Seconds as people read them: ``"12 s"``, ``"3 min 20 s"``, ``"2 h 5 min"``; not a number -> ``MISSING``."""
    as_float = to_float(seconds)
    if as_float is None or math.isinf(as_float):
        return MISSING
    total = int(round(as_float))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def interval(mean: Any, low: Any, high: Any, digits: int = 3) -> str:
    """A value with its interval in a table cell: ``interval(0.4, 0.31, 0.52, 2) == "0.40 [0.31, 0.52]"``.

    Without bounds (NaN or None) the value stands alone; without a value the cell reads ``MISSING``.
    """
    if to_float(mean) is None:
        return MISSING
    if to_float(low) is None or to_float(high) is None:
        return number(mean, digits)
    return f"{number(mean, digits)} [{number(low, digits)}, {number(high, digits)}]"


def ci_sentence(estimate: Mapping[str, Any] | None, digits: int = 3) -> str:
    """An estimate in words, as every sentence and legend states it.

    ``{"mean": 0.87, "low": 0.83, "high": 0.9, "method": "t over seeds", "n_seeds": 3, "n_images": 3000}``
    reads ``"0.870 (95% CI 0.830–0.900, t over seeds, 3 seeds, n=3000 images)"``.

    Args:
        estimate: ``mean``, ``low``, ``high`` and, when known, ``method``, ``n_seeds``, ``n_images``
            (``kit.intervals.Estimate.to_dict()``, the estimates of summary.json); a bare number is
            shown as a number.
        digits: decimals of the mean and the bounds.

    Returns:
        ``MISSING`` when there is no mean.
    """
    if not isinstance(estimate, Mapping):
        return number(estimate, digits)
    if to_float(estimate.get("mean")) is None:
        return MISSING
    details = []
    if to_float(estimate.get("low")) is not None and to_float(estimate.get("high")) is not None:
        details.append(f"95% CI {number(estimate['low'], digits)}–{number(estimate['high'], digits)}")
    if estimate.get("method"):
        details.append(str(estimate["method"]))
    seeds = estimate.get("n_seeds")
    if seeds not in (None, ""):
        details.append(f"{seeds} seed{'' if int(seeds) == 1 else 's'}")
    if estimate.get("n_images") not in (None, ""):
        details.append(f"n={estimate['n_images']} images")
    return number(estimate["mean"], digits) + (f" ({', '.join(details)})" if details else "")
