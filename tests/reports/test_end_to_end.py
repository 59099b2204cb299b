"""A real smoke sweep (two tiny CPU cells) -> report.html and report.pdf, before any analysis."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pypdf
import pytest

from reports import build_report
from reports.build import SECTIONS
from kit.formatting import number
from study.run.runfolder import RunFolder

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_smoke_sweep_report(tmp_path: Path) -> None:
    run_dir = tmp_path / "smoke"
    subprocess.run([sys.executable, "-m", "study.sweep", "--preset", "smoke", "--no-report", "--out", str(run_dir)],
                   check=True, cwd=REPO, capture_output=True, timeout=600)
    written = build_report(run_dir)

    html = Path(written["html"]).read_text(encoding="utf-8")
    for section, title in SECTIONS:  # no analysis yet, so nothing for the numerosity section
        assert (f"<h2>{title}</h2>" in html) == (section != "numerosity")
    rows = RunFolder(run_dir).read_results()
    assert len(rows) == 2 and all(row.status == "done" for row in rows)
    for row in rows:  # every cell's accuracy is stated (no analysis yet: the cell's own number, no CI)
        assert f"{number(row.get('test_accuracy'))} (one cell, no CI)" in html
    assert "The analysis has not run on this folder yet" in html
    assert str(tmp_path) not in html
    assert len(pypdf.PdfReader(written["pdf"]).pages) <= 4
