"""python -m synth's progress on stderr: nothing with --quiet, a few whole lines when stderr is not a terminal."""

from synth.cli import main


def test_quiet_run_prints_nothing_on_stderr(tmp_path, capsys):
    assert main(["--counts", "1-3", "--n", "6", "--size", "24", "--out", str(tmp_path / "q"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_non_terminal_run_prints_a_few_progress_lines(tmp_path, capsys):
    # capsys's stderr is not a terminal: sparse lines, not a bar and not one line per image.
    assert main(["--counts", "1-3", "--n", "60", "--size", "24", "--out", str(tmp_path / "p")]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert 2 <= len(lines) <= 22 and "\r" not in "".join(lines)
    assert lines[0].startswith("sampling: ") and lines[-1] == "rendering and writing: 100% (60/60)"
