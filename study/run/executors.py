"""Executors: run sweep cells one by one, in worker processes, or on Ray.

An executor takes ``CellJob``s and calls ``on_done(CellOutcome)`` as each
finishes, in completion order. Every executor runs a cell through
``run_one``, which never lets a cell's failure escape: ``record_failure``
writes ``error.json`` (failed or skipped) and an outcome comes back, so one
bad cell cannot stop a sweep. Only an interrupt (Ctrl-C, SIGTERM) stops the
run; the cell in progress then has neither metrics.json nor error.json, is
``pending``, and is rerun from scratch next time.

Registered names: ``local`` (sequential, ``workers`` processes, or
``cells_per_gpu`` processes per visible GPU), ``ray`` (Ray tasks with
fractional GPU requests; cells train in node-local folders that are shipped
back to the driver, see ``study.run.ship``) and ``slurm`` (Slurm jobs through
submitit, see ``study.run.slurm``). ``create(name, **options)`` builds one.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import gc
import importlib
import io
import multiprocessing
import os
import re
import socket
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TextIO

from kit.records import CellMetrics
from study.errors import (CannotRunHere, ConfigError, DataError, DiskFullError, NonFiniteLossError,
                          WeightsUnavailableError)
from study.data.folders import check_data_available
from study.run.runfolder import CellFolder, CellState, CellStatus
from study.run.ship import DEFAULT_SHIP_LIMIT_MB, ShipError, install_cell, node_cache_dir, pack_cell, storage_filesystem
from study.config.spec import TrainSpec

__all__ = [
    "CellJob",
    "CellOutcome",
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "run_shipped",
    "EXECUTORS",
    "WorkerDiedError",
    "create",
    "gpu_slots",
    "visible_gpus",
    "run_one",
    "record_failure",
]

RunCell = Callable[..., dict]


@dataclasses.dataclass(frozen=True)
class CellJob:
    """One cell to run: what to train, where to write, on what device.

    Paths are absolute so a job means the same thing in any worker's cwd.
    ``workdir`` is the driver's cwd, which relative ``spec.data`` is read from;
    ``progress`` is one of ``kit.progress.PROGRESS_MODES``.
    """

    spec: TrainSpec
    cell_dir: Path
    device: str = "auto"
    cache_dir: Path | None = None
    workdir: Path | None = None
    progress: str = "auto"


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


class WorkerDiedError(RuntimeError):
    """The worker process running a cell died (killed for memory, crashed) before reporting back."""


# ---------------------------------------------------------------- recording failures


def _skip_message(spec: dict[str, Any], error: CannotRunHere) -> str:
    """What to do about a cell that cannot run here."""
    if isinstance(error, WeightsUnavailableError):
        return (
            f"ImageNet weights for {spec.get('arch', 'this architecture')} are not available offline ({error}); "
            "download them once with network access (they are cached by torchvision/timm), "
            "or run with --set train.weights=none"
        )
    return str(error)  # a DataError says itself what to put where (study.data.folders)


def _is_out_of_memory(error: BaseException) -> bool:
    torch = sys.modules.get("torch")  # only a cell that imported torch can run out of GPU memory
    kind = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None)
    return isinstance(kind, type) and isinstance(error, kind)


def record_failure(cell: CellFolder, error: BaseException, seconds: float, **extra: Any) -> CellState | None:
    """Record why a cell did not finish, in its error.json; the one place that writes it.

    - ``CannotRunHere`` (missing photo folder, weights offline): ``skipped``,
      with what to do about it; the sweep tries it again on every run.
    - ``NonFiniteLossError``: ``failed``, with ``diverged_epoch`` in error.json.
    - ``KeyboardInterrupt``/``SystemExit``, and ``DiskFullError`` (every later
      cell would fail the same way, and error.json may not fit either): nothing
      is recorded (an error.json left by this attempt is removed), so the cell
      stays ``pending``, the caller stops the run, and a rerun resumes it.
    - anything else: ``failed`` with the exception and its traceback.

    Args:
        cell: the cell folder (its spec.json names the task, data and arch).
        error: what stopped the cell.
        seconds: how long the attempt ran.
        **extra: more keys for error.json (``device``...).

    Returns:
        The recorded state, or None for an interrupt or a full disk.
    """
    if isinstance(error, (KeyboardInterrupt, SystemExit, DiskFullError)):
        with contextlib.suppress(OSError):  # a full disk may refuse even the clean-up
            cell.discard_error()
        return None
    trace = "".join(traceback.format_exception(error))
    if isinstance(error, CannotRunHere):
        status, message = CellStatus.SKIPPED, _skip_message(cell.read_spec(), error)
    elif isinstance(error, NonFiniteLossError):
        status, message = CellStatus.FAILED, f"training diverged: {error}"
        extra["diverged_epoch"] = error.epoch
    else:
        status, message = CellStatus.FAILED, f"{type(error).__name__}: {error}"
        if _is_out_of_memory(error):
            message += " (lower batch_size or size, or give each cell a whole GPU)"
    cell.write_error(status, message, trace, seconds=round(seconds, 3), cell_id=cell.cell_id, **extra)
    return CellState(status, message)


# ---------------------------------------------------------------- one cell


def _default_run_cell() -> RunCell:
    from study.run.cell import run_cell  # lazy: torch and the engine load only when a cell runs

    return run_cell


class _Tee(io.TextIOBase):
    """A console stream that also keeps a copy of everything written to it."""

    def __init__(self, console: TextIO, copy: io.StringIO) -> None:
        self.console = console
        self.copy = copy

    def write(self, text: str) -> int:
        self.console.write(text)
        self.copy.write(text)
        return len(text)

    def flush(self) -> None:
        self.console.flush()

    def isatty(self) -> bool:
        return self.console.isatty()  # so "auto" progress still sees the real terminal

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.console, "encoding", None) or "utf-8"


def _log_text(captured: str) -> str:
    """Console text for log.txt: of a progress bar redrawn with carriage returns, keep the last state."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in captured.split("\n"))


