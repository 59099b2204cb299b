"""The main job: expand a sweep spec into cells, run them, tabulate.

    python -m study.sweep [--preset quick] [--config F.toml] [--set k=v ...]
        [--out runs/NAME] [--dry-run] [--executor local|ray] [--no-report]
        [--retry-failed] [--device auto|cpu|cuda] [--workers N | --cells-per-gpu N]
        [--quiet] [--address A --ray-resources JSON --runtime-env JSON --ship-uri URI]
        [--partition P --time MIN --mem-gb G --cells-per-job N --slurm-option k=v]

A run folder ``runs/NAME`` holds ``sweep.toml`` (the resolved spec),
``cells/<cell_id>/`` (one per cell, see docs/RUN_FOLDER.md) and
``results.csv``, one row per cell from its folder: each row is read once at
the start and again only when its cell finishes, and the table is rewritten
at most once a second and at the end (so orchestration stays linear in the
number of cells; the cell folders remain the truth).
Rerunning the same command skips finished cells, reruns cells a killed or
interrupted sweep left half-done and cells whose result files were damaged
(saying why), and reports failed cells without rerunning them unless
``--retry-failed``. Cells skipped for missing photo folders or weights are
attempted again on every run (they cost nothing until the data is there).

This module is the sweep as a library and never imports ``analysis`` or
``reports``. The command ``python -m study.sweep`` is the entry module
``study/sweep.py``, which hands over to ``pipeline.main`` (the sweep, then the
analysis and the report).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas

from kit.formatting import ci_sentence, duration
from kit.cli import ArgumentParser, path_problem, report_error, report_interrupt, stop_on_sigterm
from kit.progress import progress_bar
from kit.records import row_accuracy, to_float
from study.config.coerce import bounded, out_folder
from study.config.sweepfile import DEFAULT_PRESET, load_sweep, preset_names
from study.run.cost import calibration, estimate_cell
from study.errors import ConfigError, UserError
from study.run.executors import EXECUTORS, CellJob, CellOutcome, Executor, RunCell, create, gpu_slots, visible_gpus
from study.config.grid import Sweep
from study.config.labels import CellLabel, cell_labels
from study.config.names import timm_names
from study.run.runfolder import CellState, CellStatus, RunFolder
from study.config.spec import TrainSpec, configuration_key, field_label, ignored_fields, varying_fields

__all__ = [
    "SweepResult",
    "check_timm_archs",
    "run_sweep",
    "plan_cells",
    "print_plan",
    "print_summary",
    "build_parser",
    "main",
]


@dataclasses.dataclass
class SweepResult:
    """What a sweep run left behind: one results row per cell, and what ran now."""

    run_dir: Path
    rows: list[dict[str, Any]]
    outcomes: list[CellOutcome]
    seconds: float
    cells: list[TrainSpec] = dataclasses.field(default_factory=list)  # the expanded sweep, rows' order

    def count(self, status: str) -> int:
        return sum(row["status"] == status for row in self.rows)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [row for row in self.rows if row["status"] == "failed"]


# ---------------------------------------------------------------- planning


def plan_cells(spec: Sweep, run_dir: Path, cells: Sequence[TrainSpec] | None = None
               ) -> list[tuple[TrainSpec, CellState]]:
    """Each cell with its current state in ``run_dir`` (``pending`` if never run).

    Args:
        cells: ``spec.cells()`` when the caller already expanded it (expanding costs O(cells)).
    """
    run = RunFolder(run_dir)
    return [(cell, run.cell(cell.cell_id()).state()) for cell in (spec.cells() if cells is None else cells)]


def _should_run(state: CellState, retry_failed: bool) -> bool:
    # done: never redo. failed: only on request (a silent retry hides a bug).
    # skipped: the data or weights may be there now, and checking is free.
    status = state.status
    return status in (CellStatus.PENDING, CellStatus.SKIPPED) or (status is CellStatus.FAILED and retry_failed)


def _varying_axes(cells: Sequence[TrainSpec], roles: Sequence[str] = ("setting", "seed")) -> list[str]:
    """The TrainSpec fields of the given roles that differ between cells (the columns worth showing)."""
    return varying_fields((cell.to_dict() for cell in cells), roles)


def _axis_values(cell: TrainSpec, axes: Sequence[str]) -> dict[str, Any]:
    """The cell's value on each axis under the axis's human label, blank where its task ignores it."""
    ignored = ignored_fields(cell.task)
    values = {field_label(axis): "" if axis in ignored else getattr(cell, axis) for axis in axes}
    return values or {"cell": cell.cell_id()}


def _estimate_device(device: str) -> str:
    """``cpu`` or ``cuda``: the device a dry run estimates for (an explicit one even where it is missing).

    ``auto`` asks torch when it is already loaded, else the CUDA driver
    (``_cuda_devices``): importing torch only to ask would take most of the
    dry run's time.
    """
    if device != "auto":
        return "cuda" if device.startswith("cuda") else "cpu"
    torch = sys.modules.get("torch")
    if torch is not None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cuda" if _cuda_devices() > 0 else "cpu"


def _cuda_devices() -> int:
    """CUDA devices the driver shows this process (CUDA_VISIBLE_DEVICES applies), 0 without a driver.

    Asks the driver library directly (``cuInit``, ``cuDeviceGetCount``), as
    torch does before it reports CUDA available; a CPU-only torch build next
    to a GPU would still train on the CPU, which the estimate cannot know.
    """
    import ctypes
    import ctypes.util

    names = ["nvcuda.dll"] if sys.platform == "win32" else ["libcuda.so.1", ctypes.util.find_library("cuda")]
    for name in filter(None, names):
        try:
            driver = ctypes.CDLL(name)
        except OSError:
            continue
        count = ctypes.c_int(0)
        if driver.cuInit(0) != 0 or driver.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return 0
        return count.value
    return 0


def print_plan(spec: Sweep, run_dir: Path, device: str, workers: int, retry_failed: bool) -> None:
    """The --dry-run output: every cell, whether it would run, and its estimated cost.

    The estimate is calibrated from ``.cache/bench/train-<device>.json`` when
    ``python -m study.bench train`` wrote one here, else from built-in figures.
    """
    planned = plan_cells(spec, run_dir)
    # An explicit device is estimated even where it is missing (plan a GPU run on a laptop).
    estimate_device = _estimate_device(device)
    calibrated = calibration(estimate_device)
    axes = _varying_axes([cell for cell, _ in planned])
    rows = []
    for cell, state in planned:
        image_epochs, seconds = estimate_cell(cell, estimate_device, calibrated.entries)
        runs = _should_run(state, retry_failed)
        rows.append({**_axis_values(cell, axes), "status": state.status.value,
                     "will_run": "yes" if runs else "no", "images_x_epochs": image_epochs,
                     "est_seconds": round(seconds) if runs else 0})
    table = pandas.DataFrame(rows)
    print(f"sweep {spec.name!r}: {len(rows)} cells -> {run_dir}  ({spec.info.description})")
    print(table.to_string(index=False))
    to_run = table[table.will_run == "yes"]
    total = float(to_run.est_seconds.sum())
    print(
        f"would run {len(to_run)} of {len(rows)} cells: {int(to_run.images_x_epochs.sum()):,} training "
        f"images x epochs, ~{duration(total)} on {estimate_device} ({calibrated.source})"
        + (f" (~{duration(total / workers)} with {workers} workers)" if workers > 1 else "")
        + "; dry run: nothing written"
    )


# ---------------------------------------------------------------- running


def _write_spec(spec: Sweep, run: RunFolder) -> None:
    """Save the resolved spec; say so when it replaces a different one."""
    text = spec.to_toml()
    previous = run.read_sweep_text()
    if previous is not None and previous != text:
        print(f"note: {run.sweep_path} described a different sweep; replacing it (cells with the same id are reused)")
    run.write_sweep_text(text)


class ResultsTable:
    """results.csv kept in step with the cell folders at O(1) reads per finished cell.

    Every row is read from its cell folder once (``CellFolder.record``); after
    that only the row of a cell that finished is read again. The file is
    rewritten whole (never appended) at most every ``min_interval_s`` and by
    ``flush``; a run killed in between leaves a table a second behind the
    folders, which the next run rebuilds from the folders.

    Args:
        run: the run folder.
        cells: the expanded sweep, in row order.
        min_interval_s: least time between two rewrites of results.csv.
    """

    def __init__(self, run: RunFolder, cells: Sequence[TrainSpec], min_interval_s: float = 1.0) -> None:
        self.run = run
        self.specs = {cell.cell_id(): cell.to_dict() for cell in cells}
        self.rows = {cell_id: run.cell(cell_id).record(spec) for cell_id, spec in self.specs.items()}
        self.min_interval_s = min_interval_s
        self.written_at = -math.inf

    def update(self, cell_id: str) -> dict[str, Any]:
        """Re-read one cell's row (it just finished), and write the table if it is due.

        Returns:
            the row as written to results.csv (``ResultsRow.to_csv``).
        """
        row = self.rows[cell_id] = self.run.cell(cell_id).record(self.specs[cell_id])
        if time.monotonic() - self.written_at >= self.min_interval_s:
            self.flush()
        return row.to_csv()

    def flush(self) -> list[dict[str, Any]]:
        """Write results.csv now; returns its rows as written (``ResultsRow.to_csv``)."""
        rows = list(self.rows.values())
        self.run.write_results(rows)
        self.written_at = time.monotonic()
        return [row.to_csv() for row in rows]


def run_sweep(
    spec: Sweep,
    run_dir: str | Path,
    executor: Executor,
    *,
    device: str = "auto",
    retry_failed: bool = False,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    cell_progress: str = "auto",
) -> SweepResult:
    """Run every cell of ``spec`` that is not finished, writing into ``run_dir``.

    Steps: 1. lock the run folder and save sweep.toml; 2. expand the grid
    once and choose the cells to run (pending, skipped, and failed with
    ``retry_failed``), saying why a finished cell is run again (a damaged
    result file); 3. run them on ``executor``, updating the finished cell's
    results row; 4. write results.csv once more. Apart from training, the
    work is linear in the number of cells.

    Args:
        spec: the resolved sweep.
        run_dir: the run folder (created).
        executor: from ``study.run.executors.create``.
        device: handed to each cell (auto|cpu|cuda).
        retry_failed: rerun cells that failed before.
        cache_dir: the dataset cache shared by the cells (default run_dir/.cache).
        progress: show a bar over cells on stderr (when it is a terminal).
        cell_progress: each cell's epoch progress (``kit.progress.PROGRESS_MODES``).

    Returns:
        A SweepResult with one results row per cell.

    Raises:
        RunLockedError: another sweep holds the run folder.
        DamagedFileError: the run folder's sweep.toml is not UTF-8.
    """
    started = time.perf_counter()
    run = RunFolder(Path(run_dir).resolve())
    cache = Path(cache_dir).expanduser().resolve() if cache_dir else run.cache_dir
    outcomes: list[CellOutcome] = []
    with run.lock():
        _write_spec(spec, run)
        cells = spec.cells()
        planned = plan_cells(spec, run.path, cells)
        jobs = [
            CellJob(cell, run.cell(cell.cell_id()).path, device, cache, Path.cwd(), cell_progress)
            for cell, state in planned
            if _should_run(state, retry_failed)
        ]
        _report_plan(planned, len(jobs), retry_failed)
        table = ResultsTable(run, cells)
        table.flush()
        # A bar over cells only on a terminal: in a log the one line per finished cell says the same.
        bar = progress_bar(len(jobs), spec.name, "cell", "bar" if progress and sys.stderr.isatty() else "quiet")

        def on_done(outcome: CellOutcome) -> None:
            outcomes.append(outcome)
            row = table.update(outcome.cell_id)
            bar.write(_outcome_line(outcome, row), file=sys.stdout)
            bar.update(1)

        try:
            executor.run(jobs, on_done)
        finally:
            bar.close()
            rows = table.flush()
    return SweepResult(run.path, rows, outcomes, time.perf_counter() - started, cells)


def _report_plan(planned: list[tuple[TrainSpec, CellState]], to_run: int, retry_failed: bool) -> None:
    """One line on what will run, and one per finished cell whose results were damaged."""
    for cell, state in planned:
        if state.status is CellStatus.PENDING and state.reason:
            print(f"cell {cell.cell_id()}: {state.reason}; rerunning")
    done = sum(state.status is CellStatus.DONE for _, state in planned)
    failed = sum(state.status is CellStatus.FAILED for _, state in planned)
    line = f"{len(planned)} cells: {done} already done, {to_run} to run"
    if failed and not retry_failed:
        line += f", {failed} failed before (not rerun; use --retry-failed)"
    print(line)


def _outcome_line(outcome: CellOutcome, row: dict[str, Any]) -> str:
    """One line per finished cell: status, id, headline accuracy or the error (from its results row)."""
    if outcome.status == CellStatus.DONE.value:
        accuracy = row_accuracy(row)
        detail = f"accuracy {accuracy:.3f}" if accuracy is not None else "finished"
        held_out = to_float(row.get("test_held_out_mae"))
        if held_out is not None:
            detail += f", held-out counts MAE {held_out:.2f}"
    else:
        detail = outcome.error
    return f"{outcome.status:<7} {outcome.cell_id} ({duration(outcome.seconds)}): {detail}"


# ---------------------------------------------------------------- summary


SUMMARY_METRICS = ("valid_accuracy", "test_accuracy", "count_mae", "label_noise_rate", "seconds")


def print_replicates(result: SweepResult, cells: Sequence[TrainSpec]) -> None:
    """Each configuration run with 2 or more seeds: its label and mean test accuracy, as the report states it.

    The interval is ``kit.intervals.accuracy_estimate`` on each seed's correct test images (its
    accuracy times its test images), the one the analysis computes from the same cells' predictions.
    """
    from kit.intervals import accuracy_estimate  # deferred: the dry run and the sweep's start need no scipy

    specs = [cell.to_dict() for cell in cells]
    groups: dict[Any, list[tuple[CellLabel, dict[str, Any]]]] = {}
    for spec, label, row in zip(specs, cell_labels(specs), result.rows):
        groups.setdefault(configuration_key(spec), []).append((label, row))
    lines = []
    for members in groups.values():
        done = [(label, row) for label, row in members if row["status"] == CellStatus.DONE.value
                and to_float(row.get("test_accuracy")) is not None and to_float(row.get("test_images"))]
        if len(done) < 2:
            continue
        totals = [int(to_float(row["test_images"])) for _, row in done]
        correct = [round(to_float(row["test_accuracy"]) * total) for (_, row), total in zip(done, totals)]
        estimate = accuracy_estimate(correct, totals)
        lines.append(f"  {done[0][0].configuration}: {ci_sentence(estimate.to_dict())}")
    if lines:
        print("\nmean test accuracy over seeds, 95% CI:")
        print("\n".join(lines))


def print_summary(result: SweepResult, spec: Sweep) -> None:
    """The end-of-sweep table (pandas), replicate means, then one line per failed or skipped cell."""
    cells = result.cells or spec.cells()
    axes = _varying_axes(cells)
    shown = [{**row, **_axis_values(cell, axes)} for row, cell in zip(result.rows, cells)]
    table = pandas.DataFrame(shown)
    labels = list(_axis_values(cells[0], axes)) if cells else []
    columns = [column for column in (*labels, "status", *SUMMARY_METRICS) if column in table]
    table = table[columns].copy()
    for column in SUMMARY_METRICS:
        if column in table:
            table[column] = pandas.to_numeric(table[column], errors="coerce")
    print()
    print(table.to_string(index=False, float_format=lambda value: f"{value:.3f}", na_rep="-"))
    settings = _varying_axes(cells, ("setting",))
    if len(settings) == 2 and table.get("test_accuracy") is not None and table.test_accuracy.notna().any():
        # Two axes (the quick preset's count range x augmentation): the grid at a glance, seeds averaged.
        rows, columns = (field_label(axis) for axis in settings)
        grid = table.pivot_table(index=rows, columns=columns, values="test_accuracy", sort=False)
        print(f"\ntest accuracy ({rows} x {columns}):")
        print(grid.to_string(float_format=lambda value: f"{value:.3f}", na_rep="-"))
    print_replicates(result, cells)
    for row in result.rows:
        if row["status"] in (CellStatus.FAILED.value, CellStatus.SKIPPED.value):
            print(f"{row['status']}: {row['cell_id']}: {row['error']}")
    counts = ", ".join(f"{result.count(s.value)} {s.value}" for s in CellStatus if result.count(s.value))
    print(f"{counts} in {duration(result.seconds)}; results: {RunFolder(result.run_dir).results_path}")
    if result.failed:
        print("failed cells are not rerun automatically: fix the cause, then add --retry-failed")


# ---------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m study.sweep`` (see the module docstring)."""
    parser = ArgumentParser(
        prog="python -m study.sweep",
        description="Run a sweep of training cells (resumable) and build its results table and report.",
    )
    parser.add_argument("--preset", help=f"{' | '.join(preset_names())} (default {DEFAULT_PRESET} if no --config)")
    parser.add_argument("--config", type=Path, help="a sweep TOML file (layered over --preset if both are given)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a value, e.g. train.epochs=3 or grid.aug=fastai,sensible (repeatable)")
    parser.add_argument("--out", type=out_folder, help="run folder (default runs/<sweep name>)")
    parser.add_argument("--dry-run", action="store_true", help="print the cells and their estimated cost; write nothing")
    parser.add_argument("--executor", default="local", choices=sorted(EXECUTORS),
                        help="local: this machine (default); ray: Ray tasks on a cluster or a local instance, "
                             "no shared file system needed; slurm: Slurm jobs through submitit")
    parser.add_argument("--workers", type=bounded(int, 1, 1024), default=1,
                        help="local executor: worker processes, one per GPU (default 1: sequential)")
    parser.add_argument("--cells-per-gpu", type=bounded(int, 1, 64),
                        help="local executor: N worker processes per visible GPU, each cell pinned to one GPU")
    parser.add_argument("--gpus-per-cell", type=bounded(float, 0, 64),
                        help="ray: GPUs per cell, fractions allowed; slurm: GPUs per job (whole)")
    parser.add_argument("--cpus-per-cell", type=bounded(int, 1, 1024), help="ray and slurm: CPUs per cell (default 1)")
    ray = parser.add_argument_group("ray executor")
    ray.add_argument("--address", help="cluster address, e.g. head-host:6379 (default: a local instance)")
    ray.add_argument("--ray-resources", metavar="JSON",
                     help='custom resources per cell, e.g. \'{"cell_node": 1}\' (cells only on nodes started so)')
    ray.add_argument("--runtime-env", metavar="JSON|FILE.json",
                     help='Ray runtime_env for the workers, e.g. \'{"working_dir": ".", "excludes": ["runs"]}\'')
    ray.add_argument("--ship-uri", metavar="URI",
                     help="ship finished cells through this storage (s3://, gs://, file://; fsspec) instead of "
                          "Ray's object store")
    ray.add_argument("--ship-limit-mb", type=bounded(float, 0, 1 << 30),
                     help="a finished cell folder larger than this is failed, not shipped (default 1024)")
    slurm = parser.add_argument_group("slurm executor")
    slurm.add_argument("--partition", help="Slurm partition (default: the cluster's default)")
    slurm.add_argument("--time", type=bounded(int, 1, 525600), dest="time_min", metavar="MINUTES",
                       help="time limit per job in minutes (default 60; a job of N cells needs N cells' time)")
    slurm.add_argument("--mem-gb", type=bounded(float, 0, 1 << 20), help="memory per job in GB (default: the partition's)")
    slurm.add_argument("--cells-per-job", type=bounded(int, 1, 100000), help="cells run one after another in one job (default 1)")
    slurm.add_argument("--slurm-option", dest="slurm_options", action="append", default=[], metavar="KEY=VALUE",
                       help="another sbatch option, e.g. account=proj or qos=high (repeatable)")
    slurm.add_argument("--slurm-cluster", choices=["slurm", "local"], default="slurm",
                       help="local: run the jobs as local processes through submitit (try the setup without Slurm)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="handed to every cell (auto: cuda when available)")
    parser.add_argument("--cache-dir", type=out_folder, help="dataset cache shared by cells (default <out>/.cache)")
    parser.add_argument("--retry-failed", action="store_true", help="rerun cells that failed before")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress from the cells (log.txt keeps it)")
    parser.add_argument("--no-report", action="store_true", help="skip the analysis and report at the end")
    return parser


_EXECUTOR_FLAGS = {
    "local": ("workers", "cells_per_gpu"),
    "ray": ("address", "ray_resources", "runtime_env", "ship_uri", "ship_limit_mb"),
    "slurm": ("partition", "time_min", "mem_gb", "cells_per_job", "slurm_options"),
}
_SHARED_FLAGS = {"gpus_per_cell": ("ray", "slurm"), "cpus_per_cell": ("ray", "slurm")}


def _flag(name: str) -> str:
    return {"time_min": "--time", "slurm_options": "--slurm-option"}.get(name, "--" + name.replace("_", "-"))


def _given(args: argparse.Namespace, name: str) -> bool:
    value, default = getattr(args, name), build_parser().get_default(name)
    return value != default and value != []


def _json_option(flag: str, text: str) -> dict[str, Any]:
    """A JSON object given inline or as the path of a .json file."""
    source = text
    if not text.lstrip().startswith(("{", "[")):
        try:
            source = Path(text).expanduser().read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(f"{flag} {text}: neither a JSON object nor a readable file ({error.strerror})") from None
    try:
        value = json.loads(source)
    except ValueError as error:
        raise ConfigError(f"{flag}: not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{flag}: expected a JSON object {{...}}, got {text!r}")
    return value


def _key_values(flag: str, items: Sequence[str]) -> dict[str, str]:
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{flag} {item!r}: expected KEY=VALUE, e.g. account=myproject")
        pairs[key.strip()] = value.strip()
    return pairs


def _executor_options(args: argparse.Namespace) -> dict[str, Any]:
    """The chosen executor's options from the flags; a flag of another executor is one clear error."""
    for executor, names in _EXECUTOR_FLAGS.items():
        for name in names:
            if executor != args.executor and _given(args, name):
                raise ConfigError(f"{_flag(name)} applies to --executor {executor}, not --executor {args.executor}")
    for name, executors in _SHARED_FLAGS.items():
        if args.executor not in executors and _given(args, name):
            raise ConfigError(f"{_flag(name)} applies to --executor {' and '.join(executors)}; "
                              "the local executor schedules by --workers / --cells-per-gpu")
    cpus = {"cpus_per_cell": args.cpus_per_cell} if args.cpus_per_cell is not None else {}
    if args.executor == "ray" and args.cache_dir is not None:
        raise ConfigError("--cache-dir does not apply to --executor ray: each worker node caches datasets in its "
                          "own folder ($STUDY_NODE_CACHE, default ~/.cache/cnn-counting-study/datasets)")
    if args.executor == "ray":
        return {"address": args.address, "gpus_per_cell": args.gpus_per_cell, "device": args.device, **cpus,
                "resources": _json_option("--ray-resources", args.ray_resources) if args.ray_resources else None,
                "runtime_env": _json_option("--runtime-env", args.runtime_env) if args.runtime_env else None,
                "ship_uri": args.ship_uri, "ship_limit_mb": args.ship_limit_mb}
    if args.executor == "slurm":
        optional = {"time_min": args.time_min, "cells_per_job": args.cells_per_job}
        return {"partition": args.partition, "gpus_per_cell": args.gpus_per_cell, "mem_gb": args.mem_gb,
                "device": args.device, "cluster": args.slurm_cluster, **cpus,
                "slurm_options": _key_values("--slurm-option", args.slurm_options),
                **{key: value for key, value in optional.items() if value is not None}}
    return {"workers": args.workers, "device": args.device, "cells_per_gpu": args.cells_per_gpu}


AfterSweep = Callable[[SweepResult], None]


def check_timm_archs(archs: Iterable[str]) -> None:
    """Refuse, before any cell runs or is estimated, a ``timm:`` arch that timm does not know.

    Reading a sweep checks only the form of a timm name (configuration never
    imports timm); this asks timm, and imports torch and timm only when the
    sweep has a ``timm:`` cell.

    Raises:
        ConfigError: naming the arch (with close matches).
    """
    archs = set(archs)
    if timm_names(archs):
        from study.engine.backbones import check_timm_names  # lazy: a sweep without timm cells stays torch-free

        check_timm_names(archs)


def main(argv: Sequence[str] | None = None, run_cell: RunCell | None = None, after: AfterSweep | None = None) -> int:
    """The command line; returns the exit status (0 ok, 1 failed cells, 2 usage, 130 interrupted).

    Args:
        argv: the arguments (default sys.argv[1:]).
        run_cell: the cell function (default ``study.run.cell.run_cell``; tests pass fakes).
        after: called with the result once the summary is printed, unless
            ``--no-report`` (``pipeline`` passes its analysis and report step).
    """
    args = build_parser().parse_args(argv)
    try:
        spec = load_sweep(args.preset, args.config, args.sets)
        check_timm_archs(spec.values("arch"))
        run_dir = args.out or Path("runs") / spec.name
        options = _executor_options(args)
        if args.dry_run:
            workers = args.workers
            if args.executor == "local" and args.cells_per_gpu is not None:
                workers = len(gpu_slots(1, args.cells_per_gpu, visible_gpus(args.device)))
            print_plan(spec, run_dir, args.device, workers, args.retry_failed)
            return 0
        if args.executor == "local":
            from study.data.tasks import resolve_device  # lazy: torch loads once cells are to run here

            resolve_device(args.device)  # --device cuda without CUDA: one line before any cell
        executor = create(args.executor, **options, run_cell=run_cell)
        stop_on_sigterm()  # like Ctrl-C, leaving the current cell to be rerun
        result = run_sweep(spec, run_dir, executor, device=args.device, retry_failed=args.retry_failed,
                           cache_dir=args.cache_dir, cell_progress="quiet" if args.quiet else "auto")
    except UserError as error:
        return report_error(error)
    except OSError as error:
        return report_error(path_problem(error))
    except KeyboardInterrupt:
        return report_interrupt("finished cells are kept; rerun the same command to resume")
    print_summary(result, spec)
    if after is not None and not args.no_report and result.count(CellStatus.DONE.value):
        after(result)
    return 1 if result.failed else 0

