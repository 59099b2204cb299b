"""The bad-input catalogue of `python -m study.sweep` and `python -m study.train`.

Each case runs the command line in-process (``main(argv)`` with capsys) on one
bad input and checks the contract in ``tests/catalogue.py``: status 2, one
``error:`` line on stderr naming the bad value, no traceback, nothing written
where nothing should be. A few cases go through a subprocess to check the
module entry points themselves.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from study.run import sweep

from study import train
from tests.catalogue import (assert_cli_error, assert_interrupted, assert_one_line_error, interrupted_module, run_main,
                             run_module, run_python, tree_snapshot)

SMOKE = ["--preset", "smoke", "--no-report", "--device", "cpu"]
TINY = ["--counts", "1-3", "--size", "32", "--n-train", "20", "--n-test", "4", "--epochs", "1",
        "--batch-size", "4", "--device", "cpu"]


def never_runs(spec, cell_dir, device="auto", cache_dir=None, progress="auto"):
    raise AssertionError("a cell ran despite the bad input")


def sweep_main(argv):
    return sweep.main(argv, run_cell=never_runs)


@pytest.fixture
def where(tmp_path: Path) -> Path:
    """A working folder with a plain file, a non-UTF-8 TOML and a run folder with a non-UTF-8 sweep.toml."""
    (tmp_path / "a_file").write_text("not a folder")
    (tmp_path / "latin1.toml").write_bytes('[sweep]\nname = "caf\xe9"\n'.encode("latin-1"))
    (tmp_path / "broken.toml").write_text("[train\nepochs = 3\n")
    (tmp_path / "unknown.toml").write_text("[training]\nepochs = 3\n")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "sweep.toml").write_bytes(b"name = \xff\xfe\n")
    return tmp_path


SWEEP_CASES = [
    (["--preset", "nope"], ["'nope'", "smoke"]),
    (["--set", "epochs=3"], ["'epochs=3'", "section.key=value"]),
    (["--set", "train.sise=3"], ["train.sise", "unknown key"]),
    (["--set", "model.arch=resnet18"], ["'model'", "train"]),
    (["--set", "train.epochs=three"], ["train.epochs", "'three'", "integer"]),
    (["--set", "grid.aug=fastai,bogus"], ["aug", "'bogus'", "sensible"]),
    (["--set", "grid.counts=0-5"], ["grid.counts", "'0-5'", "at least 1"]),
    (["--set", "grid.counts=5-1"], ["counts", "5-1"]),
    (["--set", "train.batch_size=1"], ["train.batch_size", "BatchNorm"]),
    (["--set", "train.n_train=10", "--set", "train.valid_pct=0.9"], ["train.n_train", "valid_pct"]),
    (["--set", "train.arch=vgg99"], ["arch", "'vgg99'", "resnet18"]),
    (["--executor", "dask"], ["'dask'", "local"]),
    (["--workers", "0"], ["--workers", "0"]),
    (["--workers", "two"], ["--workers", "'two'"]),
    (["--cells-per-gpu", "2", "--workers", "2"], ["--cells-per-gpu", "--workers"]),
    (["--gpus-per-cell", "0.5"], ["--gpus-per-cell", "ray"]),
    (["--device", "tpu"], ["--device", "'tpu'", "cuda"]),
    (["--config", "missing.toml"], ["missing.toml"]),
    (["--config", "latin1.toml"], ["latin1.toml", "UTF-8"]),
    (["--config", "broken.toml"], ["broken.toml", "invalid TOML"]),
    (["--config", "unknown.toml"], ["training", "unknown section"]),
    (["--config", "a_file/x.toml"], ["a_file/x.toml"]),
]


@pytest.mark.parametrize(("argv", "named"), SWEEP_CASES)
def test_sweep_refuses_bad_input_in_one_line(where: Path, monkeypatch, capsys, argv, named):
    monkeypatch.chdir(where)
    before = tree_snapshot(where)
    status, out, err = run_main(sweep_main, [*SMOKE, *argv], capsys)
    assert_one_line_error(status, out, err, *named)
    assert err.startswith("error: ")
    assert tree_snapshot(where) == before  # refused before anything was written


@pytest.mark.parametrize(
    ("out", "named"),
    [
        ("a_file", ["a_file", "a file is in the way"]),
        ("a_file/run", ["a_file/run", "a file is in the way"]),
        ("/proc/study-run", ["/proc/study-run"]),
        ("run", ["sweep.toml", "not UTF-8"]),
    ],
)
def test_sweep_out_paths_that_cannot_be_written(where: Path, monkeypatch, capsys, out, named):
    monkeypatch.chdir(where)
    before = tree_snapshot(where)
    status, stdout, err = run_main(sweep_main, [*SMOKE, "--out", out], capsys)
    assert_one_line_error(status, stdout, err, *named)
    after = tree_snapshot(where)
    assert {name: after[name] for name in before} == before  # nothing the user had changed


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_sweep_in_a_read_only_folder(where: Path, monkeypatch, capsys):
    locked = where / "locked"
    locked.mkdir(mode=0o500)
    status, out, err = run_main(sweep_main, [*SMOKE, "--out", str(locked / "run")], capsys)
    assert_one_line_error(status, out, err, str(locked / "run"), "no permission")


TRAIN_CASES = [
    (["--task", "photos"], ["--task", "'photos'", "folder"]),
    (["--aug", "bogus"], ["aug", "'bogus'", "sensible"]),
    (["--size", "8"], ["size", "16"]),
    (["--n-train", "lots"], ["--n-train", "'lots'"]),
    (["--lr", "fast"], ["--lr", "'fast'", "'find'"]),
    (["--counts", "0-3"], ["counts", "at least 1"]),
    (["--batch-size", "1"], ["batch_size", "BatchNorm"]),
    (["--valid-pct", "1.5"], ["valid_pct", "1.5"]),
    (["--task", "folder", "--data", "no/such/folder"], ["no/such/folder"]),
    (["--out", "a_file/cell"], ["a_file/cell", "a file is in the way"]),
]


@pytest.mark.parametrize(("argv", "named"), TRAIN_CASES)
def test_train_refuses_bad_input_in_one_line(where: Path, monkeypatch, capsys, argv, named):
    monkeypatch.chdir(where)
    status, out, err = run_main(train.main, [*TINY, *argv], capsys)
    assert_one_line_error(status, out, err, *named)


def test_module_entry_points_keep_the_contract(where: Path):
    assert_cli_error(run_module("study.sweep", *SMOKE, "--set", "grid.counts=0-5", cwd=where), "grid.counts")
    assert_cli_error(run_module("study.train", "--counts", "0-5", cwd=where), "counts")
    assert_cli_error(run_module("study.sweep", *SMOKE, "--config", "latin1.toml", cwd=where), "latin1.toml")


def test_impossible_packing_is_refused_at_config_time(where: Path, monkeypatch, capsys):
    monkeypatch.chdir(where)
    status, out, err = run_main(sweep_main, [*SMOKE, "--set", "grid.counts=400-500"], capsys)
    assert_one_line_error(status, out, err, "counts", "400")


# ---------------------------------------------------------------- numbers, checked where they are parsed

NUMBER_CASES = [
    (["--size", "100000"], ["size", "100000", "4096"]),
    (["--size", "-32"], ["size", "-32", "16"]),
    (["--epochs", "1000000"], ["epochs", "1000000", "10000"]),
    (["--n-train", "99999999999"], ["n_train", "99999999999", "10,000,000"]),
    (["--n-test", "-5"], ["n_test", "-5"]),
    (["--n-test-dewind", "100000000"], ["n_test_dewind", "100000000"]),
    (["--batch-size", "10000000"], ["batch_size", "10000000", "65536"]),
    (["--lr", "inf"], ["--lr", "'inf'"]),
    (["--lr", "nan"], ["--lr", "'nan'"]),
    (["--lr", "1e400"], ["--lr", "'1e400'"]),
    (["--lr", "1000"], ["lr", "1000", "10"]),
    (["--weight-decay", "nan"], ["--weight-decay", "'nan'", "finite"]),
    (["--weight-decay", "-0.1"], ["weight_decay", "-0.1", "from 0 to 1"]),
    (["--radius", "inf"], ["--radius", "'inf'", "finite"]),
    (["--min-gap", "1e9"], ["min_gap", "1000000000"]),
    (["--aspect", "nan"], ["--aspect", "'nan'", "finite"]),
    (["--valid-pct", "nan"], ["--valid-pct", "'nan'", "finite"]),
    (["--seed", "-1"], ["seed", "-1", "4294967295"]),
    (["--seed", "99999999999999999999"], ["seed", "99999999999999999999"]),
    (["--data-seed", "-2"], ["data_seed", "-2", "-1"]),
    (["--scene-size", "5"], ["scene_size", "5", "16"]),
    (["--counts", "3-3"], ["counts", "'3-3'", "single count"]),
    (["--counts", "7"], ["counts", "'7'", "single count"]),
]


@pytest.mark.parametrize(("argv", "named"), NUMBER_CASES)
def test_train_numbers_are_checked_with_their_range(where: Path, monkeypatch, capsys, argv, named):
    monkeypatch.chdir(where)
    before = tree_snapshot(where)
    status, out, err = run_main(train.main, [*TINY, *argv], capsys)
    assert_one_line_error(status, out, err, *named)
    assert tree_snapshot(where) == before


SWEEP_NUMBER_CASES = [
    (["--set", "train.lr=inf"], ["train.lr", "inf"]),
    (["--set", "train.lr=nan"], ["train.lr", "nan"]),
    (["--set", "train.epochs=1e9"], ["train.epochs", "integer"]),
    (["--set", "train.epochs=100000000"], ["train.epochs", "100000000", "10000"]),
    (["--set", "train.size=100000"], ["train.size", "100000", "4096"]),
    (["--set", "train.n_train=-5"], ["train.n_train", "-5"]),
    (["--set", "train.weight_decay=nan"], ["train.weight_decay", "finite"]),
    (["--set", "train.seed=99999999999999999999"], ["train.seed", "4294967295"]),
    (["--set", "grid.counts=3-3"], ["grid.counts", "'3-3'", "single count"]),
    (["--set", "grid.batch_size=4,100000000"], ["batch_size", "100000000"]),
    (["--config", "numbers.toml"], ["numbers.toml", "lr", "finite"]),
    (["--config", "huge.toml"], ["huge.toml", "n_train", "10,000,000"]),
    (["--workers", "100000"], ["--workers", "'100000'", "1 to 1024"]),
    (["--workers", "nan"], ["--workers", "'nan'"]),
    (["--cells-per-gpu", "0"], ["--cells-per-gpu", "'0'", "1 to 64"]),
    (["--executor", "ray", "--gpus-per-cell", "nan"], ["--gpus-per-cell", "'nan'"]),
    (["--executor", "ray", "--gpus-per-cell", "-1"], ["--gpus-per-cell", "'-1'"]),
    (["--out", ""], ["--out", "empty path"]),
    (["--cache-dir", " "], ["--cache-dir", "empty path"]),
]


@pytest.mark.parametrize(("argv", "named"), SWEEP_NUMBER_CASES)
def test_sweep_numbers_and_paths_are_checked_where_parsed(where: Path, monkeypatch, capsys, argv, named):
    (where / "numbers.toml").write_text("[train]\nlr = nan\n")
    (where / "huge.toml").write_text("[train]\nn_train = 100_000_000_000\n")
    monkeypatch.chdir(where)
    before = tree_snapshot(where)
    status, out, err = run_main(sweep_main, [*SMOKE, *argv], capsys)
    assert_one_line_error(status, out, err, *named)
    assert tree_snapshot(where) == before


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("command", ["sweep", "train"])
def test_cuda_without_a_gpu_is_one_line(where: Path, monkeypatch, capsys, command):
    monkeypatch.chdir(where)
    if command == "sweep":
        status, out, err = run_main(sweep_main, [*SMOKE[:-2], "--device", "cuda", "--out", "run2"], capsys)
    else:
        status, out, err = run_main(train.main, [*TINY[:-2], "--device", "cuda", "--out", "cell"], capsys)
    assert_one_line_error(status, out, err, "'cuda'", "CUDA is not available", "cpu")
    assert not (where / "run2" / "cells").exists() and not (where / "cell" / "metrics.json").exists()


# ---------------------------------------------------------------- never overwrite what is not the kit's


def users_results_and_notes(where: Path) -> Path:
    folder = where / "mine"
    folder.mkdir()
    (folder / "results.csv").write_text("subject,score\nanna,3\n")
    (folder / "notes.md").write_text("my own notes")
    return folder


def users_notes_only(where: Path) -> Path:
    folder = where / "mine"
    folder.mkdir()
    (folder / "notes.md").write_text("my own notes")
    return folder


def users_log_and_spec(where: Path) -> Path:
    folder = where / "mine"
    folder.mkdir()
    (folder / "log.txt").write_text("my experiment log")
    (folder / "spec.json").write_text('{"name": "my own spec"}')
    return folder


def kit_layout_plus_a_note(where: Path) -> Path:
    """A run folder of an earlier kit, except that the user added a file: no longer only the kit's."""
    folder = where / "mine"
    (folder / "cells").mkdir(parents=True)
    (folder / "sweep.toml").write_text("[sweep]\nname = 'old'\n")
    (folder / "results.csv").write_text("cell_id,status\n")
    (folder / "README.txt").write_text("what I did")
    return folder


