"""Run-folder storage: atomic writes, cell status, the results table, the lock."""

from __future__ import annotations

import json
from pathlib import Path

import pandas
import pytest
import torch

from study import store
from study.store import (
    RunLockedError,
    atomic_torch_save,
    atomic_write_json,
    atomic_write_text,
    cell_record,
    cell_status,
    locked_run_dir,
    write_results,
)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_atomic_write_json_is_sorted_indented_and_leaves_no_temp_files(tmp_path: Path):
    path = tmp_path / "deep" / "metrics.json"
    atomic_write_json(path, {"b": 1, "a": [1, 2]})
    assert path.read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'
    assert _leftovers(path.parent) == []


def test_atomic_write_json_accepts_numpy_and_torch_values(tmp_path: Path):
    import numpy

    atomic_write_json(tmp_path / "m.json", {"x": numpy.float32(0.5), "t": torch.tensor([1, 2]), "p": tmp_path})
    assert json.loads((tmp_path / "m.json").read_text()) == {"x": 0.5, "t": [1, 2], "p": str(tmp_path)}


def test_a_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch):
    path = tmp_path / "results.csv"
    atomic_write_text(path, "old\n")

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(store.os, "replace", explode)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(path, "new\n")
    assert path.read_text() == "old\n"
    assert _leftovers(tmp_path) == []


def test_atomic_write_json_rejects_unserialisable_values_without_touching_the_file(tmp_path: Path):
    path = tmp_path / "m.json"
    atomic_write_json(path, {"ok": 1})
    with pytest.raises(TypeError, match="cannot write object"):
        atomic_write_json(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"ok": 1}


def test_atomic_torch_save_loads_with_weights_only(tmp_path: Path):
    path = tmp_path / "checkpoint.pt"
    atomic_torch_save({"model": {"w": torch.ones(2)}, "arch": "resnet18"}, path)
    loaded = torch.load(path, weights_only=True)
    assert loaded["arch"] == "resnet18" and torch.equal(loaded["model"]["w"], torch.ones(2))
    assert _leftovers(tmp_path) == []


def test_cell_status(tmp_path: Path):
    assert cell_status(tmp_path / "never") == "pending"
    (tmp_path / "half").mkdir()
    assert cell_status(tmp_path / "half") == "pending"
    atomic_write_json(tmp_path / "bad" / "error.json", {"status": "failed", "error": "x"})
    assert cell_status(tmp_path / "bad") == "failed"
    atomic_write_json(tmp_path / "nodata" / "error.json", {"status": "skipped", "error": "x"})
    assert cell_status(tmp_path / "nodata") == "skipped"
    atomic_write_json(tmp_path / "ok" / "metrics.json", {"status": "done"})
    atomic_write_json(tmp_path / "ok" / "error.json", {"status": "failed"})  # a stale error loses
    assert cell_status(tmp_path / "ok") == "done"


def test_results_table_keeps_spec_fields_and_renames_image_counts(tmp_path: Path):
    spec = {"counts": "1-5", "n_train": 2500, "n_test": 1000}
    atomic_write_json(tmp_path / "a" / "metrics.json", {
        "status": "done", "test_accuracy": 0.9, "n_train": 2000, "n_valid": 500, "n_test": 1000,
        "seconds": 3.5, "device": "cpu", "weights_used": "none", "confusion_matrix": [[1]],
    })
    atomic_write_json(tmp_path / "b" / "error.json", {"status": "failed", "error": "RuntimeError: NaN\nmore"})
    rows = [cell_record(spec, "a", tmp_path / "a"), cell_record(spec, "b", tmp_path / "b"),
            cell_record(spec, "c", tmp_path / "c")]
    write_results(rows, tmp_path / "results.csv")
    table = pandas.read_csv(tmp_path / "results.csv")
    assert list(table.status) == ["done", "failed", "pending"]
    assert list(table.n_train) == [2500, 2500, 2500]  # the spec's value, not the metric's
    assert table.train_images[0] == 2000 and table.valid_images[0] == 500
    assert table.test_accuracy[0] == 0.9 and table.device[0] == "cpu"
    assert table.error[1] == "RuntimeError: NaN"
    assert "confusion_matrix" not in table


def test_run_folder_lock_is_exclusive(tmp_path: Path):
    with locked_run_dir(tmp_path / "run"):
        with pytest.raises(RunLockedError, match="another sweep is running"):
            with locked_run_dir(tmp_path / "run"):
                pass
    with locked_run_dir(tmp_path / "run"):  # released on exit
        pass


def test_atomic_writes_get_the_mode_of_a_plain_open(tmp_path):
    import os
    import stat

    from study.store import atomic_write_text

    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = tmp_path / "atomic.txt"
    atomic_write_text(atomic, "x")
    assert stat.S_IMODE(os.stat(atomic).st_mode) == stat.S_IMODE(os.stat(plain).st_mode)
