"""The main job: expand a sweep spec into cells, run them, tabulate, report.

    python -m study.sweep [--preset quick] [--config F.toml] [--set k=v ...]
        [--out runs/NAME] [--dry-run] [--executor local|ray] [--no-report]
        [--retry-failed] [--device auto|cpu|cuda] [--workers N]

A run folder ``runs/NAME`` holds ``sweep.toml`` (the resolved spec),
``cells/<cell_id>/`` (one per cell, see docs/RUN_FOLDER.md) and
``results.csv``, which is rebuilt from the cell folders after every cell.
Rerunning the same command skips finished cells (those with metrics.json),
reruns cells a killed sweep left half-done, and reports failed cells
without rerunning them unless ``--retry-failed``. Cells skipped for missing
photo folders or weights are attempted again on every run (they cost nothing
until the data is there).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from study.config import DEFAULT_PRESET, load_sweep, preset_names
from study.errors import ConfigError, RunLockedError
from study.grid import SweepSpec
from study.spec import TrainSpec, ignored_fields, varying_fields
from study.executors import EXECUTORS, CellJob, CellOutcome, Executor, RunCell, create
from study.store import (
    atomic_write_text,
    cell_status,
    locked_run_dir,
    read_json,
    results_rows,
    write_results,
)

__all__ = [
    "SweepResult",
    "run_sweep",
    "plan_cells",
    "estimate_cell",
    "print_plan",
    "print_summary",
    "build_reports",
    "main",
]


@dataclasses.dataclass
class SweepResult:
    """What a sweep run left behind: one results row per cell, and what ran now."""

    run_dir: Path
    rows: list[dict[str, Any]]
    outcomes: list[CellOutcome]
    seconds: float

    def count(self, status: str) -> int:
        return sum(row["status"] == status for row in self.rows)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [row for row in self.rows if row["status"] == "failed"]


# ---------------------------------------------------------------- planning


def plan_cells(spec: SweepSpec, run_dir: Path) -> list[tuple[TrainSpec, str]]:
    """Each cell with its current status in ``run_dir`` (``pending`` if never run)."""
    cells_root = run_dir / "cells"
    return [(cell, cell_status(cells_root / cell.cell_id())) for cell in spec.cells()]


def _should_run(status: str, retry_failed: bool) -> bool:
    # done: never redo. failed: only on request (a silent retry hides a bug).
    # skipped: the data or weights may be there now, and checking is free.
    return status in ("pending", "skipped") or (status == "failed" and retry_failed)


# Training throughput in images/s for ResNet-18 at 64 px (CPU: measured on a
# 2-core CPU, where the quick preset's 4 cells of 12,800 training images took
# 70-85 s each) and ResNet-34 at 224 px (CUDA: a conservative guess for one
# recent data-centre GPU with mixed precision, not yet measured here). Other sizes and
# architectures scale by pixels and by forward GFLOPs at 224 px; evaluation
# runs ~3x faster than training. Rough by design: it tells minutes from days.
THROUGHPUT = {"cpu": (200.0, "resnet18", 64), "cuda": (1500.0, "resnet34", 224)}
ARCH_GFLOPS = {"resnet18": 1.8, "resnet34": 3.6, "resnet50": 4.1, "resnet101": 7.8, "resnet152": 11.5}
CELL_OVERHEAD_S = {"cpu": 10.0, "cuda": 20.0}  # data generation, model build, CUDA start
PHOTO_IMAGES_GUESS = 400  # the post's photo folders hold ~360 images
LR_FIND_STEPS = 100


def _images_per_second(cell: TrainSpec, device: str) -> float:
    base, base_arch, base_size = THROUGHPUT[device]
    flops = ARCH_GFLOPS.get(cell.arch, ARCH_GFLOPS["resnet34"])
    pixel_ratio = (base_size / cell.size) ** 2
    if device == "cuda":
        pixel_ratio = min(pixel_ratio, 4.0)  # small images leave a GPU underused
    return base * ARCH_GFLOPS[base_arch] / flops * pixel_ratio


def _photo_count(data: str) -> int:
    folder = Path(data).expanduser()
    if not folder.is_dir():
        return PHOTO_IMAGES_GUESS
    suffixes = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
    return sum(1 for path in folder.rglob("*") if path.suffix.lower() in suffixes) or PHOTO_IMAGES_GUESS


def estimate_cell(cell: TrainSpec, device: str) -> tuple[int, float]:
    """Rough cost of one cell: (training images x epochs, seconds) on ``device`` (cpu|cuda)."""
    total = _photo_count(cell.data) if cell.task == "folder" else cell.n_train
    train = round(total * (1 - cell.valid_pct))
    valid = total - train
    test = cell.n_test if cell.task == "counting" else 0
    image_epochs = train * cell.epochs + (LR_FIND_STEPS * cell.batch_size if cell.lr == "find" else 0)
    speed = _images_per_second(cell, device)
    seconds = CELL_OVERHEAD_S[device] + image_epochs / speed + (valid * cell.epochs + test) / (3 * speed)
    return image_epochs, seconds


def _varying_axes(cells: Sequence[TrainSpec]) -> list[str]:
    """The TrainSpec fields that differ between cells (the columns worth showing)."""
    return varying_fields(cell.to_dict() for cell in cells) or ["task", "counts", "aug"]


def _axis_values(cell: TrainSpec, axes: Sequence[str]) -> dict[str, Any]:
    """The cell's value on each axis, blank where its task ignores the field."""
    ignored = ignored_fields(cell.task)
    return {axis: "" if axis in ignored else getattr(cell, axis) for axis in axes}


