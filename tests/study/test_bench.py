"""study.bench train: a tiny run of the code path (no timing is asserted)."""

from __future__ import annotations

import json

from study.bench import main

TINY = ["train", "--arch", "timm:test_resnet", "--size", "32", "--batch-size", "4", "--steps", "2",
        "--repeats", "2", "--warmup", "1", "--device", "cpu"]


def test_train_bench_prints_both_precisions_and_merges_its_results_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([*TINY, "--imagefolder", "--workers", "0"]) == 0
    out = capsys.readouterr().out
    assert "bf16/fp32" in out and "(a)/(b) pipeline vs ceiling" in out and "(a)/(c)" in out
    path = tmp_path / ".cache" / "bench" / "train-cpu.json"
    saved = json.loads(path.read_text())
    assert saved["device"] == "cpu" and [e["precision"] for e in saved["entries"]] == ["fp32", "bf16"]
    assert all(e["images_per_s"] > 0 and e["model_only_images_per_s"] > 0 for e in saved["entries"])
    assert all(e["arch"] == "timm:test_resnet" and e["size"] == 32 for e in saved["entries"])
    # A run at another size adds its entries and keeps the others; the same settings replace theirs.
    assert main([*TINY[:4], "24", *TINY[5:]]) == 0
    assert main(TINY) == 0
    entries = json.loads(path.read_text())["entries"]
    assert sorted((e["size"], e["precision"]) for e in entries) == [(24, "bf16"), (24, "fp32"), (32, "bf16"),
                                                                    (32, "fp32")]


def test_bad_bench_arguments_are_refused(capsys):
    assert main(["fly"]) == 2
    assert "usage: python -m study.bench {train|synth}" in capsys.readouterr().err
