"""How numbers and durations read in the report (shared by the HTML and the PDF)."""

from __future__ import annotations

from typing import Any

__all__ = ["number", "general", "duration", "estimate"]


def number(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` decimals; blanks and text pass through ("" -> "–")."""
    if value is None or value == "":
        return "–"
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        return str(value)
    if as_float.is_integer() and abs(as_float) < 1e6 and "." not in str(value):
        return str(int(as_float))
    if as_float != 0 and abs(as_float) < 10 ** -digits:
        return f"{as_float:.1e}"
    return f"{as_float:.{digits}f}"


def general(value: Any) -> str:
    """A number in its shortest form (learning rates: 0.003, 1e-04); blanks -> "–"."""
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return "–" if value in (None, "") else str(value)


def duration(seconds: Any) -> str:
    """Seconds as "2 h 5 min", "3 min 20 s" or "12 s"."""
    try:
        total = int(round(float(seconds)))
    except (TypeError, ValueError):
        return "–"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def estimate(value: Any, n: Any = None, unit: str = "") -> str:
    """An estimate dict of the analysis contract as "0.870 (95% CI 0.830-0.900, t over seeds, n=3 seeds)".

    Args:
        value: ``{"mean", "low", "high", "method"}`` (summary.json), a bare number, or None.
        n: how many seeds/images it pools (shown as ``n=...``), or None.
        unit: what ``n`` counts ("seeds", "images").

    Returns:
        "–" when there is no number.
    """
    if not isinstance(value, dict):
        return "–" if value in (None, "") else number(value)
    if value.get("mean") in (None, ""):
        return "–"
    details = []
    if value.get("low") not in (None, "") and value.get("high") not in (None, ""):
        details.append(f"95% CI {number(value['low'])}–{number(value['high'])}")
    if value.get("method"):
        details.append(str(value["method"]))
    if n not in (None, ""):
        details.append(f"n={n}{' ' + unit if unit else ''}")
    return number(value["mean"]) + (f" ({', '.join(details)})" if details else "")
