"""The architecture as checked contracts: packages and study's layers call down, config stays torch-free, no cycles.

The contracts live in pyproject.toml ([tool.importlinter]); import-linter
builds the import graph (lazy imports inside functions count) and checks them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    pytest.importorskip("importlinter")
    command = shutil.which("lint-imports") or ""
    argv = [command] if command else [sys.executable, "-m", "importlinter.cli"]
    result = subprocess.run([*argv, "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120)
    broken = result.stdout[result.stdout.find("Broken contracts"):] if "Broken contracts" in result.stdout else ""
    assert result.returncode == 0, broken or result.stdout + result.stderr


def test_every_study_module_sits_in_a_layer():
    """A new flat module under study/ would escape the layers contract: only the entries and the base may."""
    allowed = {"__init__", "sweep", "train", "bench", "audit", "errors"}
    flat = sorted(path.stem for path in (REPO / "study").glob("*.py"))
    assert set(flat) <= allowed, f"study/ modules outside a layer: {sorted(set(flat) - allowed)}"
