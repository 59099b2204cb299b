"""Executors: run sweep cells one by one, in worker processes, or on Ray.

An executor takes ``CellJob``s and calls ``on_done(CellOutcome)`` as each
finishes, in completion order. Every executor runs a cell through
``run_one``, which never lets a cell's failure escape: it records
``error.json`` (failed or skipped) and returns an outcome, so one bad cell
cannot stop a sweep. Only an interrupt (Ctrl-C, SIGTERM) stops the run; the
cell in progress then has neither metrics.json nor error.json and is rerun
from scratch next time.

Registered names: ``local`` (sequential, or ``workers`` processes, one per
GPU) and ``ray`` (Ray tasks with fractional GPU requests). ``create(name,
**options)`` builds one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import io
import os
import shutil
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from study.errors import ConfigError
from study.spec import TrainSpec
from study.store import atomic_write_json, atomic_write_text

__all__ = [
    "CellJob",
    "CellOutcome",
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "EXECUTORS",
    "create",
    "run_one",
    "missing_data_message",
]

RunCell = Callable[..., dict]


@dataclasses.dataclass(frozen=True)
class CellJob:
    """One cell to run: what to train, where to write, on what device.

    Paths are absolute so a job means the same thing in any worker's cwd.
    ``workdir`` is the driver's cwd, which relative ``spec.data`` is read from.
    """

    spec: TrainSpec
    cell_dir: Path
    device: str = "auto"
    cache_dir: Path | None = None
    workdir: Path | None = None


@dataclasses.dataclass(frozen=True)
class CellOutcome:
    """What became of a cell: ``done``, ``failed`` or ``skipped``."""

    cell_id: str
    status: str
    seconds: float
    error: str = ""


class Executor(Protocol):
    """Runs jobs and reports each outcome as it arrives."""

    def run(self, jobs: Sequence[CellJob], on_done: Callable[[CellOutcome], None]) -> None: ...


# ---------------------------------------------------------------- one cell


# Where the post's photo tasks expect their images; other folders get the generic layout.
_KNOWN_LAYOUTS = {
    "paintings": ("impressionist", "modernist"),
    "kittencat": ("cat", "kitten"),
}


def missing_data_message(data: str, detail: str = "") -> str:
    """An actionable message for a photo task whose folder is missing or unusable."""
    root = data.rstrip("/") or "data/NAME"
    classes = _KNOWN_LAYOUTS.get(Path(root).name, ("<class_a>", "<class_b>"))
    layout = ", ".join(f"{root}/{name}/*.jpg" for name in classes)
    reason = f" ({detail})" if detail else ""
    return (
        f"photo folder {root!r} is missing or unusable{reason}: put one sub-folder of images per class "
        f"there ({layout}; .jpg/.png), then rerun the same command"
    )


def _default_run_cell() -> RunCell:
    from study.cell import run_cell  # lazy: torch and the engine load only when a cell runs

    return run_cell


def _skip_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "cannot run here", not "the cell failed"."""
    found: list[type[BaseException]] = []
    for module_name, name in (("study.tasks", "DataError"), ("study.models", "WeightsUnavailableError")):
        with contextlib.suppress(ImportError, AttributeError):
            module = __import__(module_name, fromlist=[name])
            found.append(getattr(module, name))
    return tuple(found)


def _skip_message(spec: TrainSpec, error: BaseException) -> str:
    if type(error).__name__ == "WeightsUnavailableError":
        return (
            f"ImageNet weights for {spec.arch} are not available offline ({error}); download them once "
            "with network access (they are cached by torchvision/timm), or run with --set train.weights=none"
        )
    if spec.task == "folder":
        return missing_data_message(spec.data, str(error))
    return f"{type(error).__name__}: {error}"


