"""Benchmarks: ``python -m study.bench train|cell|eval|synth``.

``train`` measures, in one process, for each precision (fp32 and bf16
autocast + channels_last, ``study.engine.precision``) on the same model, batch size
and optimiser:

(a) the pipeline: the full training step from device-resident uint8 tensors
    (``Learner.train_step``: index slice, augmentation, normalisation,
    forward, backward, AdamW step, one-cycle step);
(b) the ceiling: the model alone on one pre-staged, normalised batch;
(c) with ``--imagefolder``, the usual baseline: the same images written as
    PNG files, read by ``torchvision.datasets.ImageFolder`` through a
    ``DataLoader`` with PIL transforms close to fastai's, then copied to the
    device for the same step.

It prints images/s side by side, the bf16/fp32 ratio of each, and (a)/(b)
(how close the pipeline gets to the ceiling) under each precision, and
writes them to ``.cache/bench/train-<device>.json`` in the current folder
(entries for other architectures and sizes already there are kept), where
the sweep's dry run reads its time estimates.

Timing: each figure is the median of ``--repeats`` timed blocks of
``--steps`` steps after ``--warmup`` untimed steps. The median of 5 blocks of
40 steps (default) discards up to two blocks disturbed by another process.
Measured on an idle 2-core EPYC, two runs agreed within 2% for fp32 and 6%
for bf16 (docs/BENCHMARKS.md); raise ``--repeats`` for tighter figures.

On a GPU::

    python -m study.bench train --device cuda --arch resnet34 --size 224 --batch-size 128 [--compile]

``cell`` times whole cells, each in a fresh process as a sweep's worker or
``python -m study.train`` would run it: start-up (interpreter and imports),
data, model, fit, evaluation, metrics and writing (``run_cell``'s
``phase_seconds``), the wall time from process start to exit, and the
time-to-accuracy: the epochs and seconds (from process start) until the
validation accuracy first reached ``--target``::

    python -m study.bench cell --set counts=45-50 --set epochs=4 --target 0.2 --repeats 3

``eval`` times the final evaluation of a quick cell's splits (valid, test,
controlled test) in one process: split by split as before, in one pass, and
in one pass with BatchNorm folded into the convolutions, interleaved, and
checks that the folded model predicts the same classes.

``synth`` forwards to ``synth.bench`` (renderer benchmarks).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from kit.records import BenchEntry, BenchFile, RecordError, bench_path
from kit.cli import ArgumentParser

__all__ = ["main", "bench_cell", "bench_eval", "bench_train", "bench_entries", "save_entries", "time_to_accuracy"]

# The quick preset's cell (ResNet-18 from scratch, 64 px, fastai augmentation, 8 epochs), the default of `cell`.
QUICK_CELL = {"task": "counting", "counts": "1-5", "size": 64, "radius": 2.25, "n_train": 2000, "n_test": 1000,
              "n_test_dewind": 1000, "arch": "resnet18", "weights": "none", "epochs": 8, "lr": 3e-3,
              "batch_size": 64, "aug": "fastai"}

PRECISIONS = ("fp32", "bf16")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(step: Callable[[int], None], warmup: int, steps: int, repeats: int, device: torch.device) -> float:
    """Median seconds per block of ``steps`` calls of ``step(i)``, after ``warmup`` untimed calls."""
    for index in range(warmup):
        step(index)
    _sync(device)
    blocks = []
    for repeat in range(repeats):
        started = time.perf_counter()
        for index in range(steps):
            step(warmup + repeat * steps + index)
        _sync(device)
        blocks.append(time.perf_counter() - started)
    return statistics.median(blocks)


def _model_step(learner, optimizer, inputs: torch.Tensor, labels: torch.Tensor) -> None:
    """The learner's forward/backward/step on ready inputs (what (b) and (c) share with (a))."""
    with learner.autocast():
        logits = learner.forward_model(inputs)
    loss = F.cross_entropy(logits.float(), labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def _write_pngs(images: torch.Tensor, labels: torch.Tensor, root: Path) -> None:
    from PIL import Image

    pixels = images.cpu().permute(0, 2, 3, 1).numpy()  # [N, H, W, 3]
    for index, (image, label) in enumerate(zip(pixels, labels.tolist())):
        folder = root / f"{label:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{index}.png")


