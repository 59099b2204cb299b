"""The Slurm executor through submitit: jobs run through submitit's local cluster (the same job files and
result pickles as on Slurm), a dying job, sbatch's refusal and a missing submitit as one line."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from kit.store import read_json
from study.run.sweep import main
from tests.study.test_sweep import SMOKE, fake_run_cell, read_results

submitit = pytest.importorskip("submitit", reason="submitit not installed (pip install -e '.[slurm]')")

LOCAL_SLURM = ["--executor", "slurm", "--slurm-cluster", "local", "--device", "cpu", "--time", "5"]


def dies_on_fastai(spec, cell_dir, device="auto", cache_dir=None, progress="auto"):
    """Kills its job's process for the aug=fastai cells (a node lost mid-cell), else finishes at once."""
    if spec.aug == "fastai":
        os._exit(1)
    return fake_run_cell(spec, cell_dir, device, cache_dir, progress)


def test_slurm_jobs_group_cells_and_write_the_run_folder(tmp_path: Path):
    run_dir = tmp_path / "run"
    argv = [*SMOKE, "--out", str(run_dir), *LOCAL_SLURM, "--cells-per-job", "2", "--set", "grid.seed=0,1"]
    assert main(argv, run_cell=fake_run_cell) == 0
    rows = read_results(run_dir)
    assert len(rows) == 4 and all(row["status"] == "done" for row in rows)
    pids = {read_json(run_dir / "cells" / row["cell_id"] / "metrics.json")["pid"] for row in rows}
    assert os.getpid() not in pids and len(pids) == 2  # two jobs of two cells each
    assert list((run_dir / ".slurm").glob("*_result.pkl"))  # submitit's files stay out of cells/
    assert main(argv, run_cell=fake_run_cell) == 0  # resume: nothing left to run, nothing submitted again
    assert len(list((run_dir / ".slurm").glob("*_result.pkl"))) == 2


def test_a_job_that_dies_fails_its_unfinished_cell_with_the_reason(tmp_path: Path, capsys, monkeypatch):
    here = str(Path(__file__).parent)  # the jobs unpickle dies_on_fastai from this module
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")])))
    run_dir = tmp_path / "run"
    assert main([*SMOKE, "--out", str(run_dir), *LOCAL_SLURM], run_cell=dies_on_fastai) == 1
    rows = {row["aug"]: row for row in read_results(run_dir)}
    assert rows["none"]["status"] == "done"
    assert rows["fastai"]["status"] == "failed"
    assert "ended before finishing this cell" in rows["fastai"]["error"]
    assert "failed  " in capsys.readouterr().out


def test_a_partition_sbatch_refuses_is_one_line(tmp_path: Path, monkeypatch, capsys):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    sbatch = bin_dir / "sbatch"  # what Slurm's sbatch prints for an unknown partition
    sbatch.write_text("#!/bin/sh\necho 'sbatch: error: invalid partition specified: nope' >&2\nexit 1\n")
    srun = bin_dir / "srun"  # submitit looks for srun to decide that this is a Slurm cluster
    srun.write_text("#!/bin/sh\nexit 0\n")
    for script in (sbatch, srun):
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    run_dir = tmp_path / "run"
    argv = [*SMOKE, "--out", str(run_dir), "--executor", "slurm", "--partition", "nope"]
    assert main(argv, run_cell=fake_run_cell) == 2
    err = capsys.readouterr().err
    assert err == "error: --partition nope: sbatch refused the jobs: sbatch: error: invalid partition specified: nope\n"
    assert [row["status"] for row in read_results(run_dir)] == ["pending", "pending"]


def test_slurm_without_submitit_is_one_line(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "submitit", None)  # makes `import submitit` raise ImportError
    assert main([*SMOKE, "--out", str(tmp_path / "run"), "--executor", "slurm"], run_cell=fake_run_cell) == 2
    assert capsys.readouterr().err == ("error: --executor slurm: submitit is not installed; install the extra with "
                                       "pip install -e '.[slurm]' or use --executor local\n")
    assert not (tmp_path / "run").exists()


def test_slurm_on_a_machine_without_slurm_is_one_line(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no srun, no sbatch
    assert main([*SMOKE, "--out", str(tmp_path / "run"), "--executor", "slurm"], run_cell=fake_run_cell) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --executor slurm: no Slurm on this machine") and err.count("\n") == 1


def test_fractional_gpus_are_refused_for_slurm(tmp_path: Path, capsys):
    argv = [*SMOKE, "--out", str(tmp_path / "run"), "--executor", "slurm", "--gpus-per-cell", "0.5"]
    assert main(argv, run_cell=fake_run_cell) == 2
    assert "Slurm gives whole GPUs to a job" in capsys.readouterr().err
