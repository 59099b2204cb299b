"""Cells as Slurm jobs through submitit (``--executor slurm``).

One job per group of ``cells_per_job`` cells (1: one job per cell), all
submitted at once as a job array. Each job runs its cells one after another
with ``study.run.executors.run_one``, writing straight into the run folder, which
must therefore be on the cluster's shared file system (as the driver's cwd
must be, for relative photo folders). The driver (the login-node process
running ``python -m study.sweep``) polls the jobs and reports each cell as its
job ends; a job that dies (time limit, node failure, cancelled) leaves its
unfinished cells failed with the reason, its finished ones done.

submitit's logs and pickles go to ``<run folder>/.slurm/``. Tests use
submitit's local cluster (``cluster="local"``), which runs the same jobs as
local processes.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from study.errors import ConfigError
from study.run.executors import CellJob, CellOutcome, RunCell, WorkerDiedError, record_failure, run_one
from study.run.runfolder import CellFolder, CellStatus

__all__ = ["SlurmExecutor", "run_group", "SLURM_FOLDER"]

SLURM_FOLDER = ".slurm"  # inside the run folder: submitit's job scripts, logs and result pickles


def _import_submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise ConfigError("--executor slurm: submitit is not installed; install the extra with "
                          "pip install -e '.[slurm]' or use --executor local") from None
    return submitit


def run_group(jobs: Sequence[CellJob], run_cell: RunCell | None = None) -> list[CellOutcome]:
    """What one Slurm job runs: its cells, one after another (one failing cell never stops the rest)."""
    return [run_one(job, run_cell) for job in jobs]


def _first_line(error: BaseException) -> str:
    """The line of an sbatch/submitit error worth showing (``sbatch: error: ...`` when there is one)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() and "stderr" not in line.lower()]
    return (errors or lines or [type(error).__name__])[-1 if errors else 0]