def _imagefolder_loader(root: Path, size: int, batch_size: int, workers: int, pin: bool):
    """ImageFolder + DataLoader with PIL/torchvision transforms approximating fastai's defaults."""
    import torchvision.transforms as T
    from torchvision.datasets import ImageFolder

    from study.engine.models import IMAGENET_MEAN, IMAGENET_STD

    transform = T.Compose([
        T.Resize(size),
        T.RandomCrop(size),
        T.RandomHorizontalFlip(),
        T.RandomApply([T.RandomPerspective(distortion_scale=0.2, p=1.0)], p=0.75),
        T.RandomApply([T.RandomAffine(degrees=10)], p=0.75),
        T.RandomApply([T.RandomAffine(degrees=0, scale=(1.0, 1.1))], p=0.75),
        T.RandomApply([T.ColorJitter(brightness=0.2, contrast=0.2)], p=0.75),
        T.ToTensor(),
        T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])
    dataset = ImageFolder(str(root), transform=transform)
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=workers,
        pin_memory=pin, persistent_workers=workers > 0,
    )


def bench_train(
    arch: str = "resnet18", size: int = 64, batch_size: int = 32, steps: int = 30, warmup: int = 5,
    repeats: int = 3, device: str = "auto", aug: str = "fastai", workers: int = 2, compile_model: bool = False,
    imagefolder: bool = False, precisions: Sequence[str] = PRECISIONS,
) -> dict[str, dict[str, float]]:
    """Images/s of (a) the pipeline and (b) the model alone (and (c) ImageFolder) under each precision.

    Returns:
        ``{precision: {"ours", "model_only", "ours_vs_model_only"[, "imagefolder",
        "ours_vs_imagefolder"]}}`` (images/s and ratios).
    """
    from study.data import augment
    from study.engine.learner import Learner
    from study.engine.models import create_model
    from study.config.spec import TrainSpec
    from study.data.tasks import build_task, resolve_device

    target = resolve_device(device)
    base = TrainSpec(counts="1-5", size=size, n_train=max(batch_size * (warmup + steps) * 5 // 4 + 5, 10),
                     n_test=0, n_test_dewind=0, arch=arch, aug=aug, batch_size=batch_size, compile=compile_model)
    task = build_task(base, target)
    results: dict[str, dict[str, float]] = {}
    for precision in precisions:
        spec = TrainSpec(**{**base.to_dict(), "precision": precision})
        model = create_model(arch, len(task.classes), seed=0, image_size=size)
        learner = Learner(model, task, augment.create(aug, size=size), spec, target, log=lambda line: None)
        learner.unfreeze()
        optimizer = learner._optimizer([1e-4] * 3)
        total = warmup + steps * repeats
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[1e-4] * 3, total_steps=2 * total + 10)
        learner.model.train()
        batches = learner._batches(learner.generator)
        # (a) the pipeline: the whole step from uint8 device tensors (epoch batches reused in turn).
        ours = _timed(lambda i: learner.train_step(batches[i % len(batches)], optimizer, scheduler),
                      warmup, steps, repeats, target)
        # (b) the ceiling: one pre-staged, normalised batch.
        train = task.splits["train"]
        staged = learner._inputs(train.images[batches[0]], learner.generator)
        staged_labels = train.labels[batches[0]]
        model_only = _timed(lambda i: _model_step(learner, optimizer, staged, staged_labels),
                            warmup, steps, repeats, target)
        images = batch_size * steps
        row = {"ours": images / ours, "model_only": images / model_only, "precision_ran": learner.precision}
        if imagefolder:
            row["imagefolder"] = images / _imagefolder_seconds(learner, optimizer, task, target, size, batch_size,
                                                               workers, warmup, steps, repeats)
            row["ours_vs_imagefolder"] = row["ours"] / row["imagefolder"]
        row["ours_vs_model_only"] = row["ours"] / row["model_only"]
        results[precision] = row
    return results


