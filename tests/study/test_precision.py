"""study.engine.precision: which precision runs where, and a bf16 training step on the CPU."""

from __future__ import annotations

import math

import pytest
import torch

import study.engine.precision as precision
from study.data import augment
from study.engine.learner import Learner
from study.engine.models import create_model
from study.config.spec import TrainSpec
from study.data.tasks import build_task


@pytest.fixture
def cpu_bf16(monkeypatch):
    """Set whether the CPU 'has' native bf16."""

    def set_native(native: bool) -> None:
        monkeypatch.setattr(precision, "_cpu_has_native_bf16", lambda: native)

    return set_native


def test_auto_is_bf16_with_channels_last_only_where_native(cpu_bf16):
    cpu_bf16(True)
    assert precision.resolve_precision("auto", "cpu") == ("bf16", True)
    assert precision.resolve_precision("fp32", "cpu") == ("fp32", False)
    cpu_bf16(False)
    assert precision.resolve_precision("auto", "cpu") == ("fp32", False)


def test_bf16_asked_without_native_support_says_so_and_runs_fp32(cpu_bf16):
    cpu_bf16(False)
    notes: list[str] = []
    assert precision.resolve_precision("bf16", torch.device("cpu"), log=notes.append) == ("fp32", False)
    assert len(notes) == 1 and "precision=bf16" in notes[0] and "running fp32" in notes[0]
    assert precision.resolve_precision("auto", "cpu", log=notes.append) == ("fp32", False)
    assert len(notes) == 1  # auto falling back is not news


def test_unknown_precision_names_the_valid_ones():
    with pytest.raises(ValueError, match="precision: unknown 'fp16'; valid: auto, fp32, bf16"):
        precision.resolve_precision("fp16", "cpu")


def test_cpu_detection_reads_the_bf16_flags(monkeypatch):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    assert precision.native_bf16("cpu")
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset({"avx2", "avx512f"}))
    assert not precision.native_bf16("cpu")
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset({"amx_bf16"}))
    assert precision.native_bf16("cpu")


def test_a_bf16_training_step_on_the_cpu_runs_and_stays_finite(cpu_bf16):
    cpu_bf16(True)  # bf16 autocast works on any CPU, natively or emulated
    spec = TrainSpec(counts="1-3", size=32, radius=4.0, n_train=40, n_test=0, arch="timm:test_resnet",
                     aug="fastai", batch_size=8, precision="bf16")
    task = build_task(spec, "cpu")
    learner = Learner(create_model(spec.arch, 3, seed=0), task, augment.create("fastai", size=32), spec, "cpu",
                      log=lambda line: None)
    assert learner.precision == "bf16" and learner.channels_last
    conv = next(m for m in learner.model.body.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    rows = learner.fit_one_cycle(1, 1e-3)
    assert math.isfinite(rows[0]["train_loss"]) and math.isfinite(rows[0]["valid_loss"])
    assert all(p.dtype == torch.float32 for p in learner.model.parameters())  # autocast: fp32 master weights