def run_one(job: CellJob, run_cell: RunCell | None = None) -> CellOutcome:
    """Run one cell and record its outcome; never raises except on interrupts.

    Steps: 1. start from an empty cell folder (``CellFolder.reset``); 2. skip
    a cell whose data is not on this machine (``study.data.folders.check_data_available``:
    a missing photo folder); 3. call ``run_cell`` with the
    console shown AND kept in the cell's log.txt; 4. on an exception,
    ``record_failure``; 5. make sure a finished cell has metrics.json
    (written by the cell, else from the metrics it returned).
    """
    run_cell = run_cell or _default_run_cell()  # import the engine first: spec.json means "training"
    started = time.perf_counter()
    cell = CellFolder(job.cell_dir)
    cell.reset(job.spec.to_dict())
    if job.workdir is not None and Path.cwd() != job.workdir:
        os.chdir(job.workdir)  # relative photo folders are relative to where the sweep started
    try:
        check_data_available(job.spec)  # a missing photo folder: skipped before any work
    except DataError as error:
        state = record_failure(cell, error, 0.0, device=job.device)
        return CellOutcome(cell.cell_id, state.status.value, 0.0, state.reason)
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(_Tee(sys.stdout, captured)), \
                contextlib.redirect_stderr(_Tee(sys.stderr, captured)):
            metrics = run_cell(job.spec, job.cell_dir, device=job.device, cache_dir=job.cache_dir,
                               progress=job.progress)
    except BaseException as error:  # noqa: BLE001 - a cell may fail in any way; the sweep goes on
        seconds = time.perf_counter() - started
        state = record_failure(cell, error, seconds, device=job.device)
        if state is None:
            raise  # an interrupt or a full disk: the cell stays pending and the run stops
        return CellOutcome(cell.cell_id, state.status.value, seconds, state.reason)
    finally:
        cell.append_log(_log_text(captured.getvalue()))
        _release_memory()
    seconds = time.perf_counter() - started
    if cell.read_metrics() is None:
        recorded = {"status": "done", "seconds": round(seconds, 3), "device": job.device, **(metrics or {})}
        cell.write_metrics(CellMetrics.from_json(recorded, f"the metrics run_cell returned for {cell.cell_id}"))
    return CellOutcome(cell.cell_id, CellStatus.DONE.value, seconds)


