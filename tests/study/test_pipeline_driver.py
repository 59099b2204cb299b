"""pipeline: the sweep, then the analysis, then the report; study.run.sweep alone imports neither."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import csv

import pipeline
from kit.records import CellMetrics
from study.run.runfolder import CellFolder

REPO = Path(__file__).resolve().parents[2]
SMOKE = ["--preset", "smoke", "--no-report", "--device", "cpu"]


def fake_run_cell(spec, cell_dir, device="auto", cache_dir=None, progress="auto"):
    """A finished cell, instantly."""
    metrics = CellMetrics(test_accuracy=0.5, valid_accuracy=0.5, device="cpu")
    CellFolder(cell_dir).write_metrics(metrics)
    return metrics.to_json()


def read_results(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "results.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_importing_study_sweep_leaves_analysis_and_reports_out():
    code = ("import sys, study.run.sweep, study.train, study.run.executors; "
            "print(sorted(m for m in ('analysis', 'reports', 'pipeline') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_report_steps_run_after_the_sweep_and_a_failure_costs_one_line(tmp_path: Path, capsys, monkeypatch):
    seen = []

    def broken(run_dir):
        raise RuntimeError("no figures today\nsecond line")

    monkeypatch.setattr(pipeline, "REPORT_STEPS", (("analysis.run_analysis", broken), ("reports.build_report", seen.append)))
    run_dir = tmp_path / "run"
    argv = ["--preset", "smoke", "--device", "cpu", "--out", str(run_dir)]
    assert pipeline.run_pipeline(argv, run_cell=fake_run_cell) == 0
    out = capsys.readouterr().out
    report_lines = [line for line in out.splitlines() if line.startswith("report:")]
    assert report_lines == [f"report: analysis.run_analysis failed (RuntimeError: no figures today); "
                            f"results are kept in {run_dir.resolve()}"]
    assert seen == [run_dir.resolve()]
    assert [row["status"] for row in read_results(run_dir)] == ["done", "done"]


def test_no_report_skips_both_steps(tmp_path: Path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(pipeline, "REPORT_STEPS", (("analysis.run_analysis", calls.append), ("reports.build_report", calls.append)))
    assert pipeline.run_pipeline([*SMOKE, "--out", str(tmp_path / "run")], run_cell=fake_run_cell) == 0
    assert calls == []
    assert "report:" not in capsys.readouterr().out
