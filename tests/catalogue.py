"""Shared checks for the bad-input catalogue tests of every command line.

Each catalogue case runs a CLI on one bad input and asserts the contract of
the kit: the promised exit status, exactly one line on stderr that names the
bad value, no traceback anywhere, and nothing the user had is lost.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_module(module: str, *args: str, cwd: str | Path | None = None, timeout: float = 300,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``python -m module args...`` in a subprocess (one CPU thread, no terminal), output captured."""
    environment = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd or REPO, env=environment,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def run_python(code: str, cwd: str | Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -c code`` in a subprocess, as ``run_module`` runs a module (for cases that patch first)."""
    environment = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd or REPO, env=environment,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def interrupted_module(module: str, patch: str, *args: str,
                       cwd: str | Path | None = None) -> subprocess.CompletedProcess:
    """``python -m module args`` with a real SIGINT (Ctrl-C) raised inside it.

    Args:
        module: the command line to run.
        patch: a dotted ``module.attribute`` replaced, before the command starts, by a function that
            sends SIGINT to its own process: the interrupt arrives exactly while that step runs.
        args: the command's arguments.
    """
    owner, _, name = patch.rpartition(".")
    code = (
        "import importlib, os, runpy, signal, sys\n"
        f"target = importlib.import_module({owner!r})\n"
        "def ctrl_c(*args, **kwargs):\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    signal.pause()  # the KeyboardInterrupt arrives here\n"
        f"setattr(target, {name!r}, ctrl_c)\n"
        f"sys.argv = [{module!r}, *{list(args)!r}]\n"
        f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)\n"
    )
    return run_python(code, cwd=cwd)


def run_main(main, argv: list[str], capsys) -> tuple[int, str, str]:
    """``main(argv)`` in-process: its status (argparse's SystemExit included) and captured output."""
    try:
        status = main(argv)
    except SystemExit as exit_info:
        status = exit_info.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_interrupted(result: subprocess.CompletedProcess, *mentions: str) -> str:
    """The interrupt contract: exit status 130, one stderr line ``interrupted: ...`` naming ``mentions``."""
    line = assert_one_line_error(result.returncode, result.stdout, result.stderr, "interrupted:", *mentions,
                                 expected_status=130)
    assert line.startswith("interrupted: "), line
    return line


def assert_one_line_error(status: int, stdout: str, stderr: str, *mentions: str, expected_status: int = 2) -> str:
    """The error contract: exit status, one non-empty stderr line naming ``mentions``, no traceback.

    Returns:
        the error line (for further checks).
    """
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stdout + stderr, f"traceback printed:\n{stderr}"
    assert status == expected_status, f"exit status {status}, expected {expected_status}; stderr:\n{stderr}"
    assert len(lines) == 1, f"expected one error line, got {len(lines)}:\n{stderr}"
    for mention in mentions:
        assert mention in lines[0], f"{mention!r} not named in: {lines[0]}"
    return lines[0]


def assert_cli_error(result: subprocess.CompletedProcess, *mentions: str, expected_status: int = 2) -> str:
    """``assert_one_line_error`` for a ``run_module`` result."""
    return assert_one_line_error(result.returncode, result.stdout, result.stderr, *mentions,
                                 expected_status=expected_status)


def tree_snapshot(folder: str | Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes, to assert that nothing was lost or changed."""
    folder = Path(folder)
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}
