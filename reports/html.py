"""Render a collected run as one self-contained HTML file with Jinja2.

The page works offline: figures are embedded as base64 data URIs (SVG when
the figure has one, else PNG), the CSS and the small table-sorting script are
inline, and nothing is fetched. Autoescaping is on for every template, so
strings from the run (class folder names, error messages, sweep text) are
escaped wherever they appear. SVGs go inside ``<img>`` rather than inline
because an ``<img>`` never runs scripts an SVG file might carry.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import jinja2

from reports.formatting import duration, general, number

__all__ = ["render_html", "environment"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


def data_uri(figure: dict[str, Any]) -> str:
    """A ``data:`` URI for a figure dict: SVG preferred (sharp at any zoom), else PNG."""
    if figure.get("svg"):
        return "data:image/svg+xml;base64," + base64.b64encode(figure["svg"]).decode("ascii")
    if figure.get("png"):
        return "data:image/png;base64," + base64.b64encode(figure["png"]).decode("ascii")
    return ""


def png_uri(data: bytes | None) -> str:
    """A ``data:`` URI for raw PNG bytes (e.g. a cell's lr_find.png)."""
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii") if data else ""


def environment() -> jinja2.Environment:
    """The Jinja2 environment: autoescape on for every template, strict undefined."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # the templates end in .html.j2, so select_autoescape would miss them
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(data_uri=data_uri, png_uri=png_uri, number=number, general=general, duration=duration)
    return env


def render_html(data: dict[str, Any]) -> str:
    """The report page for ``data`` from ``reports.collect.collect_run`` (plus charts and findings)."""
    return environment().get_template("report.html.j2").render(**data)
