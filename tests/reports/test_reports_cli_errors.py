"""Bad-input catalogue of ``python -m reports``: one line naming the folder, exit 2, nothing written."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.catalogue import assert_cli_error, assert_interrupted, interrupted_module, run_module, tree_snapshot
from fake_run_folder import make_run


def _reports(*args: str) -> subprocess.CompletedProcess:
    return run_module("reports", *args, timeout=120)


def test_missing_folder(tmp_path: Path) -> None:
    path = tmp_path / "runs" / "nope"
    assert_cli_error(_reports(str(path)), str(path), "no such folder")
    assert not path.exists()


def test_a_file_not_a_folder(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    path.write_text("cell_id\n")
    assert_cli_error(_reports(str(path)), str(path), "is a file")
    assert path.read_text() == "cell_id\n"


@pytest.mark.parametrize("content", [None, "notes.txt"])
def test_a_folder_that_is_not_a_run(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "photos"
    path.mkdir()
    if content:
        (path / content).write_text("hello")
    before = tree_snapshot(path)
    assert_cli_error(_reports(str(path)), str(path), "not a run folder")
    assert tree_snapshot(path) == before


def test_no_argument_is_one_line_usage() -> None:
    assert_cli_error(_reports(), "RUN_FOLDER")


def test_report_path_is_a_folder(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, analysis=False)
    (run_dir / "report.html").mkdir()
    before = tree_snapshot(run_dir)
    assert_cli_error(_reports(str(run_dir)), str(run_dir / "report.html"), "not a file")
    assert tree_snapshot(run_dir) == before and not (run_dir / "report.pdf").exists()


def _make_read_only(folder: Path) -> list[list[str]]:
    """chmod a-w, and chattr +i where root ignores modes; returns the commands that undo it."""
    folder.chmod(0o555)
    undo = [["chmod", "755", str(folder)]]
    probe = folder / ".probe"
    try:
        probe.write_text("x")
    except OSError:
        return undo
    probe.unlink()
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("cannot make a folder read-only here (running as root without chattr)")
    return [["chattr", "-i", str(folder)], *undo]


def test_read_only_run_folder(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, analysis=False)
    before = tree_snapshot(run_dir)
    undo = _make_read_only(run_dir)
    try:
        result = _reports(str(run_dir))
    finally:
        for command in undo:
            subprocess.run(command, check=True)
    assert_cli_error(result, str(run_dir), "read-only")
    assert tree_snapshot(run_dir) == before


def test_ctrl_c_is_one_line(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, analysis=False)
    before = tree_snapshot(run_dir)
    result = interrupted_module("reports", "reports.build.build_report", str(run_dir))
    assert_interrupted(result, "python -m reports", str(run_dir))
    assert tree_snapshot(run_dir) == before


def test_an_empty_path_is_not_the_current_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    before = tree_snapshot(tmp_path)
    result = run_module("reports", "", cwd=tmp_path, timeout=120)
    assert_cli_error(result, "not a run folder")
    assert tree_snapshot(tmp_path) == before