def _resolve_device(device: str) -> str:
    if device != "auto":
        return "cuda" if device.startswith("cuda") else "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def print_plan(spec: SweepSpec, run_dir: Path, device: str, workers: int, retry_failed: bool) -> None:
    """The --dry-run output: every cell, whether it would run, and its estimated cost."""
    import pandas

    planned = plan_cells(spec, run_dir)
    estimate_device = _resolve_device(device)
    axes = _varying_axes([cell for cell, _ in planned])
    rows = []
    for cell, status in planned:
        image_epochs, seconds = estimate_cell(cell, estimate_device)
        runs = _should_run(status, retry_failed)
        rows.append({**_axis_values(cell, axes), "status": status,
                     "will_run": "yes" if runs else "no", "images_x_epochs": image_epochs,
                     "est_seconds": round(seconds) if runs else 0})
    table = pandas.DataFrame(rows)
    print(f"sweep {spec.name!r}: {len(rows)} cells -> {run_dir}  ({spec.info.description})")
    print(table.to_string(index=False))
    to_run = table[table.will_run == "yes"]
    total = float(to_run.est_seconds.sum())
    print(
        f"would run {len(to_run)} of {len(rows)} cells: {int(to_run.images_x_epochs.sum()):,} training "
        f"images x epochs, ~{_duration(total)} on {estimate_device}"
        + (f" (~{_duration(total / workers)} with {workers} workers)" if workers > 1 else "")
        + "; dry run: nothing written"
    )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# ---------------------------------------------------------------- running


def _write_spec(spec: SweepSpec, run_dir: Path) -> None:
    """Save the resolved spec; say so when it replaces a different one."""
    path = run_dir / "sweep.toml"
    text = spec.to_toml()
    if path.exists() and path.read_text(encoding="utf-8") != text:
        print(f"note: {path} described a different sweep; replacing it (cells with the same id are reused)")
    atomic_write_text(path, text)


def _write_table(spec: SweepSpec, run_dir: Path) -> list[dict[str, Any]]:
    """Rebuild results.csv from the cell folders (the folders are the truth)."""
    rows = results_rows(((cell.to_dict(), cell.cell_id()) for cell in spec.cells()), run_dir)
    write_results(rows, run_dir / "results.csv")
    return rows