class SlurmExecutor:
    """Cells as Slurm jobs (a job array), submitted and watched through submitit.

    Args:
        partition: the Slurm partition (None: the cluster's default).
        time_min: each job's time limit in minutes (a job of several cells needs their sum).
        gpus_per_cell: GPUs per job (whole GPUs; None: 1 unless device is cpu).
        cpus_per_cell: CPUs per job.
        mem_gb: memory per job in GB (None: the partition's default).
        cells_per_job: cells run one after another in one job (small cells share a job's start-up).
        device: the device string handed to each cell.
        run_cell: the cell function (default ``study.run.cell.run_cell``); pickled to the jobs.
        slurm_options: more ``sbatch`` options (``{"account": "proj", "qos": "high"}``).
        cluster: ``slurm``, or ``local`` to run the jobs as local processes (tests).
        poll_s: seconds between checks of the jobs' states.
    """

    def __init__(
        self,
        partition: str | None = None,
        time_min: int = 60,
        gpus_per_cell: float | None = None,
        cpus_per_cell: int = 1,
        mem_gb: float | None = None,
        cells_per_job: int = 1,
        device: str = "auto",
        run_cell: RunCell | None = None,
        slurm_options: dict[str, Any] | None = None,
        cluster: str = "slurm",
        poll_s: float = 2.0,
    ) -> None:
        if cells_per_job < 1:
            raise ConfigError(f"--cells-per-job: expected at least 1, got {cells_per_job}")
        if time_min < 1:
            raise ConfigError(f"--time: expected at least 1 minute, got {time_min}")
        if gpus_per_cell is not None and (gpus_per_cell < 0 or gpus_per_cell != int(gpus_per_cell)):
            raise ConfigError(f"--gpus-per-cell {gpus_per_cell}: Slurm gives whole GPUs to a job; use 0, 1, 2 ... "
                              "(group small cells with --cells-per-job instead)")
        self.submitit = _import_submitit()
        self.partition = partition
        self.time_min = time_min
        self.gpus = int(gpus_per_cell) if gpus_per_cell is not None else (0 if device == "cpu" else 1)
        self.cpus = cpus_per_cell
        self.mem_gb = mem_gb
        self.cells_per_job = cells_per_job
        self.device = device
        self.run_cell = run_cell
        self.slurm_options = dict(slurm_options or {})
        self.cluster = cluster
        self.poll_s = poll_s

    def _executor(self, folder: Path) -> Any:
        try:
            executor = self.submitit.AutoExecutor(folder=folder, cluster=self.cluster)
        except RuntimeError as error:  # no srun/sbatch here
            raise ConfigError(f"--executor slurm: no Slurm on this machine ({_first_line(error)}); run the sweep "
                              "on the cluster's login node, or add --slurm-cluster local to try it here") from None
        parameters: dict[str, Any] = {"timeout_min": self.time_min, "cpus_per_task": self.cpus, "nodes": 1,
                                      "tasks_per_node": 1, "name": "study-cell"}
        if self.gpus:
            parameters["gpus_per_node"] = self.gpus
        if self.mem_gb is not None:
            parameters["mem_gb"] = self.mem_gb
        if self.partition:
            parameters["slurm_partition"] = self.partition
        parameters.update({f"slurm_{key}" if not key.startswith("slurm_") else key: value
                           for key, value in self.slurm_options.items()})
        try:
            executor.update_parameters(**parameters)
        except (ValueError, TypeError) as error:
            raise ConfigError(f"--slurm-option: {_first_line(error)}") from None
        return executor

    def _submit(self, executor: Any, groups: list[list[CellJob]]) -> list[Any]:
        try:
            # submitit echoes sbatch's stderr before raising; the error below says it once, in one line.
            with contextlib.redirect_stderr(io.StringIO()), executor.batch():
                return [executor.submit(run_group, group, self.run_cell) for group in groups]
        except Exception as error:  # noqa: BLE001 - sbatch's refusal (bad partition, account...) in any wrapper
            where = f"--partition {self.partition}" if self.partition else "--executor slurm"
            raise ConfigError(f"{where}: sbatch refused the jobs: {_first_line(error)}") from None

    def run(self, jobs: Sequence[CellJob], on_done: Callable[[CellOutcome], None]) -> None:
        if not jobs:
            return
        run_dir = jobs[0].cell_dir.parent.parent  # runs/NAME/cells/<id>
        groups = [list(jobs[start:start + self.cells_per_job]) for start in range(0, len(jobs), self.cells_per_job)]
        submitted = self._submit(self._executor(run_dir / SLURM_FOLDER), groups)
        waiting = dict(zip(submitted, groups))
        try:
            while waiting:
                finished = [job for job in waiting if job.done()]
                for job in finished:
                    for outcome in self._outcomes(job, waiting.pop(job)):
                        on_done(outcome)
                if waiting and not finished:
                    time.sleep(self.poll_s)
        finally:
            for job in waiting:  # interrupted: cancel what has not finished (its cells stay pending)
                with contextlib.suppress(Exception):
                    job.cancel(check=False)

    def _outcomes(self, job: Any, group: list[CellJob]) -> list[CellOutcome]:
        """The group's outcomes; for a job that died, each cell as its folder says, unfinished ones failed."""
        try:
            return list(job.result())
        except Exception as error:  # noqa: BLE001 - time limit, node failure, cancelled, unpicklable result
            reason = f"the Slurm job {job.job_id} ended before finishing this cell ({_first_line(error)})"
        outcomes = []
        for cell_job in group:
            cell = CellFolder(cell_job.cell_dir)
            state = cell.state()
            if state.status is CellStatus.PENDING:
                cell.path.mkdir(parents=True, exist_ok=True)
                recorded = record_failure(cell, WorkerDiedError(reason), 0.0, device=cell_job.device)
                state = recorded if recorded is not None else state
            outcomes.append(CellOutcome(cell.cell_id, state.status.value, 0.0, state.reason))
        return outcomes
