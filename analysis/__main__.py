"""``python -m analysis runs/NAME [--quick] [--device auto|cpu|cuda] [--max-cells K]``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from analysis.pipeline import run_analysis
from kit.cli import ArgumentParser, report_error, report_interrupt
from kit.formatting import duration
from study.errors import UserError

DEVICES = ("auto", "cpu", "cuda")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m analysis", description="Analyse a run folder into runs/NAME/analysis/.")
    parser.add_argument("run_dir", type=Path, help="the run folder (runs/NAME)")
    parser.add_argument("--quick", action="store_true", help="a few images per cell, Grad-CAM and IG only")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    parser.add_argument("--max-cells", type=int, default=None, help="analyse at most this many cells in depth")
    return parser


def _check_device(device: str) -> None:
    """One line naming the bad --device and the valid ones (cuda:N is accepted too)."""
    if device not in DEVICES and not (device.startswith("cuda:") and device[5:].isdigit()):
        raise UserError(f"--device {device!r}: unknown device; valid: {', '.join(DEVICES)} (or cuda:N)")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device!r}: CUDA is not available on this machine; valid here: auto, cpu")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.max_cells is not None and args.max_cells < 0:
            raise UserError(f"--max-cells {args.max_cells}: expected 0 or more cells to analyse in depth")
        _check_device(args.device)
        summary = run_analysis(args.run_dir, device=args.device, quick=args.quick, max_cells=args.max_cells)
    except UserError as error:
        return report_error(error)
    except KeyboardInterrupt:
        return report_interrupt(f"the cells and their results are not changed; rerun python -m analysis {args.run_dir} "
                                "to rebuild its analysis/")
    print(f"analysed {summary['cells_analysed']} cell(s) in {duration(summary['seconds'])}: "
          f"{len(summary['tables'])} tables, "
          f"{len(summary['figures'])} figures -> {args.run_dir / 'analysis'}")
    for sentence in summary["answer"]["abstract"]:
        print(f"- {sentence}")
    for gap in summary["missing"]:
        print(f"  missing: {gap['what']}: {gap['why']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