def run_sweep(
    spec: SweepSpec,
    run_dir: str | Path,
    executor: Executor,
    *,
    device: str = "auto",
    retry_failed: bool = False,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> SweepResult:
    """Run every cell of ``spec`` that is not finished, writing into ``run_dir``.

    Steps: 1. lock the run folder and save sweep.toml; 2. choose the cells to
    run (pending, skipped, and failed with ``retry_failed``); 3. run them on
    ``executor``, rebuilding results.csv after each; 4. rebuild it once more.

    Args:
        spec: the resolved sweep.
        run_dir: the run folder (created).
        executor: from ``study.executors.create``.
        device: handed to each cell (auto|cpu|cuda).
        retry_failed: rerun cells that failed before.
        cache_dir: the dataset cache shared by the cells (default run_dir/.cache).
        progress: show a tqdm bar over cells on stderr.

    Returns:
        A SweepResult with one results row per cell.

    Raises:
        RunLockedError: another sweep holds the run folder.
    """
    from tqdm import tqdm

    started = time.perf_counter()
    run_dir = Path(run_dir).resolve()
    cache = Path(cache_dir).expanduser().resolve() if cache_dir else run_dir / ".cache"
    outcomes: list[CellOutcome] = []
    with locked_run_dir(run_dir):
        _write_spec(spec, run_dir)
        planned = plan_cells(spec, run_dir)
        jobs = [
            CellJob(cell, run_dir / "cells" / cell.cell_id(), device, cache, Path.cwd())
            for cell, status in planned
            if _should_run(status, retry_failed)
        ]
        _report_plan(planned, len(jobs), retry_failed)
        _write_table(spec, run_dir)
        bar = tqdm(total=len(jobs), unit="cell", desc=spec.name, disable=not progress or not jobs, file=sys.stderr)

        def on_done(outcome: CellOutcome) -> None:
            outcomes.append(outcome)
            _write_table(spec, run_dir)
            bar.write(_outcome_line(outcome, run_dir))
            bar.update(1)

        try:
            executor.run(jobs, on_done)
        finally:
            bar.close()
            rows = _write_table(spec, run_dir)
    return SweepResult(run_dir, rows, outcomes, time.perf_counter() - started)


def _report_plan(planned: list[tuple[TrainSpec, str]], to_run: int, retry_failed: bool) -> None:
    done = sum(status == "done" for _, status in planned)
    failed = sum(status == "failed" for _, status in planned)
    line = f"{len(planned)} cells: {done} already done, {to_run} to run"
    if failed and not retry_failed:
        line += f", {failed} failed before (not rerun; use --retry-failed)"
    print(line)


def _outcome_line(outcome: CellOutcome, run_dir: Path) -> str:
    """One line per finished cell: status, id, headline accuracy or the error."""
    if outcome.status == "done":
        metrics = read_json(run_dir / "cells" / outcome.cell_id / "metrics.json") or {}
        accuracy = metrics.get("test_accuracy", metrics.get("valid_accuracy"))
        detail = f"accuracy {accuracy:.3f}" if isinstance(accuracy, (int, float)) else "finished"
    else:
        detail = outcome.error
    return f"{outcome.status:<7} {outcome.cell_id} ({outcome.seconds:.0f} s): {detail}"


# ---------------------------------------------------------------- summary and report


SUMMARY_METRICS = ("valid_accuracy", "test_accuracy", "count_mae", "label_noise_rate", "seconds")


def print_summary(result: SweepResult, spec: SweepSpec) -> None:
    """The end-of-sweep table (pandas), then one line per failed or skipped cell."""
    import pandas

    cells = spec.cells()
    axes = _varying_axes(cells)
    shown = [{**row, **_axis_values(cell, axes)} for row, cell in zip(result.rows, cells)]
    table = pandas.DataFrame(shown)
    columns = [column for column in (*axes, "status", *SUMMARY_METRICS) if column in table]
    table = table[columns].copy()
    for column in SUMMARY_METRICS:
        if column in table:
            table[column] = pandas.to_numeric(table[column], errors="coerce")
    print()
    print(table.to_string(index=False, float_format=lambda value: f"{value:.3f}", na_rep="-"))
    if len(axes) == 2 and table.get("test_accuracy") is not None and table.test_accuracy.notna().any():
        # Two axes (the quick preset's count range x augmentation): the grid at a glance.
        grid = table.pivot_table(index=axes[0], columns=axes[1], values="test_accuracy", sort=False)
        print(f"\ntest accuracy ({axes[0]} x {axes[1]}):")
        print(grid.to_string(float_format=lambda value: f"{value:.3f}", na_rep="-"))
    for row in result.rows:
        if row["status"] in ("failed", "skipped"):
            print(f"{row['status']}: {row['cell_id']}: {row['error']}")
    counts = ", ".join(f"{result.count(s)} {s}" for s in ("done", "failed", "skipped", "pending") if result.count(s))
    print(f"{counts} in {_duration(result.seconds)}; results: {result.run_dir / 'results.csv'}")
    if result.failed:
        print("failed cells are not rerun automatically: fix the cause, then add --retry-failed")


# The analysis and report packages are written by other people and may not be
# there yet; each step that is missing or fails costs one line, not the results.
REPORT_STEPS = (("analysis", "run_analysis"), ("reports", "build_report"))


def build_reports(run_dir: Path) -> bool:
    """Run analysis.run_analysis(run_dir) then reports.build_report(run_dir) if they exist.

    Returns:
        True if both ran without raising.
    """
    ok = True
    for module_name, function_name in REPORT_STEPS:
        try:
            function = getattr(importlib.import_module(module_name), function_name)
        except (ImportError, AttributeError):
            print(f"report: {module_name}.{function_name} is not available; results are kept in {run_dir}")
            ok = False
            continue
        try:
            function(run_dir)
        except Exception as error:  # noqa: BLE001 - a report problem must not lose the sweep's results
            print(f"report: {module_name}.{function_name} failed ({type(error).__name__}: {error}); "
                  f"results are kept in {run_dir}")
            ok = False
    if ok:
        built = [name for name in ("report.html", "report.pdf") if (run_dir / name).exists()]
        print(f"report: {', '.join(str(run_dir / name) for name in built) or 'done'}")
    return ok


# ---------------------------------------------------------------- command line


class _ArgumentParser(argparse.ArgumentParser):
    """argparse, but errors are one line ``error: ...`` and exit 2 (DESIGN.md)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m study.sweep`` (see the module docstring)."""
    parser = _ArgumentParser(
        prog="python -m study.sweep",
        description="Run a sweep of training cells (resumable) and build its results table and report.",
    )
    parser.add_argument("--preset", help=f"{' | '.join(preset_names())} (default {DEFAULT_PRESET} if no --config)")
    parser.add_argument("--config", type=Path, help="a sweep TOML file (layered over --preset if both are given)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a value, e.g. train.epochs=3 or grid.aug=fastai,sensible (repeatable)")
    parser.add_argument("--out", type=Path, help="run folder (default runs/<sweep name>)")
    parser.add_argument("--dry-run", action="store_true", help="print the cells and their estimated cost; write nothing")
    parser.add_argument("--executor", default="local", choices=sorted(EXECUTORS),
                        help="local: this machine (default); ray: Ray tasks on a cluster or a local instance")
    parser.add_argument("--workers", type=int, default=1,
                        help="local executor: worker processes, one per GPU (default 1: sequential)")
    parser.add_argument("--address", help="ray executor: cluster address (default: a local instance)")
    parser.add_argument("--gpus-per-cell", type=float, help="ray executor: GPUs per cell, fractions allowed")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="handed to every cell (auto: cuda when available)")
    parser.add_argument("--cache-dir", type=Path, help="dataset cache shared by cells (default <out>/.cache)")
    parser.add_argument("--retry-failed", action="store_true", help="rerun cells that failed before")
    parser.add_argument("--no-report", action="store_true", help="skip the analysis and report at the end")
    return parser