def kit_cell_folder(where: Path) -> Path:
    """A cell folder written by python -m study.train: not a run folder."""
    from study.run.runfolder import CellFolder

    folder = where / "mine"
    CellFolder(folder).claim()
    CellFolder(folder).write_spec({"task": "counting", "arch": "resnet18"})
    return folder


def kit_run_folder(where: Path) -> Path:
    """A run folder of the kit: not a cell folder."""
    from study.run.runfolder import RunFolder

    folder = where / "mine"
    with RunFolder(folder).lock():
        RunFolder(folder).write_sweep_text("[sweep]\nname = 'x'\n")
    return folder


SWEEP_OUT_NOT_OURS = [
    (users_results_and_notes, ["mine", "not a run folder of the study kit", "notes.md", "results.csv"]),
    (users_notes_only, ["mine", "not a run folder of the study kit", "notes.md"]),
    (users_log_and_spec, ["mine", "not a run folder of the study kit", "log.txt"]),
    (kit_layout_plus_a_note, ["mine", "README.txt"]),
    (kit_cell_folder, ["mine", "is a cell folder"]),
]


@pytest.mark.parametrize(("make", "named"), SWEEP_OUT_NOT_OURS)
def test_sweep_refuses_a_folder_that_is_not_the_kits(where: Path, monkeypatch, capsys, make, named):
    monkeypatch.chdir(where)
    folder = make(where)
    before = tree_snapshot(folder)
    status, out, err = run_main(sweep_main, [*SMOKE, "--out", str(folder)], capsys)
    assert_one_line_error(status, out, err, *named)
    assert tree_snapshot(folder) == before and not (folder / ".lock").exists()