def _imagefolder_seconds(learner, optimizer, task, target, size, batch_size, workers, warmup, steps, repeats) -> float:
    """(c): median seconds per block of steps fed by PNG files -> ImageFolder -> DataLoader -> device."""
    with tempfile.TemporaryDirectory(prefix="bench-imagefolder-") as folder:
        train = task.splits["train"]
        _write_pngs(train.images, train.labels, Path(folder))
        loader = _imagefolder_loader(Path(folder), size, batch_size, workers, target.type == "cuda")
        stream = iter(loader)

        def loader_step(index: int) -> None:
            nonlocal stream
            try:
                inputs, labels = next(stream)
            except StopIteration:
                stream = iter(loader)
                inputs, labels = next(stream)
            inputs = inputs.to(target, non_blocking=True)
            if learner.channels_last:
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            _model_step(learner, optimizer, inputs, labels.to(target, non_blocking=True))

        return _timed(loader_step, warmup, steps, repeats, target)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def bench_entries(device: torch.device, args: argparse.Namespace, results: dict) -> list[BenchEntry]:
    """The bench file's entries for ``bench_train``'s results (one per precision) run with ``args``."""
    from study.engine.precision import native_bf16

    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_name()
    return [
        BenchEntry(arch=args.arch, size=args.size, batch_size=args.batch_size, precision=precision,
                   precision_ran=row["precision_ran"], native_bf16=native_bf16(device), device=str(device),
                   hardware=hardware, threads=torch.get_num_threads(), compile=args.compile,
                   images_per_s=row["ours"], model_only_images_per_s=row["model_only"],
                   steps=args.steps, repeats=args.repeats, measured=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        for precision, row in results.items()
    ]


def save_entries(path: Path, device_type: str, entries: Sequence[BenchEntry]) -> None:
    """Merge ``entries`` into the device's bench file (``kit.records.BenchFile``; the same setting replaced).

    A file that is not a bench file (damaged, an older format) is replaced, saying so.
    """
    from kit.store import atomic_write_bytes

    try:
        saved = BenchFile.read(path)
    except FileNotFoundError:
        saved = BenchFile(device_type)
    except (OSError, RecordError) as error:
        print(f"note: {error}; starting {path} afresh")
        saved = BenchFile(device_type)
    atomic_write_bytes(path, saved.merged(entries).to_bytes())


def _train_main(argv: Sequence[str]) -> int:
    parser = ArgumentParser(prog="python -m study.bench train", description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet18", help="resnet18/34/50 or timm:<name> (default resnet18)")
    parser.add_argument("--size", type=int, default=64, help="image size in px (default 64; the post: 224)")
    parser.add_argument("--batch-size", type=int, default=64, help="default 64, what the presets train with")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per block (default 40)")
    parser.add_argument("--repeats", type=int, default=5, help="timed blocks; the median counts (default 5)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (default 10: oneDNN picks its bf16 kernels in the first steps)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--aug", default="fastai", help="policy for (a) (default fastai)")
    parser.add_argument("--imagefolder", action="store_true", help="also time (c) ImageFolder + DataLoader + PIL")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="DataLoader workers for (c)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (CUDA)")
    args = parser.parse_args(argv)
    for name in ("steps", "repeats", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: expected >= 1, got {getattr(args, name)}")
    from study.data.tasks import resolve_device

    device = resolve_device(args.device)
    results = bench_train(args.arch, args.size, args.batch_size, args.steps, args.warmup, args.repeats, args.device,
                          args.aug, args.workers, args.compile, args.imagefolder)
    _print_table(args, device, results)
    path = bench_path(device.type)
    save_entries(path, device.type, bench_entries(device, args, results))
    print(f"written to {path}")
    return 0


def _print_table(args: argparse.Namespace, device: torch.device, results: dict) -> None:
    fp32, bf16 = results["fp32"], results["bf16"]
    print(f"train step, {args.arch} at {args.size} px, batch {args.batch_size}, median of {args.repeats} x "
          f"{args.steps} steps on {device} ({_cpu_name() if device.type == 'cpu' else torch.cuda.get_device_name(device)}, "
          f"{torch.get_num_threads()} threads); bf16 ran as {bf16['precision_ran']}")
    print(f"  {'images/s':<44}{'fp32':>10}{'bf16':>10}{'bf16/fp32':>11}")
    rows = [("(a) pipeline (uint8 on device -> aug -> step)", "ours"), ("(b) ceiling (model on staged tensors)",
                                                                         "model_only")]
    if "imagefolder" in fp32:
        rows.append(("(c) ImageFolder + DataLoader + PIL", "imagefolder"))
    for label, key in rows:
        print(f"  {label:<44}{fp32[key]:>10.1f}{bf16[key]:>10.1f}{bf16[key] / fp32[key]:>11.2f}")
    print(f"  {'(a)/(b) pipeline vs ceiling':<44}{fp32['ours_vs_model_only']:>10.2f}{bf16['ours_vs_model_only']:>10.2f}")
    if "imagefolder" in fp32:
        print(f"  {'(a)/(c) vs ImageFolder':<44}{fp32['ours_vs_imagefolder']:>10.2f}{bf16['ours_vs_imagefolder']:>10.2f}")


def time_to_accuracy(history: Sequence[dict[str, Any]], target: float, before_fit: float) -> dict[str, Any]:
    """Epochs and seconds until the validation accuracy first reached ``target``.

    Args:
        history: the cell's epoch rows (``accuracy`` = validation accuracy, ``time`` = seconds of the
            epoch, its validation pass included).
        target: validation accuracy to reach.
        before_fit: seconds from process start to the first epoch (start-up, data, model).

    Returns:
        ``{"target", "epochs", "seconds"}``; ``epochs`` and ``seconds`` are None when never reached.
    """
    elapsed = before_fit
    for row in history:
        elapsed += float(row["time"])
        if float(row["accuracy"]) >= target:
            return {"target": target, "epochs": int(row["epoch"]), "seconds": round(elapsed, 3)}
    return {"target": target, "epochs": None, "seconds": None}


def bench_cell(
    settings: dict[str, Any], out: Path, target: float | None = None, device: str = "cpu", env: dict | None = None,
) -> dict[str, Any]:
    """Run one cell in a fresh process and time its parts.

    Args:
        settings: TrainSpec fields (missing ones: ``QUICK_CELL``, then the TrainSpec defaults).
        out: the cell folder to write.
        target: validation accuracy for the time-to-accuracy (None: the cell's best).
        device: ``cpu``, ``cuda`` or ``auto``.
        env: the child's environment (default: this one's).

    Returns:
        ``{"wall", "startup", "phase_seconds", "time_to_accuracy", "valid_accuracy", "test_accuracy",
        "test_dewind_accuracy", "epochs"}`` (seconds, accuracies).

    Raises:
        RuntimeError: the child failed (its stderr's last lines in the message).
    """
    import subprocess

    spec = {**QUICK_CELL, **settings}
    started = time.time()
    child = subprocess.run(
        [sys.executable, "-m", "study.bench", "_cell", json.dumps(spec), str(out), device, repr(started)],
        capture_output=True, text=True, env=env,
    )
    wall = time.time() - started
    if child.returncode != 0:
        raise RuntimeError(f"the cell failed (exit {child.returncode}): {child.stderr.strip()[-2000:]}")
    report = json.loads(child.stdout.strip().splitlines()[-1])
    phases = report["phase_seconds"]
    history = report.pop("history")
    before_fit = report["startup"] + phases.get("data", 0.0) + phases.get("setup", 0.0)
    goal = target if target is not None else max(float(row["accuracy"]) for row in history)
    return {**report, "wall": round(wall, 3), "epochs": len(history),
            "time_to_accuracy": time_to_accuracy(history, goal, before_fit)}


def _cell_child(argv: Sequence[str]) -> int:
    """The fresh process of ``bench_cell``: imports the cell engine, runs the cell, prints one JSON line."""
    settings, out, device, started = json.loads(argv[0]), Path(argv[1]), argv[2], float(argv[3])
    from study.run.cell import run_cell
    from study.config.spec import TrainSpec

    imported = time.time()
    metrics = run_cell(TrainSpec(**settings), out, device=device, progress="quiet")
    history = json.loads(json.dumps(_read_history(out)))
    print(json.dumps({
        "startup": round(imported - started, 3), "phase_seconds": metrics["phase_seconds"],
        "valid_accuracy": metrics["valid_accuracy"], "test_accuracy": metrics["test_accuracy"],
        "test_dewind_accuracy": metrics["test_dewind_accuracy"], "history": history,
    }))
    return 0


def _read_history(cell_dir: Path) -> list[dict[str, float]]:
    import csv

    from study.run.runfolder import CellFolder

    with open(CellFolder(cell_dir).file(CellFolder.HISTORY), newline="") as handle:
        return [{key: float(value) for key, value in row.items() if value != ""} for row in csv.DictReader(handle)]


def _parse_sets(pairs: Sequence[str], parser: argparse.ArgumentParser) -> dict[str, Any]:
    """``field=value`` pairs -> TrainSpec values (coerced by the field's type)."""
    from study.config.coerce import coerce
    from study.errors import ConfigError
    from study.config.spec import field_info

    values = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            parser.error(f"--set: expected field=value, got {pair!r}")
        try:
            values[name] = coerce(f"--set {name}", text, field_info(name).annotation)
        except ConfigError as error:
            parser.error(str(error))
    return values


def _cell_main(argv: Sequence[str]) -> int:
    parser = ArgumentParser(prog="python -m study.bench cell", description="Time whole cells, each in a "
                                     "fresh process: start-up, data, fit, evaluation, and the time-to-accuracy.")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="a TrainSpec field (repeatable); default the quick preset's 1-5 fastai cell")
    parser.add_argument("--target", type=float, help="validation accuracy to reach (default: the cell's best)")
    parser.add_argument("--repeats", type=int, default=1, help="cells run one after another (default 1)")
    parser.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                        help="run the cell once per seed (default: the seed of --set, or 0) and print the means")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    parser.add_argument("--out", type=Path, help="where the cell folders go (default: a temporary folder)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats: expected >= 1, got {args.repeats}")
    settings = _parse_sets(args.set, parser)
    from study.errors import ConfigError
    from study.config.spec import TrainSpec

    try:
        TrainSpec(**{**QUICK_CELL, **settings})
    except (ConfigError, TypeError) as error:
        parser.error(str(error))
    with tempfile.TemporaryDirectory(prefix="bench-cell-") as scratch:
        root = args.out or Path(scratch)
        seeds = args.seeds or [settings.get("seed", 0)]
        rows = [{"seed": seed, **bench_cell({**settings, "seed": seed}, root / f"cell-s{seed}-{index}", args.target,
                                            args.device)}
                for seed in seeds for index in range(args.repeats)]
    _print_cells(settings, rows)
    return 0


