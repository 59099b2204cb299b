"""A refactor changes no result: the smoke sweep's cell ids, results.csv columns and metrics are pinned.

The pinned values live in ``smoke_pinned.json`` beside this file. They were
produced by this test's own sweep (fp32, one CPU thread, so any x86 machine
gives the same numbers); after a change that is *meant* to change results,
regenerate them with ``python tests/study/test_smoke_pinned.py --write`` and
say why in the commit.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.catalogue import run_module  # noqa: E402

PINNED = Path(__file__).with_name("smoke_pinned.json")
SWEEP = ("--preset", "smoke", "--no-report", "--device", "cpu", "--quiet", "--set", "train.precision=fp32")
# Measured, not results: they differ between runs and machines.
UNPINNED_METRICS = {"seconds", "phase_seconds", "device", "skipped_files"}
UNPINNED_COLUMNS = {"seconds", "device"}


def observe(run_dir: Path) -> dict:
    """What the smoke sweep left: cell ids in order, results.csv columns and rows, each cell's metrics."""
    result = run_module("study.sweep", *SWEEP, "--out", str(run_dir))
    assert result.returncode == 0, result.stderr
    with (run_dir / "results.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = [{key: value for key, value in row.items() if key not in UNPINNED_COLUMNS} for row in reader]
        columns = list(reader.fieldnames or [])
    metrics = {}
    for row in rows:
        written = json.loads((run_dir / "cells" / row["cell_id"] / "metrics.json").read_text())
        metrics[row["cell_id"]] = {key: value for key, value in written.items() if key not in UNPINNED_METRICS}
    return {"cell_ids": [row["cell_id"] for row in rows], "columns": columns, "rows": rows, "metrics": metrics}


def assert_same(observed, pinned, where: str) -> None:
    """Equal structure and values; floats within 1e-4 (written floats are rounded differently by some paths)."""
    if isinstance(pinned, dict):
        assert isinstance(observed, dict) and sorted(observed) == sorted(pinned), f"{where}: keys differ"
        for key in pinned:
            assert_same(observed[key], pinned[key], f"{where}.{key}")
    elif isinstance(pinned, list):
        assert isinstance(observed, list) and len(observed) == len(pinned), f"{where}: {observed!r} != {pinned!r}"
        for index, (mine, theirs) in enumerate(zip(observed, pinned)):
            assert_same(mine, theirs, f"{where}[{index}]")
    elif isinstance(pinned, float) and not isinstance(pinned, bool):
        assert isinstance(observed, (int, float)) and math.isclose(observed, pinned, abs_tol=1e-4), \
            f"{where}: {observed!r} != {pinned!r}"
    elif isinstance(pinned, str) and _is_number(pinned) and _is_number(observed):
        assert math.isclose(float(observed), float(pinned), abs_tol=1e-4), f"{where}: {observed!r} != {pinned!r}"
    else:
        assert observed == pinned, f"{where}: {observed!r} != {pinned!r}"


def _is_number(text) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return bool(str(text).strip())


@pytest.mark.slow
def test_smoke_sweep_matches_the_pinned_ids_columns_and_metrics(tmp_path: Path):
    observed = observe(tmp_path / "run")
    pinned = json.loads(PINNED.read_text())
    assert observed["cell_ids"] == pinned["cell_ids"]
    assert observed["columns"] == pinned["columns"]
    assert_same(observed["rows"], pinned["rows"], "results.csv")
    assert_same(observed["metrics"], pinned["metrics"], "metrics.json")


def test_the_comparison_can_fail():
    pinned = {"test_accuracy": 0.35, "classes": ["1", "2"], "n": "20"}
    assert_same({"test_accuracy": 0.35004, "classes": ["1", "2"], "n": "20.0"}, pinned, "ok")
    for wrong in ({"test_accuracy": 0.36, "classes": ["1", "2"], "n": "20"},
                  {"test_accuracy": 0.35, "classes": ["1", "3"], "n": "20"},
                  {"test_accuracy": 0.35, "classes": ["1", "2"], "n": "21"},
                  {"test_accuracy": 0.35, "classes": ["1", "2"]}):
        with pytest.raises(AssertionError):
            assert_same(wrong, pinned, "wrong")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/study/test_smoke_pinned.py --write")
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        PINNED.write_text(json.dumps(observe(Path(folder) / "run"), indent=1, sort_keys=False) + "\n")
    print(f"wrote {PINNED}")
