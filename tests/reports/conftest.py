"""Fixtures for the report tests (the fake run folders live in fake_run_folder.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_run_folder import make_run

from reports import build_report


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A complete quick-sized fake run: analysis summary, a failed and a skipped cell."""
    return make_run(tmp_path)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One fake run with its report built, shared by a module's read-only checks."""
    run_dir = make_run(tmp_path_factory.mktemp("built"))
    build_report(run_dir)
    return run_dir
