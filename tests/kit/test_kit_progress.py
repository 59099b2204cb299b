"""kit.progress: the modes, the line writer and the bar, fed by hand (hand-checkable lines)."""

from __future__ import annotations

import io

import pytest

from kit.errors import ConfigError
from kit.progress import PROGRESS_MODES, LineProgress, progress_bar, progress_iter, resolve_mode


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_follows_the_stream_and_the_other_modes_are_kept():
    assert PROGRESS_MODES == ("auto", "bar", "lines", "quiet")
    assert resolve_mode("auto", io.StringIO()) == "lines"
    assert resolve_mode("auto", FakeTty()) == "bar"
    assert [resolve_mode(mode, FakeTty()) for mode in ("bar", "lines", "quiet")] == ["bar", "lines", "quiet"]


def test_unknown_mode_is_a_one_line_config_error():
    with pytest.raises(ConfigError, match=r"progress mode 'loud' is not one of: auto, bar, lines, quiet"):
        resolve_mode("loud", io.StringIO())
    with pytest.raises(ConfigError, match="'loud'"):
        progress_iter([1], mode="loud")  # at the call, before any item is read
    with pytest.raises(ConfigError, match="''"):
        progress_bar(3, "x", mode="")


def test_line_progress_prints_one_line_per_tenth():
    stream = io.StringIO()
    bar = LineProgress(1000, "sampling", stream)
    for _ in range(1000):
        bar.update(1)
    bar.close()
    assert stream.getvalue().splitlines() == [f"sampling: {10 * k}% ({100 * k}/1000)" for k in range(1, 11)]


def test_line_progress_big_jumps_print_once():
    stream = io.StringIO()
    with LineProgress(7, "writing", stream) as bar:
        bar.update(5)
        bar.update(2)
    assert stream.getvalue().splitlines() == ["writing: 71% (5/7)", "writing: 100% (7/7)"]


def test_line_progress_says_where_a_short_or_uncounted_loop_ended():
    stream = io.StringIO()
    with LineProgress(20, "cells", stream) as bar:
        bar.update(3)
    assert stream.getvalue().splitlines() == ["cells: 15% (3/20)"]
    stream = io.StringIO()
    with LineProgress(None, "", stream) as bar:
        bar.update(4)
    assert stream.getvalue().splitlines() == ["4"]


def test_line_progress_prints_nothing_more_after_an_error():
    stream = io.StringIO()
    with pytest.raises(KeyboardInterrupt), LineProgress(20, "cells", stream) as bar:
        bar.update(1)
        raise KeyboardInterrupt
    assert stream.getvalue() == ""


def test_line_progress_writes_messages_between_its_lines():
    stream, out = io.StringIO(), io.StringIO()
    with LineProgress(2, "cells", stream) as bar:
        bar.write("done cell-1", file=out)
        bar.set_postfix_str("ignored")
        bar.update(2)
    assert out.getvalue() == "done cell-1\n" and stream.getvalue() == "cells: 100% (2/2)\n"


def test_quiet_and_empty_work_are_silent():
    for mode, total in (("quiet", 10), ("lines", 0), ("bar", 0)):
        stream = FakeTty()
        with progress_bar(total, "sampling", mode=mode, stream=stream) as bar:
            bar.update(total)
        assert stream.getvalue() == ""


def test_progress_bar_on_a_terminal_draws_a_bar():
    stream = FakeTty()
    with progress_bar(4, "fetch cat", "url", stream=stream) as bar:
        bar.update(4)
    assert "fetch cat" in stream.getvalue() and "4/4" in stream.getvalue() and "url" in stream.getvalue()


def test_progress_iter_lines_every_tenth():
    stream = io.StringIO()
    assert list(progress_iter(range(20), desc="cells", mode="lines", stream=stream)) == list(range(20))
    assert stream.getvalue().splitlines() == [f"cells: {5 * n}% ({n}/20)" for n in range(2, 21, 2)]


def test_progress_iter_lines_short_and_unknown_totals():
    stream = io.StringIO()
    list(progress_iter(["a", "b", "c"], desc="methods", mode="lines", stream=stream))
    assert stream.getvalue().splitlines() == ["methods: 33% (1/3)", "methods: 66% (2/3)", "methods: 100% (3/3)"]
    stream = io.StringIO()
    list(progress_iter((n for n in range(4)), desc="scenes", mode="lines", stream=stream))
    assert stream.getvalue().splitlines() == ["scenes: 4"]


def test_progress_iter_quiet_and_bar():
    stream = FakeTty()
    assert list(progress_iter(range(5), mode="quiet", stream=stream)) == list(range(5))
    assert stream.getvalue() == ""
    assert list(progress_iter(range(5), total=5, desc="files", mode="auto", stream=stream)) == list(range(5))
    assert "files" in stream.getvalue() and "5/5" in stream.getvalue()
