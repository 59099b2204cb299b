import sys
from pathlib import Path

# helpers.py lives beside the tests and catalogue.py one level up (tests/ is not a package).
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import os
import shutil
import subprocess

import pytest

import torch

from helpers import TINY  # noqa: F401  (tests import it from helpers: "conftest" is ambiguous across folders)

# Other test suites share these 2 cores: one thread avoids OpenMP oversubscription stalls.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """A finished smoke sweep (2 tiny cells), built once per session."""
    out = tmp_path_factory.mktemp("runs") / "smoke"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "study.sweep", "--preset", "smoke", "--out", str(out), "--no-report"],
                   check=True, capture_output=True, env=env, timeout=300)
    return out


@pytest.fixture()
def run_copy(smoke_run, tmp_path) -> Path:
    """A private copy of the smoke run (tests may damage it)."""
    copy = tmp_path / "run"
    shutil.copytree(smoke_run, copy)
    return copy
