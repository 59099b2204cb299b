"""``python -m reports runs/NAME``: write runs/NAME/report.html and report.pdf."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from kit.cli import ArgumentParser, report_error, report_interrupt
from study.errors import UserError

from reports.build import build_report


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the run folder argument, build the report, print the files written.

    Returns:
        0 on success, 2 when the path is not a run folder or the report cannot be written there.
    """
    parser = ArgumentParser(prog="python -m reports", description=__doc__)
    parser.add_argument("run_dir", metavar="RUN_FOLDER", help="a run folder written by python -m study.sweep (runs/NAME)")
    args = parser.parse_args(argv)
    try:
        written = build_report(args.run_dir)
    except UserError as error:
        return report_error(error)
    except KeyboardInterrupt:
        return report_interrupt(f"the cells and their results are not changed; rerun python -m reports "
                                f"{args.run_dir} to write the report")
    for path in written.values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
