"""``Summary``: collects the tables, figures and sentences the analysis writes, and writes ``summary.json``.

``analysis.pipeline`` makes one per run; every section writer
(``analysis.numerosity``, ``analysis.instruments``) adds to it. The file's
contract is in docs/ANALYSIS.md; ``reports.summary`` reads it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import figures
from study.errors import UserError
from kit.records import AnalysisSummary
from kit.store import atomic_write_bytes, atomic_write_text

__all__ = ["Summary", "SECTIONS", "MAX_TABLE_ROWS"]

# The report sections a table or figure may name (reports.summary reads the same list).
SECTIONS = ("answer", "results", "drivers", "numerosity", "reproduction", "appendix")
MAX_TABLE_ROWS = 15  # display rows listed per table; its CSV has them all


@contextlib.contextmanager
def collecting_failures(missing: list[dict[str, str]], what: str) -> Iterator[None]:
    """Run one step of the analysis; an exception becomes a ``missing`` entry ``{what, why}``.

    A ``UserError`` (a damaged file, a folder that is not a run folder) propagates: it is the user's to fix,
    not a gap in the report.
    """
    try:
        yield
    except UserError:
        raise
    except Exception as error:  # noqa: BLE001 - one failing step must not lose the others
        missing.append({"what": what, "why": f"{type(error).__name__}: {error}"})


class Summary:
    """Collects what the analysis wrote and writes ``summary.json``.

    Args:
        out_dir: ``runs/NAME/analysis``.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.findings: list[dict[str, str]] = []
        self.figures: list[dict[str, str]] = []
        self.tables: list[dict[str, Any]] = []
        self.missing: list[dict[str, str]] = []
        self.limitations: list[str] = []
        self.examples: list[dict[str, str]] = []
        self.data: dict[str, pd.DataFrame] = {}  # id -> tidy table, for findings and takeaways

    def step(self, what: str) -> contextlib.AbstractContextManager[None]:
        """Run a step; an exception becomes a ``missing`` entry (a partial run must not stop the analysis)."""
        return collecting_failures(self.missing, what)

    def table(self, frame: pd.DataFrame | None, table_id: str, title: str, section: str,
              display: pd.DataFrame | None = None) -> None:
        """Write ``tables/<id>.csv`` (the tidy table) and list up to 15 display rows of ``display``."""
        if frame is None or frame.empty:
            return
        atomic_write_text(self.out_dir / "tables" / f"{table_id}.csv", frame.to_csv(index=False))
        self.data[table_id] = frame
        shown = (display if display is not None else frame).head(MAX_TABLE_ROWS)
        self.tables.append({"id": table_id, "file": f"tables/{table_id}.csv", "title": title, "section": section,
                            "columns": [str(c) for c in shown.columns],
                            "rows": [[_display(v) for v in row] for row in shown.itertuples(index=False)]})

    def figure(self, make: Callable[[], Any], figure_id: str, title: str, takeaway: Callable[[], str],
               section: str) -> None:
        """Draw a figure with ``make()`` and write it with its computed takeaway (a step of its own)."""
        with self.step(f"figure {figure_id}"):
            figure = make()
            if figure is None:
                return
            path = figures.save_figure(figure, self.out_dir / "figures", figure_id)
            sentence = takeaway()
            self.figures.append({"id": figure_id, "file": path, "title": title, "takeaway": sentence,
                                 "section": section})
            self.findings.append({"title": title, "text": sentence})

    def write(self, extra: dict[str, Any]) -> dict[str, Any]:
        """Write summary.json (``kit.records.AnalysisSummary``, atomically: the report never reads half a
        summary) and return what it holds.

        Args:
            extra: the other fields of the summary (answer, configurations, comparisons, cells, ...).
        """
        summary = AnalysisSummary(findings=self.findings, figures=self.figures, tables=self.tables,
                                  missing=self.missing, limitations=list(dict.fromkeys(self.limitations)),
                                  examples=self.examples, **extra)
        atomic_write_bytes(self.out_dir / AnalysisSummary.FILE, summary.to_bytes())
        return summary.to_json()


def _display(value: Any) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.3g}"
    return "" if value is None else str(value)


