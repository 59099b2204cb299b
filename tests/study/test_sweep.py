"""The sweep: end to end on the smoke preset, resume after SIGKILL, failure
isolation, skipped cells, dry run, CLI errors, local workers and Ray.

Cells are tiny (the smoke preset: 32 px, 40 images, 1 epoch) and run on the
CPU; tests that only exercise the sweep's bookkeeping use a fake run_cell.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from study.config.sweepfile import load_sweep
from kit.records import CellMetrics
from study.run.runfolder import CellFolder
from kit.store import read_json
from study.run.sweep import main

SMOKE = ["--preset", "smoke", "--no-report", "--device", "cpu"]
SMOKE_CELLS = [cell.cell_id() for cell in load_sweep("smoke").cells()]  # [aug=none, aug=fastai]


def fake_run_cell(spec, cell_dir, device="auto", cache_dir=None, progress="auto"):
    """Writes a finished cell like the real one, instantly (module level: picklable), and ``pid``: the
    process that ran it."""
    metrics = CellMetrics(test_accuracy=0.5 + spec.seed / 10, valid_accuracy=0.5, seconds=0.01, device="cpu",
                          weights_used=spec.weights)
    (Path(cell_dir) / "pid").write_text(str(os.getpid()))
    CellFolder(cell_dir).write_metrics(metrics)  # the finish path: metrics.json and its manifest
    return metrics.to_json()


def cell_pid(run_dir: Path, cell_id: str) -> int:
    """The process that ran a ``fake_run_cell`` cell."""
    return int((run_dir / "cells" / cell_id / "pid").read_text())


class Recorder:
    """A fake run_cell that records its calls and raises for chosen aug policies."""

    def __init__(self, errors: dict[str, BaseException] | None = None) -> None:
        self.errors = errors or {}
        self.calls: list[str] = []

    def __call__(self, spec, cell_dir, device="auto", cache_dir=None, progress="auto"):
        self.calls.append(spec.cell_id())
        print("epoch table of", spec.aug)
        if spec.aug in self.errors:
            raise self.errors[spec.aug]
        return fake_run_cell(spec, cell_dir, device, cache_dir)


def read_results(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "results.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def sweep_command(run_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "study.sweep", *SMOKE, "--out", str(run_dir), *extra]


# This checkout's code (the subprocess runs in tmp_path, where an installed copy could win), and
# one OpenMP thread: on a shared 2-core CPU, spinning threads make small cells many times slower.
REPO = Path(__file__).resolve().parents[2]
ONE_THREAD = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


# ---------------------------------------------------------------- the real cell


def test_smoke_sweep_end_to_end(tmp_path: Path, capsys):
    pytest.importorskip("study.run.cell")
    run_dir = tmp_path / "run"
    assert main([*SMOKE, "--out", str(run_dir)]) == 0
    rows = read_results(run_dir)
    assert [row["cell_id"] for row in rows] == SMOKE_CELLS
    for row in rows:
        assert row["status"] == "done" and row["device"] == "cpu" and row["weights_used"] == "none"
        assert 0.0 <= float(row["test_accuracy"]) <= 1.0
        cell = run_dir / "cells" / row["cell_id"]
        assert {"spec.json", "metrics.json", "log.txt", "history.csv", "checkpoint.pt"} <= {p.name for p in cell.iterdir()}
        assert "train_loss" in (cell / "log.txt").read_text()  # the epoch table
    assert load_sweep(config=run_dir / "sweep.toml").cells() == load_sweep("smoke").cells()
    assert any((run_dir / ".cache").iterdir())  # datasets cached once, shared by the cells
    out = capsys.readouterr().out
    assert "test_accuracy" in out and "2 done" in out


def test_resume_after_sigkill_redoes_no_finished_cell(tmp_path: Path):
    pytest.importorskip("study.run.cell")
    run_dir = tmp_path / "run"
    first = subprocess.Popen(sweep_command(run_dir), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=ONE_THREAD)
    deadline = time.monotonic() + 240
    try:
        while not list(run_dir.glob("cells/*/metrics.json")):
            assert first.poll() is None, "the sweep ended before its first cell finished"
            assert time.monotonic() < deadline, "no cell finished in time"
            time.sleep(0.02)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    finished = {path: path.stat().st_mtime_ns for path in run_dir.glob("cells/*/metrics.json")}
    assert finished
    second = subprocess.run(sweep_command(run_dir), cwd=tmp_path, capture_output=True, text=True, timeout=240,
                            env=ONE_THREAD)
    assert second.returncode == 0, second.stderr
    assert f"{len(finished)} already done" in second.stdout
    for path, mtime in finished.items():
        assert path.stat().st_mtime_ns == mtime, f"{path.parent.name} ran again"
    rows = read_results(run_dir)
    assert [row["cell_id"] for row in rows] == SMOKE_CELLS
    assert all(row["status"] == "done" and row["test_accuracy"] for row in rows)


# ---------------------------------------------------------------- bookkeeping with a fake cell


def test_failed_cell_is_isolated_recorded_and_only_retried_on_request(tmp_path: Path, capsys):
    run_dir = tmp_path / "run"
    failing = Recorder({"fastai": FloatingPointError("loss is NaN at epoch 1")})
    assert main([*SMOKE, "--out", str(run_dir)], run_cell=failing) == 1
    assert failing.calls == SMOKE_CELLS  # the failure did not stop the sweep
    rows = {row["cell_id"]: row for row in read_results(run_dir)}
    done, failed = rows[SMOKE_CELLS[0]], rows[SMOKE_CELLS[1]]
    assert done["status"] == "done" and failed["status"] == "failed"
    assert failed["error"] == "FloatingPointError: loss is NaN at epoch 1"
    error = read_json(run_dir / "cells" / SMOKE_CELLS[1] / "error.json")
    assert "Traceback" in error["traceback"]
    assert "epoch table of fastai" in (run_dir / "cells" / SMOKE_CELLS[1] / "log.txt").read_text()
    assert "--retry-failed" in capsys.readouterr().out

    (run_dir / "results.csv").write_text("garbage")  # rebuilt from the cell folders
    again = Recorder()
    assert main([*SMOKE, "--out", str(run_dir)], run_cell=again) == 1
    assert again.calls == []
    assert [row["status"] for row in read_results(run_dir)] == ["done", "failed"]

    assert main([*SMOKE, "--out", str(run_dir), "--retry-failed"], run_cell=again) == 0
    assert again.calls == [SMOKE_CELLS[1]]
    assert [row["status"] for row in read_results(run_dir)] == ["done", "done"]
    assert not (run_dir / "cells" / SMOKE_CELLS[1] / "error.json").exists()


def test_half_written_cell_is_rerun_from_an_empty_folder(tmp_path: Path):
    run_dir = tmp_path / "run"
    stale = run_dir / "cells" / SMOKE_CELLS[0] / "checkpoint.pt"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a checkpoint")
    recorder = Recorder()
    assert main([*SMOKE, "--out", str(run_dir)], run_cell=recorder) == 0
    assert recorder.calls == SMOKE_CELLS
    assert not stale.exists()


def _folder_config(tmp_path: Path, data: Path) -> Path:
    path = tmp_path / "photos.toml"
    path.write_text(f'[sweep]\nname = "photos"\n[train]\nn_train = 20\nsize = 32\n'
                    f'[grid]\ntask = "folder"\ndata = "{data}"\n')
    return path


def test_missing_photo_folder_is_skipped_with_the_layout(tmp_path: Path, capsys):
    run_dir = tmp_path / "run"
    recorder = Recorder()
    config = _folder_config(tmp_path, tmp_path / "data" / "paintings")
    assert main(["--config", str(config), "--out", str(run_dir), "--no-report"], run_cell=recorder) == 0
    assert recorder.calls == []
    (row,) = read_results(run_dir)
    assert row["status"] == "skipped"
    assert "paintings/impressionist/*.jpg" in row["error"] and "modernist" in row["error"]
    assert "skipped" in capsys.readouterr().out


def test_data_and_weights_errors_make_skipped_cells_that_are_tried_again(tmp_path: Path):
    from study.errors import DataError, WeightsUnavailableError

    run_dir = tmp_path / "run"
    recorder = Recorder({"none": DataError("no images in class 'x'"), "fastai": WeightsUnavailableError("offline")})
    assert main([*SMOKE, "--out", str(run_dir)], run_cell=recorder) == 0
    rows = read_results(run_dir)
    assert [row["status"] for row in rows] == ["skipped", "skipped"]
    assert "no images in class 'x'" in rows[0]["error"]
    assert "--set train.weights=none" in rows[1]["error"]
    assert main([*SMOKE, "--out", str(run_dir)], run_cell=recorder) == 0
    assert len(recorder.calls) == 4  # skipped cells are attempted on every run


def test_a_full_disk_stops_the_sweep_and_leaves_the_cell_pending(tmp_path: Path, capsys):
    from study.errors import DiskFullError

    run_dir = tmp_path / "run"
    recorder = Recorder({"none": DiskFullError(str(run_dir / "cells" / "x" / "checkpoint.pt"))})
    assert main([*SMOKE, "--out", str(run_dir)], run_cell=recorder) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no space left on device while writing" in err[0] and "checkpoint.pt" in err[0]
    assert len(recorder.calls) == 1  # the next cell would fail the same way: not started
    assert not (run_dir / "cells" / SMOKE_CELLS[0] / "error.json").exists()  # pending, not skipped or failed
    assert main([*SMOKE, "--out", str(run_dir)], run_cell=Recorder()) == 0  # space freed: the rerun resumes
    assert [row["status"] for row in read_results(run_dir)] == ["done", "done"]


def test_dry_run_writes_nothing(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["--preset", "quick", "--dry-run", "--device", "cpu"], run_cell=Recorder()) == 0
    assert list(tmp_path.iterdir()) == []
    out = capsys.readouterr().out
    assert "would run 8 of 8 cells" in out and "images x epochs" in out and "nothing written" in out


def test_the_dry_run_estimates_auto_for_the_device_torch_would_choose(monkeypatch):
    import study.run.sweep as sweep

    assert sweep._estimate_device("cpu") == "cpu" and sweep._estimate_device("cuda:1") == "cuda"
    assert sweep._cuda_devices() >= 0  # no driver: 0, never an error
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.setattr(sweep, "_cuda_devices", lambda: 2)
    assert sweep._estimate_device("auto") == "cuda"
    monkeypatch.setattr(sweep, "_cuda_devices", lambda: 0)
    assert sweep._estimate_device("auto") == "cpu"


def test_a_dry_run_without_timm_cells_never_imports_torch(tmp_path: Path):
    code = ("import sys; from study.run.sweep import main; "
            "status = main(['--preset', 'quick', '--dry-run']); "
            "print(status, sorted(m for m in ('torch', 'timm') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120, env=ONE_THREAD)
    assert result.stdout.strip().splitlines()[-1] == "0 []", result.stderr


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--preset", "nope"], "unknown preset 'nope'"),
        (["--set", "epochs=3"], "expected section.key=value"),
        (["--set", "train.sise=3"], "train.sise: unknown key"),
        (["--executor", "dask"], "invalid choice: 'dask'"),
        (["--workers", "0"], "--workers: expected an integer from 1 to 1024"),
        (["--gpus-per-cell", "0.5"], "--gpus-per-cell applies to --executor ray and slurm"),
        (["--partition", "gpu"], "--partition applies to --executor slurm, not --executor local"),
        (["--executor", "ray", "--workers", "2"], "--workers applies to --executor local, not --executor ray"),
        (["--executor", "ray", "--ray-resources", "[1]"], "--ray-resources: expected a JSON object"),
        (["--executor", "ray", "--cache-dir", "c"], "--cache-dir does not apply to --executor ray"),
        (["--executor", "slurm", "--slurm-option", "account"], "--slurm-option 'account': expected KEY=VALUE"),
        (["--set", "grid.arch=timm:no_such_model", "--dry-run"], "arch: unknown timm model 'no_such_model'"),
    ],
)
def test_cli_errors_are_one_line_without_traceback(tmp_path: Path, argv, fragment):
    result = subprocess.run([sys.executable, "-m", "study.sweep", *argv], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, env=ONE_THREAD)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert fragment in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written before the spec is known good


def test_run_folder_is_locked_against_a_second_sweep(tmp_path: Path, capsys):
    from study.run.runfolder import RunFolder

    with RunFolder(tmp_path / "run").lock():
        assert main([*SMOKE, "--out", str(tmp_path / "run")], run_cell=Recorder()) == 2
    assert "another sweep is running" in capsys.readouterr().err


# ---------------------------------------------------------------- executors


def test_local_workers_run_cells_in_worker_processes(tmp_path: Path):
    run_dir = tmp_path / "run"
    argv = [*SMOKE, "--out", str(run_dir), "--workers", "2", "--set", "grid.seed=0,1"]
    assert main(argv, run_cell=fake_run_cell) == 0
    rows = read_results(run_dir)
    assert len(rows) == 4 and all(row["status"] == "done" for row in rows)
    pids = {cell_pid(run_dir, row["cell_id"]) for row in rows}
    assert os.getpid() not in pids


def test_missing_ray_is_a_one_line_error(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    assert main([*SMOKE, "--out", str(tmp_path / "run"), "--executor", "ray"], run_cell=Recorder()) == 2
    assert "ray is not installed; install the extra with pip install -e '.[ray]'" in capsys.readouterr().err


@pytest.mark.ray
def test_ray_executor_runs_the_smoke_sweep(tmp_path: Path, capsys, monkeypatch):
    ray = pytest.importorskip("ray", reason="ray not installed (pip install -e '.[ray]')")
    pytest.importorskip("study.run.cell")
    monkeypatch.setenv("STUDY_NODE_CACHE", str(tmp_path / "node-cache"))  # the workers' dataset cache
    ray.init(num_cpus=1, include_dashboard=False)
    try:
        run_dir = tmp_path / "run"
        assert main([*SMOKE, "--out", str(run_dir), "--executor", "ray"]) == 0
        rows = read_results(run_dir)
        assert [row["status"] for row in rows] == ["done", "done"]
        assert all(row["device"] == "cpu" for row in rows)
        assert list((tmp_path / "node-cache").iterdir()) and not (run_dir / ".cache").exists()
        # No GPUs in this Ray instance: asking for some fails before any cell runs.
        argv = [*SMOKE, "--out", str(tmp_path / "gpu"), "--executor", "ray", "--gpus-per-cell", "0.25"]
        assert main(argv) == 2
        assert "the Ray cluster has no GPUs" in capsys.readouterr().err
    finally:
        ray.shutdown()


# ---------------------------------------------------------------- reliability


def test_sigterm_leaves_the_running_cell_pending_and_the_rerun_runs_it(tmp_path: Path):
    pytest.importorskip("study.run.cell")
    run_dir = tmp_path / "run"
    longer = ["--set", "train.epochs=3", "--set", "train.n_train=400"]
    cells = [cell.cell_id() for cell in load_sweep("smoke", sets=longer[1::2]).cells()]
    first_spec = run_dir / "cells" / cells[0] / "spec.json"
    first = subprocess.Popen(sweep_command(run_dir, *longer), cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=ONE_THREAD)
    deadline = time.monotonic() + 240
    try:
        while not first_spec.exists():  # the first cell has started: its spec is written before training
            assert first.poll() is None, first.communicate()[1]
            assert time.monotonic() < deadline, "the first cell did not start in time"
            time.sleep(0.02)
        stopped_at = time.time_ns()
        first.send_signal(signal.SIGTERM)
        _, stderr = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    # 130 from main; a KeyboardInterrupt that crossed C code (an import) can make CPython exit by SIGINT
    # instead, which the shell also reports as 130.
    assert first.returncode in (130, -signal.SIGINT), stderr
    assert "rerun the same command to resume" in stderr and "Traceback" not in stderr
    cell = run_dir / "cells" / cells[0]
    assert not (cell / "error.json").exists() and not (cell / "metrics.json").exists()
    assert [row["status"] for row in read_results(run_dir)][0] == "pending"
    second = subprocess.run(sweep_command(run_dir, *longer, "--quiet"), cwd=tmp_path, capture_output=True,
                            text=True, timeout=600, env=ONE_THREAD)
    assert second.returncode == 0, second.stderr
    assert "0 already done, 2 to run" in second.stdout
    assert (cell / "metrics.json").stat().st_mtime_ns > stopped_at  # the interrupted cell ran again
    assert [row["status"] for row in read_results(run_dir)] == ["done", "done"]


def test_ctrl_c_in_a_cell_records_nothing_and_the_cell_reruns(tmp_path: Path, capsys):
    run_dir = tmp_path / "run"
    interrupted = Recorder({"none": KeyboardInterrupt()})
    assert main([*SMOKE, "--out", str(run_dir)], run_cell=interrupted) == 130
    cell = run_dir / "cells" / SMOKE_CELLS[0]
    assert cell.is_dir() and not (cell / "error.json").exists()
    again = Recorder()
    assert main([*SMOKE, "--out", str(run_dir)], run_cell=again) == 0
    assert again.calls == SMOKE_CELLS


def cell_with_tables(spec, cell_dir, device="auto", cache_dir=None, progress="auto"):
    """A finished cell with history.csv and predictions.csv, like the real one."""
    from study.run.runfolder import CellFolder

    cell = CellFolder(cell_dir)
    cell.write_history([{"epoch": 1, "train_loss": 1.0, "valid_loss": 1.1, "error_rate": 0.5,
                         "accuracy": 0.5, "time": 0.1}])
    cell.write_predictions([{"split": "test", "index": i, "label": "1", "pred": "2", "loss": 0.7,
                             "probs": [0.3, 0.3, 0.4]} for i in range(3)], ["1", "2", "3"])
    return fake_run_cell(spec, cell_dir, device, cache_dir)


@pytest.mark.parametrize("name", ["metrics.json", "history.csv", "predictions.csv"])
def test_a_damaged_result_file_makes_the_sweep_rerun_the_cell_and_say_why(tmp_path: Path, capsys, name):
    run_dir = tmp_path / "run"
    assert main([*SMOKE, "--out", str(run_dir)], run_cell=cell_with_tables) == 0
    damaged = run_dir / "cells" / SMOKE_CELLS[1] / name
    damaged.write_bytes(damaged.read_bytes()[: len(damaged.read_bytes()) - 9])  # truncated mid-row
    capsys.readouterr()
    recorder = Recorder()
    assert main([*SMOKE, "--out", str(run_dir)], run_cell=recorder) == 0
    assert recorder.calls == [SMOKE_CELLS[1]]
    out = capsys.readouterr().out
    assert f"cell {SMOKE_CELLS[1]}: {name} is damaged" in out and "; rerunning" in out
    assert "1 already done, 1 to run" in out


def test_cell_output_reaches_the_console_and_the_log_and_quiet_is_passed_on(tmp_path: Path, capsys):
    seen = []

    def quiet_cell(spec, cell_dir, device="auto", cache_dir=None, progress="auto"):
        seen.append(progress)
        print(f"epoch 1 of {spec.aug}")
        return fake_run_cell(spec, cell_dir, device, cache_dir)

    run_dir = tmp_path / "run"
    assert main([*SMOKE, "--out", str(run_dir), "--quiet"], run_cell=quiet_cell) == 0
    assert seen == ["quiet", "quiet"]
    assert "epoch 1 of none" in capsys.readouterr().out  # tee: on the console ...
    assert "epoch 1 of none" in (run_dir / "cells" / SMOKE_CELLS[0] / "log.txt").read_text()  # ... and kept
    assert main([*SMOKE, "--out", str(tmp_path / "loud")], run_cell=quiet_cell) == 0
    assert seen[2:] == ["auto", "auto"]


def test_record_failure_maps_error_types():
    import tempfile

    from study.errors import DataError, NonFiniteLossError, WeightsUnavailableError
    from study.run.executors import record_failure
    from study.run.runfolder import CellFolder, CellStatus
    from study.config.spec import TrainSpec

    with tempfile.TemporaryDirectory() as folder:
        cell = CellFolder(Path(folder) / "cell")
        cell.reset(TrainSpec(task="folder", data="data/kittencat").to_dict())
        state = record_failure(cell, DataError("no images"), 1.0)  # the data layer's message says what to do
        assert state.status is CellStatus.SKIPPED and state.reason == "no images"
        state = record_failure(cell, WeightsUnavailableError("offline"), 1.0)
        assert state.status is CellStatus.SKIPPED and "--set train.weights=none" in state.reason
        state = record_failure(cell, NonFiniteLossError("loss is nan", epoch=3), 2.0)
        assert state.status is CellStatus.FAILED and cell.read_error()["diverged_epoch"] == 3
        state = record_failure(cell, ZeroDivisionError("boom"), 2.0, device="cpu")
        assert state.reason == "ZeroDivisionError: boom" and cell.read_error()["device"] == "cpu"
        assert "ZeroDivisionError" in cell.read_error()["traceback"]
        assert record_failure(cell, KeyboardInterrupt(), 2.0) is None
        assert cell.read_error() is None and cell.status is CellStatus.PENDING


# ---------------------------------------------------------------- summary statistics


def test_summary_pools_seeds_of_one_configuration(tmp_path: Path, capsys):
    def cell_with_test_set(spec, cell_dir, device="auto", cache_dir=None, progress="auto"):
        metrics = CellMetrics.from_json({**fake_run_cell(spec, cell_dir, device, cache_dir), "n_test": 20})
        CellFolder(cell_dir).write_metrics(metrics)
        return metrics.to_json()

    argv = [*SMOKE, "--out", str(tmp_path / "run"), "--set", "grid.seed=0,1,2"]
    assert main(argv, run_cell=cell_with_test_set) == 0
    out = capsys.readouterr().out
    # fake accuracies 0.5, 0.6, 0.7 per seed: mean 0.600 [0.352, 0.848] for each of the two policies
    assert out.count("0.600 (95% CI 0.352–0.848, t over seeds, 3 seeds, n=60 images)") == 2


def test_console_prints_the_interval_the_analysis_reports_for_the_same_cells(tmp_path: Path, capsys):
    """Two seeds with different test sets (9 of 10, 50 of 100): the console's line is the analysis's estimate."""
    from analysis.rundata import load_cells
    from analysis.tables import configurations
    from kit.formatting import ci_sentence

    def uneven(spec, cell_dir, device="auto", cache_dir=None, progress="auto"):
        correct, images = ((9, 10), (50, 100))[spec.seed]
        metrics = CellMetrics(test_accuracy=correct / images, n_test=images, valid_accuracy=0.5, seconds=0.01,
                              device="cpu", weights_used=spec.weights)
        CellFolder(cell_dir).write_metrics(metrics)
        return metrics.to_json()

    run_dir = tmp_path / "run"
    assert main([*SMOKE, "--out", str(run_dir), "--set", "grid.seed=0,1", "--set", "grid.aug=none"],
                run_cell=uneven) == 0
    out = capsys.readouterr().out
    [configuration] = configurations(load_cells(run_dir))
    # Wilson over the 110 pooled images: 59/110 = 0.536 (not the 0.700 mean of the two accuracies)
    assert configuration["accuracy"]["mean"] == pytest.approx(59 / 110)
    assert f"  {configuration['label']}: {ci_sentence(configuration['accuracy'])}\n" in out


# ---------------------------------------------------------------- GPUs and estimates


def test_cells_per_gpu_pins_n_workers_to_each_gpu():
    from study.errors import ConfigError
    from study.run.executors import LocalExecutor, gpu_slots

    assert gpu_slots(1, 3, gpu_count=2) == [0, 0, 0, 1, 1, 1]
    assert gpu_slots(4, None, gpu_count=2) == [0, 1, 0, 1]
    assert gpu_slots(3, None, gpu_count=0) == [None, None, None]
    executor = LocalExecutor(cells_per_gpu=2, gpu_count=4)
    assert executor.workers == 8 and executor.slots.count(3) == 2
    with pytest.raises(ConfigError, match="no GPU is visible"):
        LocalExecutor(cells_per_gpu=2, gpu_count=0)
    with pytest.raises(ConfigError, match="drop --workers"):
        LocalExecutor(workers=2, cells_per_gpu=2, gpu_count=1)


def test_orchestration_reads_each_cell_a_fixed_number_of_times(tmp_path: Path, monkeypatch):
    """Linear in cells: every row is read once at the start and once when its cell finishes (the sweep
    used to re-read every cell after every cell), and the grid is expanded a fixed number of times."""
    from study.config.grid import Sweep
    from study.run.runfolder import CellFolder

    records, expansions = [], []
    real_record, real_cells = CellFolder.record, Sweep.cells
    monkeypatch.setattr(CellFolder, "record", lambda self, spec=None: records.append(self.cell_id)
                        or real_record(self, spec))
    monkeypatch.setattr(Sweep, "cells", lambda self: expansions.append(1) or real_cells(self))
    argv = [*SMOKE, "--out", str(tmp_path / "run"), "--set", "grid.seed=0,1,2,3"]  # 8 cells
    assert main(argv, run_cell=fake_run_cell) == 0
    assert len(records) == 16 and sorted(set(records)) == sorted(records[:8])
    assert len(expansions) == 3  # a fixed number (loading, sweep.toml, the run), none per cell
    assert len(read_results(tmp_path / "run")) == 8
