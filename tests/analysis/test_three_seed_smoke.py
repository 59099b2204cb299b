"""A 3-seed smoke sweep, end to end: the analysis pools the seeds and writes per-configuration CIs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

import analysis
from study.run.sweep import main as sweep_main


def test_three_seed_smoke_sweep_writes_t_intervals_over_the_seeds(tmp_path: Path, capsys):
    run_dir = tmp_path / "run"
    argv = ["--preset", "smoke", "--device", "cpu", "--quiet", "--no-report", "--out", str(run_dir),
            "--set", "grid.seed=0,1,2"]
    assert sweep_main(argv) == 0
    analysis.run_analysis(run_dir)
    summary = json.loads((run_dir / "analysis" / "summary.json").read_text())
    configurations = {config["label"]: config for config in summary["configurations"]}
    assert len(configurations) == 2  # aug none / fastai, each pooled over seeds 0, 1, 2
    accuracy_of = {path.parent.name: json.loads(path.read_text())["test_accuracy"]
                   for path in run_dir.glob("cells/*/metrics.json")}
    for config in configurations.values():
        assert config["n_seeds"] == 3 and len(config["cells"]) == 3
        accuracy = config["accuracy"]
        assert accuracy["method"] == "t over seeds"
        own = [accuracy_of[cell_id] for cell_id in config["cells"]]
        assert math.isclose(accuracy["mean"], sum(own) / 3, abs_tol=1e-6)  # the mean of the seeds' accuracies
        assert accuracy["low"] <= accuracy["mean"] <= accuracy["high"]
        assert math.isfinite(accuracy["low"]) and math.isfinite(accuracy["high"])
        assert config["n_images"] == 3 * 20  # 20 test images a cell in the smoke preset
    # the verdict table pools the seeds too: gap as t over the 3 seeds, bSize/bN resampling seeds and images
    verdicts = {table["id"]: table for table in summary["tables"]}["verdicts"]
    assert verdicts["section"] == "answer" and len(verdicts["rows"]) == 2
    tidy = pd.read_csv(run_dir / "analysis" / "tables" / "verdicts.csv")
    assert set(tidy["gap_method"]) == {"t over seeds"} and set(tidy["gap_n_seeds"]) == {3}
    assert set(tidy["ratio_method"]) == {"bootstrap over seeds and images"} and set(tidy["ratio_n_seeds"]) == {3}
    assert set(tidy["covered"]) == {False}  # smoke trains on one radius: its drop is size generalisation
    assert any("size generalisation" in sentence for sentence in summary["answer"]["cannot_tell"])
    comparison = next(c for c in summary["comparisons"] if c["split"] == "i.i.d. test")
    assert comparison["p"] == comparison["p_seeds"] and comparison["p_images"] is not None
