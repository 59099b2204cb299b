"""Assemble a run's report: read, lay out as HTML and PDF, write both atomically.

``build_report`` is what ``python -m reports`` and the end of every sweep
call. Both files are rendered in memory first and written only when both
rendered, each atomically, so a failure never leaves half a report.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Any

from kit.store import atomic_write_bytes, atomic_write_text

from reports.collect import NotARunFolderError, collect_run
from reports.drilldown import configurations_view
from reports.headlines import front_matter
from reports.html import render_html
from reports.pdf import render_pdf
from reports.provenance import provenance
from reports.published import POST_RECIPE, POST_TITLE
from reports.reproduction import reproduction
from reports.summary import read_analysis

__all__ = ["build_report", "report_data", "SECTIONS", "ReportNotWritableError"]

# (id, heading) of the report's sections after page 1, in order. The appendix is in the HTML only.
# "numerosity" (held-out counts, heads, Weber fits, number units, resolution, architectures) is shown
# only when the analysis wrote something for it.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("reproduction", "Reproduction"),
    ("results", "Results"),
    ("drivers", "What drives counting"),
    ("numerosity", "Numerosity instruments"),
    ("limitations", "Limitations"),
    ("methods", "Methods and provenance"),
)


class ReportNotWritableError(NotARunFolderError):
    """The run folder (or a report file in it) cannot be written."""


def report_data(run_dir: str | Path) -> dict[str, Any]:
    """Everything both renderers lay out, read from the run folder and its analysis/summary.json.

    Raises:
        NotARunFolderError: ``run_dir`` is not a run folder.
    """
    run = collect_run(run_dir)
    analysis = read_analysis(run.run, run.scrub)
    configurations = configurations_view(run, analysis)
    missing = [*run.missing, *analysis.missing,
               *((f"cell {p.label} ({p.status})", p.reason) for p in run.problems)]
    return {
        "name": run.name, "description": run.description, "sections": _sections(analysis),
        "generated": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "front": front_matter(run, analysis), "analysis": analysis, "configurations": configurations,
        "reproduction": reproduction(run.rows, analysis.configurations), "post_title": POST_TITLE,
        "post_recipe": POST_RECIPE, "limitations": analysis.limitations, "missing": missing,
        "rows": run.rows, "provenance": provenance(run.run, run.rows), "sweep_text": run.sweep_text,
    }


def _sections(analysis) -> tuple[tuple[str, str], ...]:
    """The sections this report has: every one of SECTIONS, less "numerosity" when it would be empty."""
    empty = not analysis.figures_in("numerosity") and not analysis.tables_in("numerosity")
    return tuple((id_, title) for id_, title in SECTIONS if not (id_ == "numerosity" and empty))


def _check_writable(run_dir: Path) -> None:
    """Fail before anything is written when the report files cannot be (re)placed."""
    for name in ("report.html", "report.pdf"):
        if (run_dir / name).exists() and not (run_dir / name).is_file():
            raise ReportNotWritableError(f"{run_dir / name}: exists and is not a file; remove it to write the report")
    if not os.access(run_dir, os.W_OK | os.X_OK):
        raise ReportNotWritableError(f"{run_dir}: the run folder is read-only; cannot write the report there")


def build_report(run_dir: str | Path) -> dict[str, str]:
    """Write ``run_dir/report.html`` and ``run_dir/report.pdf`` for a (possibly partial) run.

    Args:
        run_dir: a run folder written by ``python -m study.sweep``.

    Returns:
        ``{"html": path, "pdf": path}`` of the files written.

    Raises:
        NotARunFolderError: ``run_dir`` is not a run folder, or the report cannot be written in it.
    """
    run_dir = Path(run_dir)
    data = report_data(run_dir)
    _check_writable(run_dir)
    html, pdf = render_html(data), render_pdf(data)
    html_path, pdf_path = run_dir / "report.html", run_dir / "report.pdf"
    try:
        atomic_write_text(html_path, html)
        atomic_write_bytes(pdf_path, pdf)
    except OSError as error:
        raise ReportNotWritableError(f"{run_dir}: cannot write the report ({error.strerror or error})") from None
    return {"html": str(html_path), "pdf": str(pdf_path)}
