"""Train one cell from the command line (``python -m study.train``).

Examples::

    python -m study.train --task counting --counts 1-5 --aug fastai --arch resnet34 \\
        --weights imagenet --size 224 --n-train 2500 --epochs 5 --out runs/one
    python -m study.train --task folder --data data/kittencat --epochs 5 --out runs/cats

Every ``TrainSpec`` field is a flag (``--n-train``, ``--valid-pct`` ...), built
from ``study.config.spec.spec_fields()``: its type and choices come from the field's
annotation, its help from the field's metadata. Prints the epoch table and
writes a cell folder (``docs/RUN_FOLDER.md``). Configuration, data, device
and path problems print one ``error: ...`` line and exit with status 2 (so
does an ``--out`` folder holding someone else's files: it is never written
into); a cell that fails while training prints one line, records error.json
and exits 1; Ctrl-C prints one ``interrupted: ...`` line and exits 130.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from kit.cli import ArgumentParser, path_problem, report_error, report_interrupt, stop_on_sigterm
from study.config.coerce import coerce, out_folder
from study.errors import ConfigError, UserError
from study.run.executors import record_failure
from study.config.grid import check_cell, check_names
from study.engine.backbones import check_timm_names
from study.run.runfolder import CellFolder
from study.config.spec import FieldInfo, TrainSpec, spec_fields

__all__ = ["main", "build_parser", "spec_from_args"]


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _converter(info: FieldInfo) -> Callable[[str], Any]:
    """The argparse ``type`` of a field: ``study.config.coerce`` against its annotation."""

    def convert(text: str) -> Any:
        try:
            return coerce(_flag(info.name), text, info.annotation)
        except ConfigError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = info.name  # argparse names the type in some messages
    return convert


def _add_field(group: argparse._ArgumentGroup, info: FieldInfo) -> None:
    """One flag for one TrainSpec field: bools are switches, Literals have choices."""
    help_text = f"{info.help} (default {info.default!r})"
    if info.annotation is bool:
        group.add_argument(_flag(info.name), action="store_true", default=info.default, help=info.help)
    elif get_origin(info.annotation) is Literal:
        group.add_argument(_flag(info.name), choices=get_args(info.annotation), default=info.default,
                           help=help_text)
    else:
        group.add_argument(_flag(info.name), type=_converter(info), default=info.default, help=help_text,
                           metavar=info.name.upper())


def build_parser() -> argparse.ArgumentParser:
    """The command line: one flag per TrainSpec field, grouped by task, plus how to run."""
    parser = ArgumentParser(prog="python -m study.train", description="Train and evaluate one cell.")
    groups = {
        "counting": parser.add_argument_group("counting task"),
        "folder": parser.add_argument_group("folder task"),
        None: parser.add_argument_group("every task"),
    }
    for info in spec_fields():
        _add_field(groups[info.task], info)
    groups[None].add_argument("--lr-find", action="store_true", help="same as --lr find")
    run = parser.add_argument_group("run")
    run.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    run.add_argument("--out", type=out_folder, help="cell folder (default runs/train/<cell id>): new, empty, "
                     "or a cell folder the kit wrote")
    run.add_argument("--cache-dir", type=out_folder, help="dataset cache folder (default: no cache)")
    run.add_argument("--quiet", action="store_true", help="no per-epoch progress (log.txt keeps the epoch table)")
    run.add_argument("--no-progress", action="store_true", help="one line per epoch instead of a progress bar")
    return parser


def spec_from_args(args: argparse.Namespace) -> TrainSpec:
    """The ``TrainSpec`` the flags describe, checked as a sweep checks its cells.

    Raises:
        ConfigError: a bad value or combination, naming the field.
    """
    values = {info.name: getattr(args, info.name) for info in spec_fields()}
    if args.lr_find:
        values["lr"] = "find"
    spec = TrainSpec(**values)
    check_names(spec)
    check_cell(spec)
    check_timm_names([spec.arch])  # configuration checks the name's form; timm is asked here
    return spec


def _progress(args: argparse.Namespace) -> str:
    if args.quiet:
        return "quiet"
    return "lines" if args.no_progress else "auto"


def _run(spec: TrainSpec, cell: CellFolder, args: argparse.Namespace) -> dict[str, Any]:
    """Run the cell; a failure is recorded in error.json (by type, as in a sweep) and re-raised."""
    from study.run.cell import run_cell  # lazy: --help and flag errors need no torch
    from study.data.tasks import resolve_device

    resolve_device(args.device)  # fail before any data work
    cell.claim()  # refuse someone else's folder before writing anything
    started = time.perf_counter()
    try:
        return run_cell(spec, cell.path, device=args.device, cache_dir=args.cache_dir, progress=_progress(args))
    except BaseException as error:
        with contextlib.suppress(OSError):  # a folder that cannot be written: report the original error
            record_failure(cell, error, time.perf_counter() - started, device=args.device)
        raise


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, run one cell, report.

    Returns:
        The exit status: 0 done, 1 the cell failed while training, 2 a user
        error (bad flag or value, missing data or weights, no such device, a
        path that cannot be written or that holds someone else's files, a
        full disk), 130 interrupted (Ctrl-C or SIGTERM).
    """
    args = build_parser().parse_args(argv)
    cell: CellFolder | None = None
    try:
        stop_on_sigterm()  # like Ctrl-C, leaving the cell unfinished (pending)
        spec = spec_from_args(args)
        cell = CellFolder(args.out or Path("runs") / "train" / spec.cell_id())
        metrics = _run(spec, cell, args)
    except KeyboardInterrupt:
        where = f"{cell.path} is left unfinished" if cell is not None else "nothing was written"
        return report_interrupt(f"{where}; rerun the same command to train the cell again")
    except UserError as error:
        return report_error(error)
    except OSError as error:
        return report_error(path_problem(error))
    except Exception as error:  # noqa: BLE001 - recorded in error.json with its traceback
        recorded = cell is not None and cell.read_error() is not None
        where = f" (traceback in {cell.file(CellFolder.ERROR)})" if recorded else ""
        print(f"error: the cell failed: {type(error).__name__}: {error}{where}", file=sys.stderr)
        return 1
    print(f"wrote {cell.path} (valid accuracy {metrics['valid_accuracy']:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
