"""Fixtures for the report tests (the fake run folders live in fake_run_folder.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_run_folder import make_run


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A complete fake run: results, analysis, a failed and a skipped cell."""
    return make_run(tmp_path)
