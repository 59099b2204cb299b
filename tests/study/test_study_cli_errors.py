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

from study import sweep, train
from tests.catalogue import assert_cli_error, assert_one_line_error, run_module, tree_snapshot

SMOKE = ["--preset", "smoke", "--no-report", "--device", "cpu"]
TINY = ["--counts", "1-3", "--size", "32", "--n-train", "20", "--n-test", "4", "--epochs", "1",
        "--batch-size", "4", "--device", "cpu"]


def never_runs(spec, cell_dir, device="auto", cache_dir=None, progress="auto"):
    raise AssertionError("a cell ran despite the bad input")


def run_main(main, argv: list[str], capsys) -> tuple[int, str, str]:
    """main(argv) in-process: its status (argparse's SystemExit included) and output."""
    try:
        status = main(argv)
    except SystemExit as exit_info:
        status = exit_info.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


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
