"""Run folder + analysis -> a self-contained report.html and a report.pdf.

``build_report(run_dir)`` writes both; ``python -m reports runs/NAME`` is the
command-line entry. ``reports`` only assembles what ``study`` and ``analysis``
wrote; it trains and analyses nothing.
"""

from reports.build import build_report, report_data
from reports.collect import NotARunFolderError, collect_run

__all__ = ["build_report", "report_data", "collect_run", "NotARunFolderError"]
