"""Assemble a run's report: collect, draw, render HTML and PDF, write them atomically.

``build_report`` is what ``python -m reports`` and the end of every sweep
(``study.sweep.build_reports``) call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reports.collect import collect_run
from reports.published import POST_RECIPE, POST_TITLE

__all__ = ["build_report", "report_data"]

# results.csv columns shown as numbers (right-aligned, rounded) in the tables.
NUMBER_COLUMNS = ("valid_accuracy", "test_accuracy", "count_mae", "label_noise_rate", "seconds", "lr", "accuracy")


def report_data(run_dir: str | Path) -> dict[str, Any]:
    """Everything both renderers need: the collected run plus findings and charts.

    Raises:
        NotARunFolderError: ``run_dir`` is not a run folder.
    """
    from reports.charts import draw_charts
    from reports.headlines import headline_findings

    data = collect_run(run_dir)
    data["findings"] = headline_findings(data["rows"]) + data["analysis"]["findings"]
    data["charts"] = draw_charts(data)
    data.update(post_title=POST_TITLE, post_recipe=POST_RECIPE, number_columns=NUMBER_COLUMNS)
    return data


def build_report(run_dir: str | Path) -> dict[str, str]:
    """Write ``run_dir/report.html`` and ``run_dir/report.pdf`` for a (possibly partial) run.

    Args:
        run_dir: a run folder written by ``python -m study.sweep``.

    Returns:
        ``{"html": path, "pdf": path}`` of the files written.

    Raises:
        NotARunFolderError: ``run_dir`` is not a run folder.
    """
    from study.store import atomic_write_bytes, atomic_write_text

    from reports.html import render_html
    from reports.pdf import render_pdf

    run_dir = Path(run_dir)
    data = report_data(run_dir)
    html_path, pdf_path = run_dir / "report.html", run_dir / "report.pdf"
    # HTML first: if the PDF fails, the page is already there to read.
    atomic_write_text(html_path, render_html(data))
    written = {"html": str(html_path)}
    pdf = render_pdf(data)
    if pdf is not None:
        atomic_write_bytes(pdf_path, pdf)
        written["pdf"] = str(pdf_path)
    return written
