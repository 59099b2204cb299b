"""A 3-seed smoke sweep, end to end: the analysis pools the seeds and writes per-configuration CIs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import analysis
from study.sweep import main as sweep_main


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
