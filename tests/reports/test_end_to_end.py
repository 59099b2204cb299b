"""A real smoke sweep (two tiny CPU cells, under a minute) -> report.html and report.pdf."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pypdf
import pytest

from reports import build_report
from reports.collect import SECTIONS

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(not (REPO / "study" / "cell.py").is_file(),
                    reason="study/cell.py (the training engine) is not written yet, so no sweep can run")
def test_smoke_sweep_report(tmp_path: Path) -> None:
    run_dir = tmp_path / "smoke"
    subprocess.run([sys.executable, "-m", "study.sweep", "--preset", "smoke", "--no-report", "--out", str(run_dir)],
                   check=True, cwd=REPO, capture_output=True, timeout=600)
    written = build_report(run_dir)

    html = Path(written["html"]).read_text(encoding="utf-8")
    for _, title in SECTIONS:
        assert f"<h2>{title}</h2>" in html
    with open(run_dir / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 and all(row["status"] == "done" for row in rows)
    for row in rows:  # every cell's accuracy is stated in the report
        assert row["cell_id"] in html
        assert f"{float(row['test_accuracy']):.3f}" in html
    assert "no analysis folder" in html or "analysis/summary.json" in html or "cells analysed" in html
    # The smoke preset trains from scratch, so no experiment of the post is matched.
    assert html.count("not run</span>") == 8 and "without ImageNet weights" in html

    reader = pypdf.PdfReader(written["pdf"])
    starts = [reader.get_destination_page_number(item) for item in reader.outline if not isinstance(item, list)]
    assert starts == list(range(6))  # each section of a two-cell run fits on its page
    assert len(reader.pages) >= 6
