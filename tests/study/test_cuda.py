"""The same code on CUDA as on the CPU (skipped without a GPU; run by scripts/gpu_check.sh)."""

from __future__ import annotations

import json

import pytest
import torch

from study.data import augment
from study.run.cell import run_cell
from study.config.spec import TrainSpec
from study.data.tasks import build_task

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_cuda_augmentation_matches_cpu():
    task = build_task(TrainSpec(counts="1-5", size=64, n_train=32, n_test=0, aspect=4 / 3), "cpu")
    for name in augment.available():
        policy = augment.create(name, size=64)
        on_cpu = policy(task.splits["train"].images, torch.Generator().manual_seed(0))
        on_cuda = policy(task.splits["train"].images.cuda(), torch.Generator().manual_seed(0)).cpu()
        assert (on_cpu - on_cuda).abs().max() < 2e-2, name  # same draws; grid_sample rounding only


def test_cuda_cell_trains_with_bf16_and_records_the_device(tmp_path):
    spec = TrainSpec(counts="1-3", size=32, radius=4.0, n_train=200, n_test=60, arch="resnet18", aug="sensible",
                     epochs=3, batch_size=32, seed=0)
    metrics = run_cell(spec, tmp_path / "cell", device="cuda")
    assert metrics["device"].startswith("cuda")
    assert metrics["precision"] == "bf16" and metrics["channels_last"] is True  # precision=auto on a bf16 GPU
    assert json.loads((tmp_path / "cell" / "metrics.json").read_text())["status"] == "done"
    assert metrics["test_accuracy"] > 0.5  # chance is 1/3
