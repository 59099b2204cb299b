"""Render the report as one self-contained HTML file with Jinja2.

The page works offline: each figure is the PNG the analysis wrote, embedded
once as a base64 data URI exactly as drawn (no re-encoding, no SVG twin); the
CSS and one small script (open the drill-down a link points to) are inline;
nothing is fetched. Autoescaping is on, so strings from the run (class folder
names, error messages, sweep text) are escaped wherever they appear.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import jinja2

from kit.formatting import number

__all__ = ["render_html", "environment", "png_uri"]

TEMPLATES = Path(__file__).resolve().parent / "templates"


def png_uri(data: bytes | None) -> str:
    """A ``data:`` URI for PNG bytes, as they are ("" for none)."""
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
    env.filters.update(png_uri=png_uri, number=number)
    return env


def render_html(data: dict[str, Any]) -> str:
    """The report page for ``data`` from ``reports.build.report_data``."""
    return environment().get_template("report.html.j2").render(**data)
