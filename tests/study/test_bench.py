"""study.bench train: a tiny run of the code path (no timing is asserted)."""

from __future__ import annotations

import json

from kit.records import BenchFile, bench_path
from study.bench import main
from study.run.cost import calibration
from study.run.sweep import main as sweep_main

TINY = ["train", "--arch", "timm:test_resnet", "--size", "32", "--batch-size", "4", "--steps", "2",
        "--repeats", "2", "--warmup", "1", "--device", "cpu"]


def test_train_bench_prints_both_precisions_merges_its_file_and_calibrates_the_dry_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([*TINY, "--imagefolder", "--workers", "0"]) == 0
    out = capsys.readouterr().out
    assert "bf16/fp32" in out and "(a)/(b) pipeline vs ceiling" in out and "(a)/(c)" in out
    saved = BenchFile.read(bench_path("cpu"))
    assert saved.device == "cpu" and [e.precision for e in saved.entries] == ["fp32", "bf16"]
    assert all(e.images_per_s > 0 and e.model_only_images_per_s > 0 for e in saved.entries)
    assert all(e.arch == "timm:test_resnet" and e.size == 32 for e in saved.entries)
    # A run at another size adds its entries and keeps the others; the same settings replace theirs.
    assert main([*TINY[:4], "24", *TINY[5:]]) == 0
    assert main(TINY) == 0
    entries = BenchFile.read(bench_path("cpu")).entries
    assert sorted((e.size, e.precision) for e in entries) == [(24, "bf16"), (24, "fp32"), (32, "bf16"), (32, "fp32")]
    # The dry run reads what the bench wrote, and says so.
    capsys.readouterr()
    assert sweep_main(["--preset", "smoke", "--dry-run", "--device", "cpu"]) == 0
    assert "(measured in .cache/bench/train-cpu.json)" in capsys.readouterr().out
    assert calibration("cpu").entries == tuple(entries)


def test_bad_bench_arguments_are_refused(capsys):
    assert main(["fly"]) == 2
    assert "usage: python -m study.bench {train|cell|eval|synth}" in capsys.readouterr().err


def test_time_to_accuracy_counts_the_epochs_and_seconds_until_the_target():
    from study.bench import time_to_accuracy

    history = [{"epoch": 1, "accuracy": 0.5, "time": 10.0}, {"epoch": 2, "accuracy": 0.8, "time": 11.0},
               {"epoch": 3, "accuracy": 0.7, "time": 12.0}, {"epoch": 4, "accuracy": 0.9, "time": 13.0}]
    assert time_to_accuracy(history, 0.75, before_fit=5.0) == {"target": 0.75, "epochs": 2, "seconds": 26.0}
    assert time_to_accuracy(history, 0.9, before_fit=0.0) == {"target": 0.9, "epochs": 4, "seconds": 46.0}
    assert time_to_accuracy(history, 0.95, before_fit=5.0) == {"target": 0.95, "epochs": None, "seconds": None}


def test_bench_cell_times_a_tiny_cell_in_a_fresh_process(tmp_path, capsys):
    tiny = ["--set", "arch=timm:test_resnet", "--set", "size=32", "--set", "radius=0", "--set", "n_train=60",
            "--set", "n_test=20", "--set", "n_test_dewind=0", "--set", "epochs=2", "--set", "batch_size=16"]
    assert main(["cell", *tiny, "--target", "0.0", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "startup" in out and "fit" in out and "evaluate" in out
    row = out.strip().splitlines()[-1].split()
    assert row[0] == "0" and row[1] == "0" and row[-2] == "1"  # run 0, seed 0; a target of 0: after epoch 1
    assert (tmp_path / "cell-s0-0" / "metrics.json").is_file()


def test_bench_cell_runs_one_cell_per_seed_and_prints_the_means(tmp_path, capsys):
    tiny = ["--set", "arch=timm:test_resnet", "--set", "size=32", "--set", "radius=0", "--set", "n_train=60",
            "--set", "n_test=20", "--set", "n_test_dewind=0", "--set", "epochs=1", "--set", "batch_size=16"]
    assert main(["cell", *tiny, "--seeds", "3", "4", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[1] for line in lines[-3:-1]] == ["3", "4"]
    valid = [json.loads((tmp_path / f"cell-s{seed}-0" / "metrics.json").read_text())["valid_accuracy"]
             for seed in (3, 4)]
    assert lines[-1].startswith("  mean of 2: wall") and f"valid {sum(valid) / 2:.3f}" in lines[-1]


def test_bad_bench_cell_settings_are_refused(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["cell", "--set", "epochs"])
    assert "expected field=value" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["cell", "--set", "colour=blue"])
    assert "colour" in capsys.readouterr().err
