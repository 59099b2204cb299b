"""``python -m reports runs/NAME``: write runs/NAME/report.html and report.pdf."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from study.errors import UserError, report_interrupt

from reports.build import build_report


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (the kit's error contract), exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message} (usage: python -m reports RUN_FOLDER)\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the run folder argument, build the report, print the files written.

    Returns:
        0 on success, 2 when the path is not a run folder or the report cannot be written there.
    """
    parser = _Parser(prog="python -m reports", description=__doc__)
    parser.add_argument("run_dir", help="a run folder written by python -m study.sweep (runs/NAME)")
    args = parser.parse_args(argv)
    try:
        written = build_report(args.run_dir)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return report_interrupt(f"the cells and their results are not changed; rerun python -m reports "
                                f"{args.run_dir} to write the report")
    for path in written.values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
