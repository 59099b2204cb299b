"""study.run.runfolder: cell states (damaged files included), results rows, the lock, error.json."""

from __future__ import annotations

from pathlib import Path

import pandas
import pytest

from study.errors import DamagedFileError, RunLockedError
from study.run.runfolder import MARKER, CellFolder, CellStatus, RunFolder
from kit.records import CellMetrics


def test_cell_states(tmp_path: Path):
    run = RunFolder(tmp_path)
    assert run.cell("never").state().status is CellStatus.PENDING
    (tmp_path / "cells" / "half").mkdir(parents=True)
    assert run.cell("half").status is CellStatus.PENDING
    bad = run.cell("bad")
    bad.reset({"task": "counting"})
    bad.write_error(CellStatus.FAILED, "RuntimeError: NaN\nmore lines", "Traceback ...")
    assert bad.state().status is CellStatus.FAILED and bad.state().reason == "RuntimeError: NaN"
    skipped = run.cell("nodata")
    skipped.reset({})
    skipped.write_error(CellStatus.SKIPPED, "photo folder missing")
    assert skipped.status is CellStatus.SKIPPED
    ok = run.cell("ok")
    ok.reset({})
    ok.write_error(CellStatus.FAILED, "stale")
    ok.write_metrics(CellMetrics(test_accuracy=float("nan")))
    assert ok.status is CellStatus.DONE  # a stale error loses to metrics.json
    assert ok.read_metrics().test_accuracy is None
    with pytest.raises(ValueError, match="failed or skipped"):
        ok.write_error(CellStatus.DONE, "no")


@pytest.mark.parametrize(("name", "damage", "reason"), [
    ("metrics.json", b'{"status": "do', "metrics.json is damaged (not valid JSON at line 1, column 12)"),
    ("history.csv", b"epoch,train_loss\n1,0.5\n2", "history.csv is damaged (line 3 has the wrong number of columns)"),
    ("predictions.csv", b"", "predictions.csv is damaged (empty)"),
])
def test_a_finished_cell_with_a_damaged_file_is_pending_with_the_reason(tmp_path: Path, name, damage, reason):
    cell = CellFolder(tmp_path / "cell")
    cell.reset({})
    cell.write_history([{"epoch": 1, "train_loss": 0.5}])
    cell.write_predictions([{"split": "test", "index": 0, "label": "1", "pred": "1", "loss": 0.1, "probs": [1.0]}],
                           ["1"])
    cell.write_metrics(CellMetrics())
    assert cell.status is CellStatus.DONE
    cell.file(name).write_bytes(damage)
    assert (cell.state().status, cell.state().reason) == (CellStatus.PENDING, reason)
    cell.reset({"again": True})  # a fresh attempt starts from an empty folder
    assert sorted(path.name for path in cell.path.iterdir()) == [MARKER, "spec.json"]


def test_results_rows_keep_spec_fields_and_rename_image_counts(tmp_path: Path):
    run = RunFolder(tmp_path)
    spec = {"counts": "1-5", "n_train": 2500, "n_test": 1000}
    done = run.cell("a")
    done.reset(spec)
    done.write_metrics(CellMetrics(test_accuracy=0.9, n_train=2000, n_valid=500, n_test=1000, seconds=3.5,
                                   device="cpu", weights_used="none", confusion_matrix=[[1]]))
    failed = run.cell("b")
    failed.reset(spec)
    failed.write_error(CellStatus.FAILED, "RuntimeError: NaN\nmore")
    run.write_results([run.cell(name).record(spec) for name in ("a", "b", "c")])
    table = pandas.read_csv(run.results_path)
    assert list(table.status) == ["done", "failed", "pending"]
    assert list(table.n_train) == [2500, 2500, 2500]  # the spec's value, not the metric's
    assert table.train_images[0] == 2000 and table.valid_images[0] == 500
    assert table.test_accuracy[0] == 0.9 and table.device[0] == "cpu"
    assert table.error[1] == "RuntimeError: NaN"
    assert "confusion_matrix" not in table
    assert [row.cell_id for row in run.read_results()] == ["a", "b", "c"]


def test_run_folder_lock_is_exclusive(tmp_path: Path):
    run = RunFolder(tmp_path / "run")
    with run.lock():
        with pytest.raises(RunLockedError, match="another sweep is running"):
            with RunFolder(tmp_path / "run").lock():
                pass
    with run.lock():  # released on exit
        pass


def test_sweep_text_that_is_not_utf8_names_the_file(tmp_path: Path):
    run = RunFolder(tmp_path)
    assert run.read_sweep_text() is None and not run.is_run_folder()
    run.sweep_path.write_bytes(b"name = \xff")
    with pytest.raises(DamagedFileError, match="sweep.toml: not UTF-8"):
        run.read_sweep_text()
    run.write_sweep_text("name = 'ok'\n")
    assert run.read_sweep_text() == "name = 'ok'\n" and run.is_run_folder()


def test_discard_error_makes_an_interrupted_cell_pending(tmp_path: Path):
    cell = CellFolder(tmp_path / "cell")
    cell.reset({})
    cell.write_error(CellStatus.FAILED, "KeyboardInterrupt")
    cell.discard_error()
    cell.discard_error()  # nothing to remove: fine
    assert cell.status is CellStatus.PENDING
