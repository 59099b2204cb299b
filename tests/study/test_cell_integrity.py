"""A finished cell is what it says it is: the manifest, earlier kits' folders, links, folders that vanish.

Every case damages a finished cell in one way a user (or a hostile tester)
can, and checks that the cell reads as pending with a reason naming the file,
that the sweep reruns it, and that nothing outside the cell is touched.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from study.run import sweep
from study.errors import DamagedFileError, NotOurFolderError
from study.run.runfolder import MARKER, CellFolder, CellStatus, RunFolder
from kit.records import CellMetrics, Checkpoint

SMOKE = ["--preset", "smoke", "--no-report", "--device", "cpu"]


def finish(cell: CellFolder, weight: float = 1.0, spec: dict | None = None) -> CellFolder:
    """A finished cell as run_cell leaves it: spec, tables, a real checkpoint, metrics last."""
    cell.reset(spec or {"task": "counting", "arch": "resnet18", "counts": "1-3"})
    cell.write_history([{"epoch": 1, "train_loss": 0.5}])
    cell.write_predictions([{"split": "test", "index": 0, "label": "1", "pred": "1", "loss": 0.1, "probs": [1.0]}],
                           ["1"])
    cell.save_checkpoint(Checkpoint(model={"w": torch.full((4,), weight)}, arch="resnet18", head="classifier",
                                    num_classes=4, size=32))
    cell.write_metrics(CellMetrics(valid_accuracy=0.5))
    return cell


def random_bytes_same_size(cell: CellFolder, other: CellFolder) -> str:
    path = cell.file("checkpoint.pt")
    path.write_bytes(os.urandom(path.stat().st_size))
    return "checkpoint.pt has changed (its sha256 differs"


def checkpoint_from_another_cell(cell: CellFolder, other: CellFolder) -> str:
    shutil.copyfile(other.file("checkpoint.pt"), cell.file("checkpoint.pt"))
    return "checkpoint.pt has changed (its sha256 differs"


def spec_edited(cell: CellFolder, other: CellFolder) -> str:
    spec = json.loads(cell.file("spec.json").read_text())
    cell.file("spec.json").write_text(json.dumps({**spec, "counts": "1-9"}))
    return "spec.json has changed"


def metrics_edited(cell: CellFolder, other: CellFolder) -> str:
    cell.file("metrics.json").write_text(json.dumps({"status": "done", "valid_accuracy": 0.99}))
    return "metrics.json has changed"


def predictions_rewritten(cell: CellFolder, other: CellFolder) -> str:
    cell.file("predictions.csv").write_text("split,index,label,pred,loss,prob_1\ntest,0,1,1,0.2,1\n")
    return "predictions.csv has changed"


def checkpoint_removed(cell: CellFolder, other: CellFolder) -> str:
    cell.file("checkpoint.pt").unlink()
    return "checkpoint.pt has been removed"


def checkpoint_linked_elsewhere(cell: CellFolder, other: CellFolder) -> str:
    cell.file("checkpoint.pt").unlink()
    cell.file("checkpoint.pt").symlink_to(other.file("checkpoint.pt"))
    return "checkpoint.pt has been replaced by a symbolic link"


def manifest_removed(cell: CellFolder, other: CellFolder) -> str:
    cell.file("manifest.json").unlink()
    return "manifest.json is missing"


def manifest_damaged(cell: CellFolder, other: CellFolder) -> str:
    cell.file("manifest.json").write_text('{"files": [1, 2]}')
    return "manifest.json is damaged"


def folder_copied_under_another_id(cell: CellFolder, other: CellFolder) -> str:
    shutil.rmtree(cell.path)
    shutil.copytree(other.path, cell.path)
    return "manifest.json belongs to cell 'b', not 'a'"


DAMAGE = [random_bytes_same_size, checkpoint_from_another_cell, spec_edited, metrics_edited, predictions_rewritten,
          checkpoint_removed, checkpoint_linked_elsewhere, manifest_removed, manifest_damaged,
          folder_copied_under_another_id]


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_finished_cell_that_changed_is_pending_with_the_reason(tmp_path: Path, damage):
    run = RunFolder(tmp_path / "run")
    cell, other = finish(run.cell("a"), 1.0), finish(run.cell("b"), 2.0)
    assert cell.state().status is CellStatus.DONE and other.status is CellStatus.DONE
    reason = damage(cell, other)
    state = cell.state()
    assert state.status is CellStatus.PENDING and reason in state.reason, state
    assert other.status is CellStatus.DONE  # the source of a copy is untouched and still fine


def test_the_sweep_reruns_a_cell_whose_checkpoint_was_substituted(tmp_path: Path, capsys):
    runs = []

    def cell_function(spec, cell_dir, device="auto", cache_dir=None, progress="auto"):
        runs.append(Path(cell_dir).name)
        folder = CellFolder(cell_dir)
        folder.save_checkpoint(Checkpoint(model={"w": torch.ones(2)}, arch="resnet18", head="classifier",
                                          num_classes=2, size=32))
        folder.write_metrics(CellMetrics(valid_accuracy=0.5))
        return {"valid_accuracy": 0.5}

    run_dir = tmp_path / "run"
    assert sweep.main([*SMOKE, "--out", str(run_dir)], run_cell=cell_function) == 0
    first = sorted(runs)
    cell = RunFolder(run_dir).cell(first[0])
    cell.file("checkpoint.pt").write_bytes(os.urandom(cell.file("checkpoint.pt").stat().st_size))
    runs.clear()
    capsys.readouterr()
    assert sweep.main([*SMOKE, "--out", str(run_dir)], run_cell=cell_function) == 0
    assert runs == [first[0]]  # only the damaged cell runs again
    assert f"cell {first[0]}: checkpoint.pt has changed" in capsys.readouterr().out
    assert cell.status is CellStatus.DONE


def test_a_cell_folder_deleted_while_the_cell_runs_does_not_end_done(tmp_path: Path):
    def vanishing(spec, cell_dir, device="auto", cache_dir=None, progress="auto"):
        shutil.rmtree(cell_dir)  # someone deletes the folder under the running cell
        folder = CellFolder(cell_dir)
        folder.write_history([{"epoch": 1, "train_loss": 0.5}])  # later writes recreate the folder
        folder.write_metrics(CellMetrics())
        return {}

    run_dir = tmp_path / "run"
    sweep.main([*SMOKE, "--out", str(run_dir)], run_cell=vanishing)
    states = [cell.state() for cell in RunFolder(run_dir).cells()]
    assert states and all(state.status is not CellStatus.DONE for state in states)
    assert all("spec.json disappeared" in state.reason for state in states), states


def test_finishing_without_spec_json_raises_and_writes_no_metrics(tmp_path: Path):
    cell = CellFolder(tmp_path / "cell")
    cell.path.mkdir()
    with pytest.raises(DamagedFileError, match="spec.json disappeared"):
        cell.write_metrics(CellMetrics())
    assert not cell.file("metrics.json").exists()


def test_a_cell_folder_that_is_a_symlink_is_pending_and_rerun_replaces_only_the_link(tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    finish(CellFolder(elsewhere))
    before = sorted(path.name for path in elsewhere.iterdir())
    run = RunFolder(tmp_path / "run")
    run.cells_dir.mkdir(parents=True)
    (run.cells_dir / "a").symlink_to(elsewhere)
    state = run.cell("a").state()
    assert state.status is CellStatus.PENDING and "symbolic link" in state.reason and str(elsewhere) in state.reason
    run.cell("a").reset({"task": "counting", "arch": "resnet18"})
    assert not (run.cells_dir / "a").is_symlink() and sorted(p.name for p in elsewhere.iterdir()) == before


# ---------------------------------------------------------------- earlier kits (no marker, no manifest)


def legacy_cell(path: Path, checkpoint: bytes | None = None) -> CellFolder:
    """A finished cell as an earlier kit wrote it: no marker, no manifest."""
    cell = finish(CellFolder(path))
    for name in (MARKER, "manifest.json"):
        cell.file(name).unlink()
    if checkpoint is not None:
        cell.file("checkpoint.pt").write_bytes(checkpoint)
    return cell


def test_an_earlier_kits_finished_cell_is_done_and_a_garbage_checkpoint_is_not(tmp_path: Path):
    assert legacy_cell(tmp_path / "old").status is CellStatus.DONE
    state = legacy_cell(tmp_path / "bad", checkpoint=os.urandom(500)).state()
    assert state.status is CellStatus.PENDING and "checkpoint.pt is damaged" in state.reason


def test_the_sweep_adopts_an_earlier_kits_run_folder_and_reruns_nothing_finished(tmp_path: Path, capsys):
    ran = []

    def cell_function(spec, cell_dir, device="auto", cache_dir=None, progress="auto"):
        ran.append(Path(cell_dir).name)
        CellFolder(cell_dir).write_metrics(CellMetrics())
        return {}

    run_dir = tmp_path / "run"
    assert sweep.main([*SMOKE, "--out", str(run_dir)], run_cell=cell_function) == 0
    ids = sorted(ran)
    for path in [run_dir / MARKER, *(run_dir / "cells" / cell_id / name for cell_id in ids
                                     for name in (MARKER, "manifest.json"))]:
        path.unlink()  # what an earlier kit left
    assert RunFolder(run_dir).looks_like_earlier_kit()
    ran.clear()
    assert sweep.main([*SMOKE, "--out", str(run_dir)], run_cell=cell_function) == 0
    assert ran == []  # finished cells of the earlier kit are kept
    assert (run_dir / MARKER).is_file()
    assert all(RunFolder(run_dir).cell(cell_id).file("manifest.json").is_file() for cell_id in ids)


def test_train_reuses_its_own_cell_folder_and_keeps_the_users_extra_files(tmp_path: Path):
    cell = finish(CellFolder(tmp_path / "cell"))
    (cell.path / "my-notes.txt").write_text("mine")
    cell.claim()
    assert sorted(p.name for p in cell.path.iterdir()) == [MARKER, "my-notes.txt"]
    with pytest.raises(NotOurFolderError, match="not a cell folder"):
        CellFolder(tmp_path / "cell" / "..").claim()  # tmp_path: the user's folder


def test_hashing_is_cached_by_file_identity(tmp_path: Path, monkeypatch):
    from study.run import runfolder

    cell = finish(CellFolder(tmp_path / "cell"))
    reads = []
    real = runfolder.hashlib.sha256
    monkeypatch.setattr(runfolder.hashlib, "sha256", lambda *a: reads.append(1) or real(*a))
    for _ in range(3):
        assert cell.status is CellStatus.DONE
    assert reads == []  # every file was hashed when the cell finished: reads only stat
    spec = cell.file("spec.json")
    spec.write_text(spec.read_text().replace("1-3", "1-4"))  # same size: only the sha256 can tell
    assert cell.status is CellStatus.PENDING and reads == [1]