TRAIN_OUT_NOT_OURS = [
    (users_results_and_notes, ["mine", "not a cell folder of the study kit"]),
    (users_log_and_spec, ["mine", "not a cell folder of the study kit", "log.txt", "spec.json"]),
    (kit_run_folder, ["mine", "is a run folder"]),
]


@pytest.mark.parametrize(("make", "named"), TRAIN_OUT_NOT_OURS)
def test_train_refuses_a_folder_that_is_not_the_kits(where: Path, monkeypatch, capsys, make, named):
    monkeypatch.chdir(where)
    folder = make(where)
    before = tree_snapshot(folder)
    status, out, err = run_main(train.main, [*TINY, "--out", str(folder)], capsys)
    assert_one_line_error(status, out, err, *named)
    assert tree_snapshot(folder) == before


def test_train_refuses_an_empty_out(where: Path, monkeypatch, capsys):
    monkeypatch.chdir(where)
    before = tree_snapshot(where)
    status, out, err = run_main(train.main, [*TINY, "--out", ""], capsys)
    assert_one_line_error(status, out, err, "--out", "empty path")
    assert tree_snapshot(where) == before


# ---------------------------------------------------------------- interrupts are one line


def test_ctrl_c_in_train_is_one_line(where: Path):
    result = interrupted_module("study.train", "study.run.cell.run_cell", *TINY, "--out", "cell", cwd=where)
    assert_interrupted(result, "cell", "rerun")
    assert not (where / "cell" / "metrics.json").exists() and not (where / "cell" / "error.json").exists()


