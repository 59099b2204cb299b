"""``python -m study.sweep``: the main job, the sweep and then its analysis and report.

The sweep itself is ``study.run.sweep`` (a library that never imports
``analysis`` or ``reports``); ``pipeline`` runs it and then the analysis and
the report. This entry module only chooses between the two, so nothing in
``study`` imports ``pipeline``: ``python -m study.sweep`` is the one door.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (see ``study.run.sweep.main``)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if "--dry-run" in arguments:  # a plan needs neither the analysis nor the report: skip importing them
        from study.run.sweep import main as sweep_main

        return sweep_main(arguments)
    from pipeline import main as pipeline_main  # the sweep, then the analysis and the report

    return pipeline_main(arguments)


if __name__ == "__main__":
    sys.exit(main())