def _executor_options(args: argparse.Namespace) -> dict[str, Any]:
    if args.executor == "ray":
        if args.workers != 1:
            raise ConfigError("--workers: applies to --executor local; Ray schedules by --gpus-per-cell")
        return {"address": args.address, "gpus_per_cell": args.gpus_per_cell, "device": args.device}
    if args.address or args.gpus_per_cell is not None:
        raise ConfigError("--address and --gpus-per-cell apply to --executor ray")
    return {"workers": args.workers, "device": args.device}


def _raise_interrupt(signum: int, frame: Any) -> NoReturn:
    raise KeyboardInterrupt  # SIGTERM: stop like Ctrl-C, leaving the current cell to be rerun


def main(argv: Sequence[str] | None = None, run_cell: RunCell | None = None) -> int:
    """The command line; returns the exit status (0 ok, 1 failed cells, 2 usage, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    try:
        spec = load_sweep(args.preset, args.config, args.sets)
        run_dir = args.out or Path("runs") / spec.name
        options = _executor_options(args)
        if args.dry_run:
            print_plan(spec, run_dir, args.device, args.workers, args.retry_failed)
            return 0
        executor = create(args.executor, **options, run_cell=run_cell)
        with contextlib.suppress(ValueError):  # not the main thread: keep the default
            signal.signal(signal.SIGTERM, _raise_interrupt)
        result = run_sweep(spec, run_dir, executor, device=args.device,
                           retry_failed=args.retry_failed, cache_dir=args.cache_dir)
    except (ConfigError, RunLockedError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: finished cells are kept; rerun the same command to resume", file=sys.stderr)
        return 130
    print_summary(result, spec)
    if not args.no_report and result.count("done"):
        build_reports(result.run_dir)
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
