"""``python -m reports runs/NAME``: write runs/NAME/report.html and report.pdf."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from reports.build import build_report
from reports.collect import NotARunFolderError


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the run folder argument, build the report, print what was written.

    Returns:
        0 on success, 2 when the path is not a run folder.
    """
    parser = argparse.ArgumentParser(prog="python -m reports", description=__doc__)
    parser.add_argument("run_dir", help="a run folder written by python -m study.sweep (runs/NAME)")
    args = parser.parse_args(argv)
    try:
        written = build_report(args.run_dir)
    except NotARunFolderError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in written.values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