def _failure_message(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    if "out of memory" in str(error).lower():
        text += " (lower batch_size or size, or give each cell a whole GPU)"
    return text


def _record_error(job: CellJob, status: str, message: str, trace: str, seconds: float) -> None:
    """error.json in the cell folder (replacing any the cell wrote with less context)."""
    atomic_write_json(
        job.cell_dir / "error.json",
        {"status": status, "error": message, "traceback": trace, "seconds": round(seconds, 3),
         "device": job.device, "cell_id": job.cell_dir.name},
    )


def _prepare_cell_dir(job: CellJob) -> None:
    """Start a cell from an empty folder: a previous attempt left only partial files."""
    if job.cell_dir.exists() and not (job.cell_dir / "metrics.json").exists():
        shutil.rmtree(job.cell_dir)
    job.cell_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(job.cell_dir / "spec.json", job.spec.to_dict())


def _keep_console(job: CellJob, captured: str) -> None:
    """Keep what the cell printed: as log.txt if it wrote none, else appended to it."""
    if not captured.strip():
        return
    log = job.cell_dir / "log.txt"
    if not log.exists():
        atomic_write_text(log, captured)
    elif captured.strip() not in log.read_text(encoding="utf-8", errors="replace"):
        with log.open("a", encoding="utf-8") as handle:  # a log, not a result: append is fine
            handle.write("\n--- console output ---\n" + captured)


def run_one(job: CellJob, run_cell: RunCell | None = None) -> CellOutcome:
    """Run one cell and record its outcome; never raises except on interrupts.

    Steps: 1. start from an empty cell folder; 2. skip a photo task whose
    folder is missing; 3. call ``run_cell`` with the console captured into the
    cell's log; 4. classify an exception as skipped (missing data or weights)
    or failed and write error.json; 5. make sure a finished cell has
    metrics.json (written by the cell, else from the metrics it returned).
    """
    started = time.perf_counter()
    cell_id = job.cell_dir.name
    _prepare_cell_dir(job)
    if job.workdir is not None and Path.cwd() != job.workdir:
        os.chdir(job.workdir)  # relative photo folders are relative to where the sweep started
    if job.spec.task == "folder" and not Path(job.spec.data).expanduser().is_dir():
        message = missing_data_message(job.spec.data, "not found")
        _record_error(job, "skipped", message, "", 0.0)
        return CellOutcome(cell_id, "skipped", 0.0, message)
    run_cell = run_cell or _default_run_cell()
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
            metrics = run_cell(job.spec, job.cell_dir, device=job.device, cache_dir=job.cache_dir)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # noqa: BLE001 - a cell may fail in any way; the sweep goes on
        seconds = time.perf_counter() - started
        status = "skipped" if isinstance(error, _skip_errors()) else "failed"
        message = _skip_message(job.spec, error) if status == "skipped" else _failure_message(error)
        _record_error(job, status, message, traceback.format_exc(), seconds)
        return CellOutcome(cell_id, status, seconds, message)
    finally:
        _keep_console(job, captured.getvalue())
        _release_memory()
    seconds = time.perf_counter() - started
    if not (job.cell_dir / "metrics.json").exists():
        record = {"status": "done", "seconds": round(seconds, 3), "device": job.device, **(metrics or {})}
        atomic_write_json(job.cell_dir / "metrics.json", record)
    return CellOutcome(cell_id, "done", seconds)


def _release_memory() -> None:
    """Free a finished cell's tensors before the next cell in the same process."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _worker_died(job: CellJob, error: BaseException) -> CellOutcome:
    """A worker process that died mid-cell (killed for memory, crashed): record it as failed."""
    message = f"the worker process running this cell died: {type(error).__name__}: {error}"
    _record_error(job, "failed", message, "", 0.0)
    return CellOutcome(job.cell_dir.name, "failed", 0.0, message)


# ---------------------------------------------------------------- local


def _watch_parent(parent_pid: int) -> None:
    """Exit a worker whose sweep died (even by SIGKILL) instead of finishing its cell.

    Otherwise an orphaned worker would keep writing into a cell folder that
    the resumed sweep has just cleared and is running again.
    """
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os._exit(1)


def _init_worker(slots: Any, parent_pid: int, threads: int) -> None:
    """Pin a spawned worker to one GPU (CUDA_VISIBLE_DEVICES) before torch loads."""
    gpu = slots.get()
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()


class LocalExecutor:
    """Cells on this machine: in this process, or one worker process per GPU.

    Args:
        workers: 1 runs cells sequentially in this process; N > 1 starts N
            spawned worker processes, worker i pinned to GPU i mod (number of
            GPUs) when the device allows CUDA, else sharing the CPU cores.
        device: the device string handed to each cell.
        run_cell: the cell function (default ``study.cell.run_cell``); must be
            picklable (a module-level function) when ``workers`` > 1.
    """

    def __init__(self, workers: int = 1, device: str = "auto", run_cell: RunCell | None = None) -> None:
        if workers < 1:
            raise ConfigError(f"--workers: expected at least 1, got {workers}")
        self.workers = workers
        self.device = device
        self.run_cell = run_cell

    def run(self, jobs: Sequence[CellJob], on_done: Callable[[CellOutcome], None]) -> None:
        if self.workers == 1:
            for job in jobs:
                on_done(run_one(job, self.run_cell))
            return
        self._run_pool(jobs, on_done)

    def _gpu_slots(self) -> list[int | None]:
        if self.device == "cpu":
            return [None] * self.workers
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            return [None] * self.workers
        return [index % count for index in range(self.workers)]

    def _run_pool(self, jobs: Sequence[CellJob], on_done: Callable[[CellOutcome], None]) -> None:
        import concurrent.futures
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # CUDA cannot be forked
        slots = context.Queue()
        for slot in self._gpu_slots():
            slots.put(slot)
        threads = max(1, (os.cpu_count() or 1) // self.workers)
        pool = concurrent.futures.ProcessPoolExecutor(
            self.workers, mp_context=context, initializer=_init_worker, initargs=(slots, os.getpid(), threads)
        )
        try:
            futures = {pool.submit(run_one, job, self.run_cell): job for job in jobs}
            for future in concurrent.futures.as_completed(futures):
                try:
                    outcome = future.result()
                except Exception as error:  # noqa: BLE001 - the worker process itself died
                    outcome = _worker_died(futures[future], error)
                on_done(outcome)
        except BaseException:
            # Interrupted: stop the workers now; the pool would otherwise let
            # each finish its cell (and the interpreter wait for it) on exit.
            for process in list((pool._processes or {}).values()):  # no public API for this
                process.terminate()
            raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)


# ---------------------------------------------------------------- ray


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--executor ray: ray is not installed; install the extra with pip install -e '.[ray]' "
            "or use --executor local"
        ) from None
    return ray


class RayExecutor:
    """Cells as Ray tasks, each requesting ``gpus_per_cell`` GPUs (fractions allowed).

    Uses the Ray instance already initialised in this process if there is
    one, else connects to ``address`` (or starts a local instance). The run
    folder must be on a file system every Ray node can write to.

    Args:
        address: Ray cluster address (``auto``, ``ray://host:10001``) or None.
        gpus_per_cell: GPUs per task, e.g. 0.25 to share a GPU between four
            cells; None = 1 when the cluster has GPUs and device is not cpu, else 0.
        cpus_per_cell: CPUs per task.
        device: the device string handed to each cell.
        run_cell: the cell function (default ``study.cell.run_cell``).
    """

    def __init__(
        self,
        address: str | None = None,
        gpus_per_cell: float | None = None,
        cpus_per_cell: float = 1.0,
        device: str = "auto",
        run_cell: RunCell | None = None,
    ) -> None:
        if gpus_per_cell is not None and gpus_per_cell < 0:
            raise ConfigError(f"--gpus-per-cell: expected a number >= 0, got {gpus_per_cell}")
        self.address = address
        self.gpus_per_cell = gpus_per_cell
        self.cpus_per_cell = cpus_per_cell
        self.device = device
        self.run_cell = run_cell

    def _connect(self) -> Any:
        ray = _import_ray()
        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False)
        return ray

    def _gpus(self, ray: Any) -> float:
        available = ray.cluster_resources().get("GPU", 0.0)
        if self.gpus_per_cell is None:
            return 1.0 if available and self.device != "cpu" else 0.0
        if self.gpus_per_cell > 0 and not available:
            raise ConfigError(
                f"--gpus-per-cell {self.gpus_per_cell}: the Ray cluster has no GPUs; "
                "use --gpus-per-cell 0 (or --device cpu)"
            )
        return self.gpus_per_cell

    def run(self, jobs: Sequence[CellJob], on_done: Callable[[CellOutcome], None]) -> None:
        ray = self._connect()
        remote = ray.remote(num_cpus=self.cpus_per_cell, num_gpus=self._gpus(ray), max_retries=0)(run_one)
        jobs_by_ref = {remote.remote(job, self.run_cell): job for job in jobs}
        pending = list(jobs_by_ref)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                try:
                    outcome = ray.get(ready[0])
                except Exception as error:  # noqa: BLE001 - the worker died (OOM kill, crash)
                    outcome = _worker_died(jobs_by_ref[ready[0]], error)
                on_done(outcome)
        finally:
            for ref in pending:  # interrupted: stop what has not finished
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)


EXECUTORS: dict[str, type] = {"local": LocalExecutor, "ray": RayExecutor}


def create(name: str, **options: Any) -> Executor:
    """Build the executor registered as ``name`` with its options.

    Raises:
        ConfigError: unknown name, listing the registered ones.
    """
    if name not in EXECUTORS:
        raise ConfigError(f"--executor: unknown executor {name!r}; valid: {', '.join(EXECUTORS)}")
    return EXECUTORS[name](**options)
