"""PDF renderer: not written yet (the HTML report is complete)."""

from typing import Any


def render_pdf(data: dict[str, Any]) -> bytes | None:
    """None until the fpdf2 renderer lands; build_report then writes no PDF."""
    return None
