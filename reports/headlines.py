"""Page 1: the question, the abstract that answers it, the verdict table, what the run cannot tell, the answer figure.

The words and numbers are the analysis's (summary.json ``answer`` and the
first figure of section "answer"); this module only falls back to stating
the run's progress when the analysis has not written them yet.
"""

from __future__ import annotations

from typing import Any

from reports.collect import RunData
from reports.summary import Analysis, Figure

__all__ = ["QUESTION", "front_matter"]

QUESTION = "Can convolutional networks count?"


def _progress(run: RunData) -> str:
    """"4 cells: 3 done, 1 failed." from the results rows."""
    counts: dict[str, int] = {}
    for row in run.rows:
        counts[str(row.get("status"))] = counts.get(str(row.get("status")), 0) + 1
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    return f"{len(run.rows)} cell{'s' if len(run.rows) != 1 else ''}" + (f": {parts}." if parts else ".")


def front_matter(run: RunData, analysis: Analysis) -> dict[str, Any]:
    """``{"question", "abstract": [str], "verdicts": Table | None, "cannot_tell": [str], "figure": Figure | None,
    "progress": str}``."""
    abstract = analysis.abstract
    if not abstract:
        why = ("The analysis has not run on this folder yet" if not analysis.present
               else "The analysis wrote no abstract for this run")
        abstract = [f"{why}, so this report has no estimates to answer the question with. "
                    f"{_progress(run)} Run python -m analysis RUN, then python -m reports RUN."]
    figure: Figure | None = analysis.answer_figure
    return {"question": analysis.question or QUESTION, "abstract": abstract, "verdicts": analysis.verdicts,
            "cannot_tell": analysis.cannot_tell, "figure": figure, "progress": _progress(run)}
