"""kit.cli: one-line usage errors (exit 2), one-line interrupts (exit 130), SIGTERM as Ctrl-C, path problems."""

from __future__ import annotations

import errno
import os
import signal

import pytest

from kit.cli import INTERRUPTED, USAGE_ERROR, ArgumentParser, path_problem, report_error, report_interrupt, stop_on_sigterm


def _parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m tool")
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("fetch")
    fetch.add_argument("--workers", type=int, default=1)
    return parser


@pytest.mark.parametrize("argv, words", [
    (["fetch", "--workers", "two"], "argument --workers: invalid int value: 'two' (see python -m tool fetch --help)"),
    ([], "the following arguments are required: command (see python -m tool --help)"),
    (["fetch", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_a_usage_error_is_one_line_and_exit_status_2(capsys, argv, words):
    with pytest.raises(SystemExit) as stopped:
        _parser().parse_args(argv)
    err = capsys.readouterr().err
    assert stopped.value.code == USAGE_ERROR == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and words in err


def test_report_error_and_report_interrupt_print_one_line_and_return_the_status(capsys):
    assert report_error(ValueError("--n 0: expected 1 or more")) == 2
    assert report_interrupt("finished cells are kept; rerun the same command to resume") == INTERRUPTED == 130
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line] == [
        "error: --n 0: expected 1 or more",
        "interrupted: finished cells are kept; rerun the same command to resume",
    ]


def test_sigterm_stops_like_ctrl_c():
    previous = signal.getsignal(signal.SIGTERM)
    try:
        stop_on_sigterm()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            signal.pause()  # not reached if the handler raised already
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_path_problem_names_the_path_and_what_to_do():
    in_the_way = OSError(errno.ENOTDIR, "Not a directory", "runs/x/cells")
    assert path_problem(in_the_way) == ("runs/x/cells: Not a directory (a file is in the way of a folder; "
                                        "choose another --out)")
    assert path_problem(OSError(errno.EROFS, "Read-only file system", "/ro"), "--cache-dir").endswith(
        "(the file system is read-only; choose another --cache-dir)")
    assert path_problem(OSError(errno.EIO, "Input/output error")) == "a path: Input/output error"
