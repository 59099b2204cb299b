import io

from synth.cli import main
from synth.progress import LineProgress, progress_bar


def test_line_progress_prints_one_line_per_tenth():
    stream = io.StringIO()
    bar = LineProgress(1000, "sampling", stream)
    for _ in range(1000):
        bar.update(1)
    lines = stream.getvalue().splitlines()
    assert lines == [f"sampling: {10 * k}% ({100 * k}/1000)" for k in range(1, 11)]


def test_line_progress_big_jumps_print_once():
    stream = io.StringIO()
    bar = LineProgress(7, "writing", stream)
    bar.update(5)
    bar.update(2)
    assert stream.getvalue().splitlines() == ["writing: 71% (5/7)", "writing: 100% (7/7)"]


def test_disabled_progress_is_silent():
    stream = io.StringIO()
    with progress_bar(10, "sampling", enabled=False, stream=stream) as bar:
        bar.update(10)
    assert stream.getvalue() == ""


def test_quiet_run_prints_nothing_on_stderr(tmp_path, capsys):
    assert main(["--counts", "1-3", "--n", "6", "--size", "24", "--out", str(tmp_path / "q"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_non_terminal_run_prints_a_few_progress_lines(tmp_path, capsys):
    # capsys's stderr is not a terminal: sparse lines, not a bar and not one line per image.
    assert main(["--counts", "1-3", "--n", "60", "--size", "24", "--out", str(tmp_path / "p")]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert 2 <= len(lines) <= 22 and "\r" not in "".join(lines)
    assert lines[0].startswith("sampling: ") and lines[-1] == "rendering and writing: 100% (60/60)"
