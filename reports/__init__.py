"""Run folder + analysis/summary.json -> a short paper: report.html and report.pdf.

``build_report(run_dir)`` writes both; ``python -m reports runs/NAME`` is the
command-line entry. ``reports`` only lays out what ``study`` and ``analysis``
wrote; it trains and analyses nothing.
"""

from reports.build import build_report, report_data
from reports.collect import NotARunFolderError, collect_run

__all__ = ["build_report", "report_data", "collect_run", "NotARunFolderError"]