def _print_cells(settings: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    described = ", ".join(f"{key}={value}" for key, value in {**QUICK_CELL, **settings}.items())
    print(f"cell in a fresh process ({described}); {_cpu_name()}, {os.cpu_count()} CPUs")
    phases = list(rows[0]["phase_seconds"])
    print(f"  {'run':<5}{'seed':>6}{'wall':>8}{'startup':>9}" + "".join(f"{name:>10}" for name in phases)
          + f"{'valid':>8}{'test':>8}{'target':>8}{'epochs':>8}{'seconds':>9}")
    for index, row in enumerate(rows):
        reached = row["time_to_accuracy"]
        test = row["test_accuracy"]
        print(f"  {index:<5}{row['seed']:>6}{row['wall']:>8.1f}{row['startup']:>9.1f}"
              + "".join(f"{row['phase_seconds'][name]:>10.1f}" for name in phases)
              + f"{row['valid_accuracy']:>8.3f}{(test if test is not None else float('nan')):>8.3f}"
              + f"{reached['target']:>8.3f}{str(reached['epochs']):>8}"
              + f"{(reached['seconds'] if reached['seconds'] is not None else float('nan')):>9.1f}")
    if len(rows) > 1:
        tests = [row["test_accuracy"] for row in rows if row["test_accuracy"] is not None]
        mean_test = f"{statistics.fmean(tests):.3f}" if tests else "–"
        print(f"  mean of {len(rows)}: wall {statistics.fmean(row['wall'] for row in rows):.1f} s, valid "
              f"{statistics.fmean(row['valid_accuracy'] for row in rows):.3f}, test {mean_test}")


def bench_eval(repeats: int = 5, n_test: int = 1000, device: str = "cpu") -> dict[str, Any]:
    """Seconds of a quick cell's final evaluation three ways, interleaved; median of ``repeats`` each.

    The model is a freshly initialised ResNet-18 whose BatchNorm statistics were set by a few
    training-mode passes (the timing does not depend on what it learned).

    Returns:
        ``{"per_split", "one_pass", "one_pass_fused"}`` medians in seconds, ``"agreement"`` (fraction
        of images whose predicted class is the same with and without folding) and ``"max_logit_difference"``.
    """
    from study.data import augment
    from study.engine.learner import Learner
    from study.engine.models import create_model
    from study.config.spec import TrainSpec
    from study.data.tasks import build_task, resolve_device

    target = resolve_device(device)
    spec = TrainSpec(**{**QUICK_CELL, "n_train": 200, "n_test": n_test, "n_test_dewind": n_test})
    task = build_task(spec, target)
    model = create_model(spec.arch, len(task.classes), seed=0, image_size=spec.size)
    learner = Learner(model, task, augment.create(spec.aug, size=spec.size), spec, target, log=lambda line: None)
    with torch.no_grad():  # realistic BatchNorm statistics: a few forward passes in training mode
        learner.model.train()
        for indices in learner._batches(learner.generator)[:3]:
            with learner.autocast():
                learner.forward_model(learner._inputs(task.splits["train"].images[indices]))
    splits = task.eval_splits
    ways = {
        "per_split": lambda: {split: learner.evaluate(split, batch_size=spec.batch_size) for split in splits},
        "one_pass": lambda: learner.evaluate_splits(splits),
        "one_pass_fused": lambda: learner.evaluate_splits(splits, fused=True),
    }
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    results = {}
    for _ in range(repeats):
        for name, way in ways.items():
            started = time.perf_counter()
            results[name] = way()
            seconds[name].append(time.perf_counter() - started)
    plain, fused = results["one_pass"], results["one_pass_fused"]
    agree = torch.cat([plain[s].preds == fused[s].preds for s in splits]).float().mean()
    difference = max(float((plain[s].probs - fused[s].probs).abs().max()) for s in splits)
    return {**{name: statistics.median(values) for name, values in seconds.items()},
            "images": sum(len(plain[s].labels) for s in splits), "agreement": float(agree),
            "max_prob_difference": difference, "precision": learner.precision}


def _eval_main(argv: Sequence[str]) -> int:
    parser = ArgumentParser(prog="python -m study.bench eval", description="Time a quick cell's final "
                                     "evaluation: split by split, one pass, one pass with BatchNorm folded.")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds; the median counts (default 5)")
    parser.add_argument("--n-test", type=int, default=1000, help="images in each test set (default 1000)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.n_test < 1:
        parser.error(f"--repeats and --n-test: expected >= 1, got {args.repeats} and {args.n_test}")
    row = bench_eval(args.repeats, args.n_test, args.device)
    print(f"final evaluation of {row['images']} images (valid + test + controlled test), ResNet-18 at 64 px, "
          f"{row['precision']}, median of {args.repeats}; {_cpu_name()}, {torch.get_num_threads()} threads")
    for name in ("per_split", "one_pass", "one_pass_fused"):
        print(f"  {name:<16}{row[name]:>8.2f} s  ({row['images'] / row[name]:.0f} img/s, "
              f"{row['per_split'] / row[name]:.2f}x split by split)")
    print(f"  folded vs not: same class for {row['agreement']:.4%} of images, "
          f"max probability difference {row['max_prob_difference']:.2g}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"train": _train_main, "cell": _cell_main, "eval": _eval_main, "_cell": _cell_child}
    if not argv or argv[0] not in (*commands, "synth"):
        print(f"usage: python -m study.bench {{train|cell|eval|synth}} [options]; got {argv[:1] or 'nothing'}",
              file=sys.stderr)
        return 2
    if argv[0] == "synth":
        from synth import bench as synth_bench  # deferred: the synth benchmark loads matplotlib

        return synth_bench.main(argv[1:]) or 0
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
