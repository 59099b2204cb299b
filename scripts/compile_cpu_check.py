"""Eager vs torch.compile (inductor) training step of the kit's ResNet-18: ``python scripts/compile_cpu_check.py [threads]``.

Prints, for each, the seconds of the first step (the compiled one compiles
there) and the steady seconds per step over the next 10 (ResNet-18 at 64 px,
bf16 where native, batch 64, fastai augmentation, on the CPU). Whether
compiling pays for a cell: compare the first step's extra seconds with the
saving per step times the cell's steps (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import sys
import time

import torch

from study.data import augment
from study.engine.learner import Learner
from study.engine.models import create_model
from study.config.spec import TrainSpec
from study.data.tasks import build_task


def main() -> None:
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
    base = TrainSpec(counts="1-5", size=64, radius=2.25, n_train=400, n_test=0, n_test_dewind=0, arch="resnet18",
                     batch_size=64)
    task = build_task(base, "cpu")
    for compiled in (False, True):
        spec = TrainSpec(**{**base.to_dict(), "compile": compiled})
        learner = Learner(create_model("resnet18", 5, seed=0, image_size=64), task, augment.create("fastai", size=64),
                          spec, "cpu", log=lambda line: None)
        optimizer = learner._optimizer([1e-3] * 3)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
        batches = learner._batches(learner.generator)
        started = time.perf_counter()
        learner.train_step(batches[0], optimizer, scheduler)
        first = time.perf_counter() - started
        started = time.perf_counter()
        for index in range(10):
            learner.train_step(batches[(index + 1) % len(batches)], optimizer, scheduler)
        steady = (time.perf_counter() - started) / 10
        print(f"compile={compiled}: first step {first:.1f} s, then {steady:.3f} s/step ({64 / steady:.0f} img/s), "
              f"precision {learner.precision}, {torch.get_num_threads()} thread(s)", flush=True)


if __name__ == "__main__":
    main()