def test_ctrl_c_in_the_sweeps_report_step_is_one_line(where: Path):
    code = (
        "import os, signal, sys\n"
        "import pipeline\n"
        "from kit.records import CellMetrics\n"
        "from study.run.runfolder import CellFolder\n"
        "def cell(spec, cell_dir, **kwargs):\n"
        "    CellFolder(cell_dir).write_metrics(CellMetrics(valid_accuracy=0.5))\n"
        "    return {'valid_accuracy': 0.5}\n"
        "def ctrl_c(run_dir):\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    signal.pause()\n"
        "pipeline.REPORT_STEPS = (('analysis.run_analysis', ctrl_c),)\n"
        f"argv = {['--preset', 'smoke', '--device', 'cpu', '--out', 'run2']!r}\n"
        "sys.exit(pipeline.run_pipeline(argv, run_cell=cell))\n"
    )
    result = run_python(code, cwd=where)
    assert_interrupted(result, "run2", "python -m analysis", "python -m reports")
    assert (where / "run2" / "results.csv").is_file()  # the sweep's results are kept


# ---------------------------------------------------------------- resources: a full disk


@pytest.mark.parametrize("failure", ["torch", "oserror"])
def test_a_full_disk_is_named_with_the_file_and_the_cell_is_not_done(where: Path, monkeypatch, capsys, failure):
    import errno

    import torch

    from kit import store
    from study.run.runfolder import CellFolder, CellStatus

    monkeypatch.chdir(where)
    if failure == "torch":
        def full(*args, **kwargs):
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")
        monkeypatch.setattr(torch, "save", full)
        named = "checkpoint.pt"
    else:
        real_fsync = store.os.fsync

        def full(fd):
            if os.readlink(f"/proc/self/fd/{fd}").split("/")[-1].startswith(".predictions.csv."):
                raise OSError(errno.ENOSPC, "No space left on device")
            real_fsync(fd)
        monkeypatch.setattr(store.os, "fsync", full)
        named = "predictions.csv"
    status, out, err = run_main(train.main, [*TINY, "--out", "cell"], capsys)
    assert_one_line_error(status, out, err, "no space left on device", named)
    cell = CellFolder(where / "cell")
    assert cell.status is not CellStatus.DONE and not cell.file("metrics.json").exists()
    assert not [path for path in cell.path.iterdir() if path.name.endswith(".tmp")]  # nothing half-written
