"""Every bad input to ``python -m synth`` gets exit status 2, one line naming the bad value, and no trace on disk."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from synth.cli import main


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` (hidden ones included) with its bytes (None for folders)."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in folder.rglob("*")}


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    """Exit status and stderr of ``main(argv)``; any exception other than SystemExit fails the test."""
    try:
        status = main(argv)
    except SystemExit as exit_info:
        status = exit_info.code
    return status, capsys.readouterr().err


def out_is_a_file(tmp_path):
    (tmp_path / "taken").write_text("a file")
    return str(tmp_path / "taken"), "is an existing file"


def out_under_a_file(tmp_path):
    (tmp_path / "taken").write_text("a file")
    return str(tmp_path / "taken" / "images"), "is a file"


def out_is_a_full_folder(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "precious.txt").write_text("keep me")
    return str(tmp_path / "full"), "--overwrite"


def out_in_a_read_only_folder(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; the /sys case covers a refused write")
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked").chmod(0o555)
    return str(tmp_path / "locked" / "images"), "Permission denied"


def out_in_proc(tmp_path):
    return "/proc/x", "No such file or directory"


def out_in_sys(tmp_path):
    return "/sys/x", "not permitted"


@pytest.mark.parametrize(
    "make_out",
    [out_is_a_file, out_under_a_file, out_is_a_full_folder, out_in_a_read_only_folder, out_in_proc, out_in_sys],
)
def test_bad_out_paths(tmp_path, capsys, make_out):
    out, problem = make_out(tmp_path)
    before = snapshot(tmp_path)
    status, err = run_cli(["--n", "3", "--size", "32", "--out", out, "--quiet"], capsys)
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    assert out in err and problem in err
    assert snapshot(tmp_path) == before  # nothing lost, nothing half-written


@pytest.mark.parametrize(
    "argv, bad",
    [
        (["--counts", "0-0"], "'0-0'"),
        (["--counts", "0-3"], "'0-3'"),
        (["--counts", "5-2"], "'5-2'"),
        (["--counts", "abc"], "'abc'"),
        (["--radius", "0"], "--radius"),
        (["--radius", "-2"], "--radius"),
        (["--radius-range", "0-2"], "--radius-range"),
        (["--radius-range", "3-1"], "'3-1'"),
        (["--size", "2"], "--size"),
        (["--size", "abc"], "'abc'"),
        (["--aspect", "0"], "--aspect"),
        (["--aspect", "inf"], "--aspect"),
        (["--radius", "nan"], "--radius"),
        (["--min-gap", "-1"], "--min-gap"),
        (["--counts", "500-500", "--size", "32"], "cannot pack 500-500 circles"),
        (["--counts", "20-20", "--size", "32", "--radius", "8"], "at most 2 circles of radius 8"),
        (["--shape", "hexagon"], "--shape: invalid choice: 'hexagon'"),
        (["--colour", "pink"], "--colour: invalid choice: 'pink'"),
        (["--distractors", "3-1"], "'3-1'"),
        (["--distractors", "x"], "--distractors"),
        (["--distractor-kind", "size"], "--distractor-kind: invalid choice: 'size'"),
        (["--shape", "mixed", "--distractors", "1-2", "--distractor-kind", "shape"], "shape 'mixed'"),
        (["--colour", "random", "--distractors", "1-2"], "colour 'random'"),
        (["--overlap", "--control", "dewind"], "overlap with control 'dewind'"),
        (["--counts", "20-20", "--shape", "triangle", "--radius", "6"], "at most 1 triangles of radius 6"),
    ],
)
def test_bad_values(tmp_path, capsys, argv, bad):
    out = tmp_path / "never"
    status, err = run_cli(["--n", "3", "--size", "32", *argv, "--out", str(out), "--quiet"], capsys)
    assert status == 2
    assert err.count("\n") == 1 and "error:" in err and "Traceback" not in err
    assert bad in err
    assert not list(tmp_path.iterdir())


def test_infeasible_auto_radius_names_the_limits(tmp_path, capsys):
    # The auto radius stops at the 1 px floor; the error says what fits there and what radius 500 would need.
    status, err = run_cli(["--counts", "500-500", "--size", "32", "--out", str(tmp_path / "x"), "--quiet"], capsys)
    assert status == 2
    assert "radius 1," in err and "at most 67 circles of radius 1 fit" in err and "for 500 circles" in err


def test_os_error_is_one_line_from_a_real_process(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "synth", "--n", "2", "--size", "16", "--out", "/proc/x"],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith("error: --out /proc/x:") and "Traceback" not in result.stderr


def test_bad_out_is_refused_before_sampling(tmp_path, capsys):
    (tmp_path / "taken").write_text("a file")
    status, err = run_cli(["--n", "50", "--size", "32", "--out", str(tmp_path / "taken")], capsys)  # not --quiet
    assert status == 2 and err.startswith("error: --out") and err.count("\n") == 1  # no progress lines first
