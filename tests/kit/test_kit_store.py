"""kit.store: atomic writes (temp file + rename) and tolerant JSON reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from kit import store
from kit.store import atomic_write_json, atomic_write_text, atomic_write_with


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


def test_atomic_write_with_torch_save_loads_with_weights_only(tmp_path: Path):
    path = tmp_path / "checkpoint.pt"
    checkpoint = {"model": {"w": torch.ones(2)}, "arch": "resnet18"}
    atomic_write_with(path, lambda handle: torch.save(checkpoint, handle))
    loaded = torch.load(path, weights_only=True)
    assert loaded["arch"] == "resnet18" and torch.equal(loaded["model"]["w"], torch.ones(2))
    assert _leftovers(tmp_path) == []


def test_atomic_writes_get_the_mode_of_a_plain_open(tmp_path):
    import os
    import stat

    from kit.store import atomic_write_text

    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = tmp_path / "atomic.txt"
    atomic_write_text(atomic, "x")
    assert stat.S_IMODE(os.stat(atomic).st_mode) == stat.S_IMODE(os.stat(plain).st_mode)


def test_a_full_disk_names_the_file_and_keeps_the_old_one(tmp_path: Path, monkeypatch):
    import errno

    from kit import store
    from kit.errors import DiskFullError

    path = tmp_path / "metrics.json"
    store.atomic_write_json(path, {"old": 1})

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.os, "fsync", full)
    with pytest.raises(DiskFullError, match=f"no space left on device while writing {path}"):
        store.atomic_write_json(path, {"new": 2})
    assert store.read_json(path) == {"old": 1} and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_torchs_failed_write_is_a_full_disk_naming_the_checkpoint(tmp_path: Path, monkeypatch):
    from kit import store
    from kit.errors import DiskFullError

    def enforce_fail(obj, handle):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 4096 vs 0")

    monkeypatch.setattr(torch, "save", enforce_fail)
    with pytest.raises(DiskFullError, match="checkpoint.pt"):
        store.atomic_write_with(tmp_path / "checkpoint.pt", lambda handle: torch.save({"model": {}}, handle))
    assert list(tmp_path.iterdir()) == []


def test_the_study_catches_the_kits_disk_full_error():
    """``from study.errors import DiskFullError`` is the same class, so ``except DiskFullError`` works everywhere."""
    from kit import errors
    from study import errors as study_errors

    assert study_errors.DiskFullError is errors.DiskFullError
    assert issubclass(errors.DiskFullError, study_errors.UserError) and issubclass(errors.DiskFullError, OSError)