def _release_memory() -> None:
    """Free a finished cell's tensors before the next cell in the same process."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _worker_died(job: CellJob, error: BaseException) -> CellOutcome:
    """A worker process that died mid-cell (killed for memory, crashed): record it as failed."""
    died = WorkerDiedError(f"the worker process running this cell died ({type(error).__name__}: {error})")
    state = record_failure(CellFolder(job.cell_dir), died, 0.0, device=job.device)
    return CellOutcome(job.cell_dir.name, state.status.value if state else "pending", 0.0,
                       state.reason if state else "")


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


def gpu_slots(workers: int, cells_per_gpu: int | None, gpu_count: int) -> list[int | None]:
    """The GPU each local worker process is pinned to (None: no GPU, share the CPU).

    Args:
        workers: worker processes asked for with ``--workers`` (1 = sequential).
        cells_per_gpu: ``--cells-per-gpu N``: N workers per visible GPU
            (overrides ``workers``), or None.
        gpu_count: GPUs visible to this process (0 when the device is cpu).

    Returns:
        One entry per worker: with ``cells_per_gpu`` N and G GPUs, N workers on
        each GPU (GPU 0 N times, then GPU 1 ...); else worker i on GPU i mod G.

    Raises:
        ConfigError: ``cells_per_gpu`` below 1, or with no GPU visible.
    """
    if cells_per_gpu is not None:
        if cells_per_gpu < 1:
            raise ConfigError(f"--cells-per-gpu: expected at least 1, got {cells_per_gpu}")
        if gpu_count == 0:
            raise ConfigError(f"--cells-per-gpu {cells_per_gpu}: no GPU is visible here (or --device cpu); "
                              "use --workers N to run cells in parallel on the CPU")
        return [gpu for gpu in range(gpu_count) for _ in range(cells_per_gpu)]
    if gpu_count == 0:
        return [None] * workers
    return [index % gpu_count for index in range(workers)]


def visible_gpus(device: str) -> int:
    """CUDA devices this process may use (0 for ``--device cpu`` or without CUDA)."""
    if device == "cpu":
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


class LocalExecutor:
    """Cells on this machine: in this process, or in worker processes pinned to GPUs.

    Args:
        workers: 1 runs cells sequentially in this process; N > 1 starts N
            spawned worker processes, worker i pinned to GPU i mod (number of
            GPUs) when the device allows CUDA, else sharing the CPU cores.
        device: the device string handed to each cell.
        run_cell: the cell function (default ``study.run.cell.run_cell``); must be
            picklable (a module-level function) when more than one worker runs.
        cells_per_gpu: N worker processes per visible GPU, each running one
            cell at a time on its GPU (small cells leave a GPU mostly idle).
        gpu_count: GPUs to schedule on (default: those visible; tests inject it).
    """

    def __init__(self, workers: int = 1, device: str = "auto", run_cell: RunCell | None = None,
                 cells_per_gpu: int | None = None, gpu_count: int | None = None) -> None:
        if workers < 1:
            raise ConfigError(f"--workers: expected at least 1, got {workers}")
        if cells_per_gpu is not None and workers != 1:
            raise ConfigError("--cells-per-gpu sets the number of workers itself; drop --workers")
        self.device = device
        self.run_cell = run_cell
        needs_gpus = cells_per_gpu is not None or workers > 1
        count = gpu_count if gpu_count is not None else (visible_gpus(device) if needs_gpus else 0)
        self.slots = gpu_slots(workers, cells_per_gpu, count)
        self.workers = len(self.slots)

    def run(self, jobs: Sequence[CellJob], on_done: Callable[[CellOutcome], None]) -> None:
        if self.workers == 1 and self.slots[0] is None:
            # Everything alive now (modules, the plan) outlives the cells: freezing it keeps the full
            # collection after each cell (_release_memory) to the cell's own objects; with torch and pandas
            # loaded it cost a quarter of a second per cell on a 2-core machine.
            gc.freeze()
            try:
                for job in jobs:
                    on_done(run_one(job, self.run_cell))
            finally:
                gc.unfreeze()
            return
        self._run_pool(jobs, on_done)

    def _run_pool(self, jobs: Sequence[CellJob], on_done: Callable[[CellOutcome], None]) -> None:
        context = multiprocessing.get_context("spawn")  # CUDA cannot be forked
        slots = context.Queue()
        for slot in self.slots:
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


def run_shipped(job: CellJob, run_cell: RunCell | None, limit_mb: float, ship_uri: str | None) -> tuple[CellOutcome, Any]:
    """Run one cell in a folder local to this (worker) node and pack it to send back to the driver.

    The driver's run folder is never touched here: the cell trains in a
    temporary folder, reads and writes datasets in this node's cache
    (``study.run.ship.node_cache_dir``), and its whole folder comes back as a tar,
    either as the return value (through Ray's object store) or written to
    ``ship_uri`` (whose path comes back instead).

    Returns:
        (outcome, payload): payload is the tar's bytes, the tar's path under
        ``ship_uri``, or a ``ShipError`` message (str prefixed ``"error: "``) when
        the folder could not be packed or stored.
    """
    with tempfile.TemporaryDirectory(prefix="study-cell-") as scratch:
        local = dataclasses.replace(job, cell_dir=Path(scratch) / job.cell_dir.name, cache_dir=node_cache_dir(),
                                    workdir=None)  # relative photo folders: from the worker's own cwd
        outcome = run_one(local, run_cell)
        try:
            payload: Any = pack_cell(local.cell_dir, limit_mb)
            if ship_uri:
                filesystem, root = storage_filesystem(ship_uri)
                path = f"{root.rstrip('/')}/{job.cell_dir.name}-{os.getpid()}-{time.time_ns()}.tar"
                with filesystem.open(path, "wb") as handle:
                    handle.write(payload)
                payload = path
        except (ShipError, ConfigError, OSError) as error:
            payload = f"error: {error}"
    return outcome, payload


def _install_shipped(job: CellJob, outcome: CellOutcome, payload: Any, ship_uri: str | None) -> CellOutcome:
    """Write a shipped cell into the run folder; a cell that could not be shipped is failed with the reason."""
    try:
        if isinstance(payload, str) and payload.startswith("error: "):
            raise ShipError(payload[len("error: "):])
        if isinstance(payload, str):  # a path under ship_uri
            filesystem, _ = storage_filesystem(ship_uri or "")
            with filesystem.open(payload, "rb") as handle:
                data = handle.read()
            install_cell(job.cell_dir, data)
            with contextlib.suppress(OSError):
                filesystem.rm(payload)
        else:
            install_cell(job.cell_dir, payload)
    except (ShipError, ConfigError, OSError) as error:
        return _not_shipped(job, f"the finished cell could not be shipped back to the driver: {error}")
    return outcome


def _not_shipped(job: CellJob, reason: str) -> CellOutcome:
    """A cell whose folder never reached the run folder: failed, with the reason, in a fresh folder."""
    cell = CellFolder(job.cell_dir)
    cell.reset(job.spec.to_dict())
    state = record_failure(cell, ShipError(reason), 0.0, device=job.device)
    return CellOutcome(cell.cell_id, state.status.value, 0.0, state.reason)


class RayExecutor:
    """Cells as Ray tasks on node-local folders, shipped back to the driver's run folder.

    Uses the Ray instance already initialised in this process if there is
    one, else connects to ``address`` (or starts a local instance). No
    shared file system is needed: each cell trains in a temporary folder on
    its worker node (``run_shipped``) and its finished folder comes back
    through Ray's object store (or ``ship_uri``) to be installed atomically
    in the run folder by this process, the only writer of the run folder.
    A worker node that dies mid-cell makes Ray rerun the task elsewhere
    (``max_retries``); a cell still unfinished after that is failed.

    Args:
        address: Ray cluster address (``auto``, ``host:6379``, ``ray://host:10001``) or None.
        gpus_per_cell: GPUs per task, e.g. 0.25 to share a GPU between four
            cells; None = 1 when the cluster has GPUs and device is not cpu, else 0.
        cpus_per_cell: CPUs per task.
        device: the device string handed to each cell.
        run_cell: the cell function (default ``study.run.cell.run_cell``).
        resources: custom Ray resources per task (``{"cell_node": 1}`` keeps cells on nodes started
            with that resource).
        runtime_env: Ray's runtime_env for the workers (``working_dir``, ``pip``, ``env_vars``).
        ship_limit_mb: a cell folder larger than this is failed instead of shipped.
        ship_uri: ship through this storage (fsspec URI) instead of the object store.
        max_retries: reruns of a cell whose worker or node died (Ray system failures only).
    """

    def __init__(
        self,
        address: str | None = None,
        gpus_per_cell: float | None = None,
        cpus_per_cell: float = 1.0,
        device: str = "auto",
        run_cell: RunCell | None = None,
        resources: dict[str, float] | None = None,
        runtime_env: dict[str, Any] | None = None,
        ship_limit_mb: float | None = None,
        ship_uri: str | None = None,
        max_retries: int = 3,
    ) -> None:
        if gpus_per_cell is not None and gpus_per_cell < 0:
            raise ConfigError(f"--gpus-per-cell: expected a number >= 0, got {gpus_per_cell}")
        if ship_limit_mb is not None and ship_limit_mb <= 0:
            raise ConfigError(f"--ship-limit-mb: expected a positive number of MB, got {ship_limit_mb}")
        _check_reachable(address)  # before anything is written: a wrong address is one line, not a hang
        if ship_uri:
            storage_filesystem(ship_uri)  # a missing library is one line now, not a failed cell per cell later
        self.address = address
        self.gpus_per_cell = gpus_per_cell
        self.cpus_per_cell = cpus_per_cell
        self.device = device
        self.run_cell = run_cell
        self.resources = dict(resources or {})
        self.runtime_env = runtime_env
        self.ship_limit_mb = ship_limit_mb or DEFAULT_SHIP_LIMIT_MB
        self.ship_uri = ship_uri
        self.max_retries = max_retries

    def _connect(self) -> tuple[Any, bool]:
        """Ray, and whether this call started the connection (then ``run`` closes it)."""
        ray = _import_ray()
        if ray.is_initialized():
            return ray, False
        try:
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     runtime_env=self.runtime_env)
        except ConnectionError as error:
            raise ConfigError(f"--address {self.address}: cannot reach a Ray cluster there "
                              f"({str(error).splitlines()[0] if str(error) else 'connection refused'}); "
                              "start one with `ray start --head` or check host:port") from None
        except (ValueError, RuntimeError) as error:
            raise ConfigError(f"--address {self.address}: {str(error).splitlines()[0]}") from None
        return ray, True

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

    def _check_resources(self, ray: Any) -> None:
        cluster = ray.cluster_resources()
        for name, amount in self.resources.items():
            if cluster.get(name, 0.0) < amount:
                have = ", ".join(sorted(key for key in cluster if not key.startswith("node:"))) or "none"
                raise ConfigError(f"--ray-resources {name}={amount:g}: no node of the Ray cluster offers it "
                                  f"(cluster resources: {have}); start the worker nodes with "
                                  f"ray start --resources '{{\"{name}\": 1}}'")

    def run(self, jobs: Sequence[CellJob], on_done: Callable[[CellOutcome], None]) -> None:
        ray, connected_here = self._connect()
        try:
            self._run(ray, jobs, on_done)
        finally:
            if connected_here:
                ray.shutdown()

    def _run(self, ray: Any, jobs: Sequence[CellJob], on_done: Callable[[CellOutcome], None]) -> None:
        self._check_resources(ray)
        remote = ray.remote(num_cpus=self.cpus_per_cell, num_gpus=self._gpus(ray), resources=self.resources or None,
                            max_retries=self.max_retries, retry_exceptions=False)(run_shipped)
        jobs_by_ref = {remote.remote(job, self.run_cell, self.ship_limit_mb, self.ship_uri): job for job in jobs}
        pending = list(jobs_by_ref)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                job = jobs_by_ref[ready[0]]
                try:
                    outcome, payload = ray.get(ready[0])
                except Exception as error:  # noqa: BLE001 - worker or node died past the retries, object lost
                    outcome = _not_shipped(job, f"the Ray task running this cell was lost "
                                                f"({type(error).__name__}: {_last_line(error)})")
                else:
                    outcome = _install_shipped(job, outcome, payload, self.ship_uri)
                on_done(outcome)
        finally:
            for ref in pending:  # interrupted: stop what has not finished
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)


def _check_reachable(address: str | None, timeout_s: float = 5.0) -> None:
    """Refuse at once a ``host:port`` (or ``ray://host:port``) nobody answers on: ray.init would wait minutes.

    Raises:
        ConfigError: naming the address and what to do.
    """
    if not address or address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--address {address}: expected host:port (e.g. head-node:6379), ray://host:10001 or auto")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise ConfigError(f"--address {address}: no Ray cluster answers there ({error.strerror or error}); "
                          "start one with `ray start --head --port PORT` or check host:port") from None


def _last_line(error: BaseException) -> str:
    """The line of a Ray error that says what happened: its last (Ray puts the remote traceback first)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # Ray colours the task name
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no detail"


EXECUTORS: dict[str, Any] = {"local": LocalExecutor, "ray": RayExecutor, "slurm": "study.run.slurm:SlurmExecutor"}


def create(name: str, **options: Any) -> Executor:
    """Build the executor registered as ``name`` with its options.

    Raises:
        ConfigError: unknown name, listing the registered ones.
    """
    if name not in EXECUTORS:
        raise ConfigError(f"--executor: unknown executor {name!r}; valid: {', '.join(EXECUTORS)}")
    factory = EXECUTORS[name]
    if isinstance(factory, str):  # "module:Class": imported only when chosen
        module, _, attribute = factory.partition(":")
        factory = getattr(importlib.import_module(module), attribute)
    return factory(**options)
