"""Small inline SVG learning curves for the HTML drill-down, drawn from a cell's numbers.

Every figure in the body of the report is a PNG the analysis drew; this
module only draws the per-cell sparkline a reader opens by clicking a
configuration (a few hundred bytes of SVG each, so a sweep of many cells
stays small). The SVG holds numbers and fixed words only, never run strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markupsafe import Markup

from kit.records import to_float

__all__ = ["learning_curve_svg", "series"]

PANEL_W, PANEL_H, PAD = 150.0, 80.0, 14.0
COLOURS = {"train_loss": "#8a94a6", "valid_loss": "#2a5db0", "accuracy": "#1d7a46"}


def series(history: Sequence[dict[str, Any]], column: str) -> list[tuple[float, float]]:
    """(epoch, value) points of one history column; rows without a number are left out.

    ``accuracy`` falls back to 1 - ``error_rate`` (older histories carry only the error rate).
    """
    points = []
    for index, row in enumerate(history):
        epoch = to_float(row.get("epoch"))
        value = to_float(row.get(column))
        if value is None and column == "accuracy" and to_float(row.get("error_rate")) is not None:
            value = 1.0 - to_float(row.get("error_rate"))  # type: ignore[operator]
        if value is not None:
            points.append((epoch if epoch is not None else float(index), value))
    return points


def _polyline(points: list[tuple[float, float]], x0: float, low: float, high: float,
              first: float, last: float, colour: str) -> str:
    span_x, span_y = max(last - first, 1e-9), max(high - low, 1e-9)
    coords = " ".join(f"{x0 + PAD + (x - first) / span_x * (PANEL_W - 2 * PAD):.1f},"
                      f"{PANEL_H - PAD - (y - low) / span_y * (PANEL_H - 2 * PAD):.1f}" for x, y in points)
    return f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{coords}"/>'


def _panel(x0: float, title: str, lines: dict[str, list[tuple[float, float]]], low: float, high: float) -> str:
    xs = [x for points in lines.values() for x, _ in points]
    first, last = min(xs), max(xs)
    parts = [f'<rect x="{x0 + PAD}" y="{PAD}" width="{PANEL_W - 2 * PAD}" height="{PANEL_H - 2 * PAD}" '
             'fill="none" stroke="#d9dee7"/>',
             f'<text x="{x0 + PAD}" y="10" font-size="9">{title}</text>',
             f'<text x="{x0 + PAD}" y="{PANEL_H - 3}" font-size="8">epoch {first:g}–{last:g}</text>',
             f'<text x="{x0 + PANEL_W - PAD}" y="{PANEL_H - 3}" font-size="8" text-anchor="end">{low:.2g}–{high:.2g}</text>']
    parts += [_polyline(points, x0, low, high, first, last, COLOURS[name]) for name, points in lines.items() if points]
    return "".join(parts)


def learning_curve_svg(history: Sequence[dict[str, Any]]) -> Markup:
    """Two panels (loss: train grey, valid blue; validation accuracy green), or "" without epochs.

    Args:
        history: history rows (dicts with epoch, train_loss, valid_loss, accuracy or error_rate).
    """
    losses = {name: series(history, name) for name in ("train_loss", "valid_loss")}
    accuracy = series(history, "accuracy")
    panels = []
    if any(losses.values()):
        values = [y for points in losses.values() for _, y in points]
        panels.append(("loss: train, valid", losses, min(0.0, min(values)), max(values)))
    if accuracy:
        panels.append(("valid accuracy", {"accuracy": accuracy}, 0.0, 1.0))
    if not panels:
        return Markup("")
    body = "".join(_panel(i * PANEL_W, *panel) for i, panel in enumerate(panels))
    width = PANEL_W * len(panels)
    return Markup(f'<svg class="curve" role="img" aria-label="learning curve" width="{width:g}" height="{PANEL_H:g}" '
                  f'viewBox="0 0 {width:g} {PANEL_H:g}">{body}</svg>')
