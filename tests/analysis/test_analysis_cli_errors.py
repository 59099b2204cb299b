"""Bad-input catalogue of ``python -m analysis``: one line naming the problem, exit 2, nothing lost."""

import json
import os
import shutil
import subprocess

import pytest

from catalogue import assert_cli_error, assert_interrupted, interrupted_module, run_module, tree_snapshot


def _analyse(*args):
    return run_module("analysis", *map(str, args), "--device", "cpu", "--max-cells", "1", "--quick")


def test_missing_folder(tmp_path):
    assert_cli_error(_analyse(tmp_path / "nope"), "nope", "does not exist")


def test_a_file_instead_of_a_folder(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("cell_id\n")
    assert_cli_error(_analyse(path), "results.csv", "not a folder")


def test_not_a_run_folder(tmp_path):
    (tmp_path / "holiday").mkdir()
    assert_cli_error(_analyse(tmp_path / "holiday"), "holiday", "not a run folder")


def test_read_only_run_folder(run_copy):
    before = tree_snapshot(run_copy)
    os.chmod(run_copy, 0o555)
    immutable = os.geteuid() == 0  # root ignores permission bits: make the folder immutable instead
    if immutable and subprocess.run(["chattr", "+i", str(run_copy)], capture_output=True).returncode != 0:
        os.chmod(run_copy, 0o755)
        pytest.skip("running as root on a file system without chattr +i: cannot make a folder read-only")
    try:
        result = _analyse(run_copy)
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(run_copy)], check=True)
        os.chmod(run_copy, 0o755)
    assert_cli_error(result, str(run_copy), "read-only")
    assert tree_snapshot(run_copy) == before


def _truncate(cell, other):
    checkpoint = cell / "checkpoint.pt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    return "checkpoint.pt has changed"


def _random_bytes(cell, other):
    checkpoint = cell / "checkpoint.pt"
    checkpoint.write_bytes(os.urandom(checkpoint.stat().st_size))
    return "checkpoint.pt has changed"


def _another_cells_checkpoint(cell, other):
    shutil.copyfile(other / "checkpoint.pt", cell / "checkpoint.pt")
    return "checkpoint.pt has changed"


def _spec_relabelled(cell, other):
    spec = json.loads((cell / "spec.json").read_text())
    (cell / "spec.json").write_text(json.dumps({**spec, "aug": "sensible" if spec["aug"] != "sensible" else "none"}))
    return "spec.json has changed"


def _metrics_rewritten(cell, other):
    metrics = json.loads((cell / "metrics.json").read_text())
    (cell / "metrics.json").write_text(json.dumps({**metrics, "test_accuracy": 1.0}))
    return "metrics.json has changed"


def _cell_is_a_link(cell, other):
    target = cell.parent.parent / "elsewhere"
    cell.rename(target)
    cell.symlink_to(target)
    return "symbolic link"


@pytest.mark.parametrize("damage", [_truncate, _random_bytes, _another_cells_checkpoint, _spec_relabelled,
                                    _metrics_rewritten, _cell_is_a_link])
def test_a_cell_changed_after_it_finished_is_left_out_with_the_reason(run_copy, damage):
    cells = sorted((run_copy / "cells").iterdir())
    reason = damage(cells[0], cells[1])
    result = _analyse(run_copy)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    summary = json.loads((run_copy / "analysis" / "summary.json").read_text())
    gap = next(m for m in summary["missing"] if cells[0].name in m["what"])
    assert "pending" in gap["why"] and reason in gap["why"], gap
    assert summary["cells_analysed"] <= len(cells) - 1


def test_ctrl_c_is_one_line(run_copy):
    before = tree_snapshot(run_copy)
    result = interrupted_module("analysis", "analysis.pipeline.run_analysis", str(run_copy), "--device", "cpu")
    assert_interrupted(result, "python -m analysis", str(run_copy))
    assert tree_snapshot(run_copy) == before


@pytest.mark.parametrize("flag, value, mention", [("--max-cells", "-1", "--max-cells -1"),
                                                   ("--device", "cuda:x", "'cuda:x'")])
def test_bad_numbers_and_devices(run_copy, flag, value, mention):
    assert_cli_error(run_module("analysis", str(run_copy), flag, value), mention)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu(run_copy):
    assert_cli_error(run_module("analysis", str(run_copy), "--device", "cuda"), "'cuda'", "not available")


def test_damaged_metrics_leaves_the_cell_out_and_says_why(run_copy):
    cells = sorted((run_copy / "cells").iterdir())
    (cells[0] / "metrics.json").write_text('{"test_accuracy": 0.9')  # cut mid-write
    result = _analyse(run_copy)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    summary = json.loads((run_copy / "analysis" / "summary.json").read_text())
    gap = next(m for m in summary["missing"] if cells[0].name in m["what"])
    assert "pending" in gap["why"] and "metrics.json" in gap["why"]


@pytest.mark.parametrize("device, mention", [("tpu", "'tpu'"), ("cuda:x", "'cuda:x'")])
def test_bad_device(run_copy, device, mention):
    result = run_module("analysis", str(run_copy), "--device", device)
    line = assert_cli_error(result, "--device", mention)
    assert "auto" in line and "cpu" in line


def test_non_utf8_sweep_toml(run_copy):
    (run_copy / "sweep.toml").write_bytes(b"[sweep]\nname = \"caf\xe9\"\n")
    assert_cli_error(_analyse(run_copy), "sweep.toml", "UTF-8")
    assert not (run_copy / "analysis" / "summary.json").exists()


def test_cells_folder_is_a_file(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "cells").write_text("not a folder")
    result = _analyse(run)
    assert_cli_error(result, "run", "not a run folder")
