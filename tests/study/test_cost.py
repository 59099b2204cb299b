"""The cost model behind the dry run: estimates scale with device, size and architecture, and calibrate
from a bench file."""

from __future__ import annotations

from pathlib import Path

import pytest

from study.config.sweepfile import load_sweep
from kit.records import BenchEntry, bench_path
from study.bench import save_entries
from study.config.spec import TrainSpec
from study.run.cost import LR_FIND_STEPS, Calibration, calibration, estimate_cell
from study.run.sweep import main


def test_estimates_scale_with_device_size_and_architecture():
    quick = load_sweep("quick").cells()
    cpu_total = sum(estimate_cell(cell, "cpu")[1] for cell in quick)
    assert 60 < cpu_total < 600  # the quick preset's promise: under 10 minutes on a CPU
    seed_cell = load_sweep("seed").cells()[-1]
    assert estimate_cell(seed_cell, "cuda")[1] < estimate_cell(seed_cell, "cpu")[1] / 10
    assert estimate_cell(seed_cell, "cpu")[0] == 8000 * (3 + 15)  # both stages train


def test_a_staged_cell_costs_its_stages():
    shorthand = TrainSpec(n_train=1000, epochs=6, batch_size=10)
    staged = TrainSpec(n_train=1000, stages="frozen 2@1e-3, unfrozen 4@1e-4", batch_size=10)
    assert estimate_cell(staged, "cpu") == estimate_cell(shorthand, "cpu")  # 6 epochs either way
    finds = TrainSpec(n_train=1000, stages="frozen 2@find, unfrozen 4@find", batch_size=10)
    assert estimate_cell(finds, "cpu")[0] == 800 * 6 + 2 * LR_FIND_STEPS * 10  # one lr_find per finding stage


def test_dry_run_estimate_is_calibrated_from_the_bench_file_and_says_so(tmp_path: Path, monkeypatch, capsys):
    cell = load_sweep("quick").cells()[0]  # resnet18 at 64 px, precision auto
    built_in = estimate_cell(cell, "cpu")[1]
    monkeypatch.chdir(tmp_path)
    assert calibration("cpu") == Calibration((), "built-in figures")
    # What `python -m study.bench train` writes (study.bench.save_entries): fp32 at 2x the built-in 200 images/s.
    entries = [BenchEntry(arch="resnet18", size=64, precision="fp32", images_per_s=400.0, native_bf16=False),
               BenchEntry(arch="resnet18", size=64, precision="bf16", images_per_s=100.0, native_bf16=False)]
    save_entries(bench_path("cpu"), "cpu", entries)
    calibrated = calibration("cpu")
    assert calibrated.entries == tuple(entries) and calibrated.source == "measured in .cache/bench/train-cpu.json"
    faster = estimate_cell(cell, "cpu", calibrated.entries)[1]  # auto without native bf16 trains in fp32
    overhead = 10.0  # CELL_OVERHEAD_S["cpu"]: not scaled by throughput
    assert faster - overhead == pytest.approx((built_in - overhead) / 2)
    assert main(["--preset", "quick", "--dry-run", "--device", "cpu"]) == 0
    assert "(measured in .cache/bench/train-cpu.json)" in capsys.readouterr().out


def test_a_bench_file_that_is_not_one_is_named_and_the_built_in_figures_used(tmp_path: Path):
    path = bench_path("cpu", tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text('{"results": [{"arch": "resnet18", "size": 64, "images_per_second": 400.0}]}')  # no such format
    calibrated = calibration("cpu", tmp_path)
    assert calibrated.entries == ()
    assert calibrated.source == (f"built-in figures; {path} ignored (unknown key(s) 'results' in bench file; "
                                 "valid: device, entries)")



def test_a_stage_on_smaller_images_costs_its_share_of_pixels():
    def estimate(stages: str) -> tuple[int, float]:
        return estimate_cell(TrainSpec(counts="1-5", size=64, n_train=1000, stages=stages), "cpu")

    (images_a, full), (images_b, half_resized), (_, all_resized) = (
        estimate("unfrozen 8@3e-3"), estimate("unfrozen 4@3e-3 32px, unfrozen 4@3e-3"), estimate("unfrozen 8@3e-3 32px"))
    assert images_a == images_b == 800 * 8  # the same images are seen
    # in full-size epochs of training: 8, 4 + 4/4 = 5, 8/4 = 2 (validation is the same 8 epochs in each)
    assert (full - half_resized) / (full - all_resized) == pytest.approx(3 / 6)
