"""``python -m analysis runs/NAME [--quick] [--device auto|cpu|cuda] [--max-cells K]``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analysis", description="Analyse a run folder into runs/NAME/analysis/.")
    parser.add_argument("run_dir", type=Path, help="the run folder (runs/NAME)")
    parser.add_argument("--quick", action="store_true", help="about a dozen images per cell, three attribution methods")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    parser.add_argument("--max-cells", type=int, default=None, help="analyse at most this many cells in depth")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.run_dir.is_dir():
        print(f"error: run folder {str(args.run_dir)!r} does not exist", file=sys.stderr)
        return 2
    from analysis import run_analysis

    summary = run_analysis(args.run_dir, device=args.device, quick=args.quick, max_cells=args.max_cells)
    print(f"analysed {summary['cells_analysed']} cell(s) in {summary['seconds']:.0f} s: {len(summary['tables'])} tables, "
          f"{len(summary['figures'])} figures -> {args.run_dir / 'analysis'}")
    for finding in summary["findings"]:
        print(f"- {finding['title']}: {finding['text']}")
    for gap in summary["missing"]:
        print(f"  missing: {gap['what']}: {gap['why']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
