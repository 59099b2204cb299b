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
