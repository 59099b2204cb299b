"""The study end to end: the sweep, then the analysis, then the report.

``python -m study.sweep`` (and ``python -m pipeline``) run this: the cells of
a sweep (``study.run.sweep``), then ``analysis.run_analysis`` and
``reports.build_report`` on the run folder. ``study`` itself never imports
``analysis`` or ``reports``; this package is where the three meet.

A problem in the analysis or the report costs one line, never the sweep's
results: the run folder is complete before they start, and
``python -m analysis runs/NAME`` / ``python -m reports runs/NAME`` redo them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import analysis
import reports
from kit.cli import report_interrupt
from study.run.executors import RunCell
from study.run.runfolder import RunFolder
from study.run.sweep import SweepResult
from study.run.sweep import main as sweep_main

__all__ = ["run_pipeline", "build_reports", "main", "ReportInterrupted"]


REPORT_STEPS = (("analysis.run_analysis", analysis.run_analysis), ("reports.build_report", reports.build_report))


def build_reports(run_dir: str | Path) -> bool:
    """Run the analysis, then the report, on a finished run folder; one line per step that fails.

    Args:
        run_dir: the run folder.

    Returns:
        True if both steps ran without raising.
    """
    run = RunFolder(run_dir)
    ok = True
    for name, step in REPORT_STEPS:
        try:
            step(run.path)
        except KeyboardInterrupt:
            raise ReportInterrupted(run.path) from None
        except Exception as error:  # noqa: BLE001 - a report problem must not lose the sweep's results
            first = (str(error).splitlines() or [""])[0]
            print(f"report: {name} failed ({type(error).__name__}: {first}); results are kept in {run.path}")
            ok = False
    if ok:
        built = [path for path in (run.report_html, run.report_pdf) if path.exists()]
        print(f"report: {', '.join(str(path) for path in built) or 'done'}")
    return ok


class ReportInterrupted(Exception):
    """Ctrl-C while the analysis or the report ran: the sweep's results are complete and kept.

    Attributes:
        run_dir: the run folder.
    """

    def __init__(self, run_dir: Path) -> None:
        super().__init__(str(run_dir))
        self.run_dir = run_dir


def _after_sweep(result: SweepResult) -> None:
    build_reports(result.run_dir)


def run_pipeline(argv: Sequence[str] | None = None, run_cell: RunCell | None = None) -> int:
    """The sweep the arguments describe, then its analysis and report (unless ``--no-report``).

    Args:
        argv: ``python -m study.sweep`` arguments (default sys.argv[1:]).
        run_cell: the cell function (default ``study.run.cell.run_cell``).

    Returns:
        The exit status: 0 ok, 1 failed cells, 2 usage error, 130 interrupted
        (during the cells, or during the analysis and report).
    """
    try:
        return sweep_main(argv, run_cell=run_cell, after=_after_sweep)
    except ReportInterrupted as stopped:
        return report_interrupt(f"every cell is kept in {stopped.run_dir}; redo the report with "
                                f"python -m analysis {stopped.run_dir} && python -m reports {stopped.run_dir}")


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (``python -m pipeline``, ``python -m study.sweep``)."""
    return run_pipeline(sys.argv[1:] if argv is None else argv)
