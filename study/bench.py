"""Throughput benchmarks: ``python -m study.bench train|synth``.

``train`` measures, in one process on the same model, batch size and optimiser:

(a) ours: the full training step from device-resident uint8 tensors
    (``Learner.train_step``: index slice, augmentation, normalisation,
    forward, backward, AdamW step, one-cycle step);
(b) the ceiling: the model alone on pre-staged, normalised input tensors;
(c) the usual baseline: the same images written as PNG files, read by
    ``torchvision.datasets.ImageFolder`` through a ``DataLoader`` with PIL
    transforms close to fastai's (crop, flip, affine, perspective, lighting),
    then copied to the device for the same step.

It prints images/s for each and the ratios (a)/(b) (how close to the
ceiling) and (a)/(c) (speed-up over the usual pipeline).

Defaults run in about a minute on a 2-core CPU (resnet18 at 64 px). On a GPU::

    python -m study.bench train --device cuda --arch resnet34 --size 224 \\
        --batch-size 128 --steps 50 --workers 8 [--compile]

``synth`` forwards to ``synth.bench`` (renderer benchmarks).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

__all__ = ["main", "bench_train"]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(step: Callable[[int], None], warmup: int, steps: int, device: torch.device) -> float:
    """Seconds for ``steps`` calls of ``step(i)`` after ``warmup`` untimed ones."""
    for index in range(warmup):
        step(index)
    _sync(device)
    started = time.perf_counter()
    for index in range(warmup, warmup + steps):
        step(index)
    _sync(device)
    return time.perf_counter() - started


def _model_step(learner, optimizer, inputs: torch.Tensor, labels: torch.Tensor) -> None:
    """The learner's forward/backward/step on ready inputs (what (b) and (c) share with (a))."""
    with learner._autocast():
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

    from study.models import IMAGENET_MEAN, IMAGENET_STD

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
    arch: str = "resnet18", size: int = 64, batch_size: int = 32, steps: int = 10, warmup: int = 2,
    device: str = "auto", aug: str = "fastai", workers: int = 2, compile_model: bool = False,
) -> dict[str, float]:
    """Images/s of (a) our pipeline, (b) the model alone, (c) ImageFolder + DataLoader.

    Returns:
        dict with ``ours``, ``model_only``, ``imagefolder`` (images/s) and the
        ratios ``ours_vs_model_only`` and ``ours_vs_imagefolder``.
    """
    from study import augment
    from study.tasks import resolve_device
    from study.spec import TrainSpec
    from study.learner import Learner
    from study.models import create_model
    from study.tasks import build_task

    target = resolve_device(device)
    images_needed = batch_size * (warmup + steps)
    spec = TrainSpec(counts="1-5", size=size, n_train=max(images_needed * 5 // 4 + 5, 10), n_test=0, arch=arch,
                     aug=aug, batch_size=batch_size, compile=compile_model)
    task = build_task(spec, target)
    torch.manual_seed(0)
    learner = Learner(create_model(arch, len(task.classes)), task, augment.create(aug, size=size), spec, target,
                      log=lambda line: None, progress=False)
    learner.unfreeze()
    optimizer = learner._optimizer([1e-4] * 3)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[1e-4] * 3, total_steps=10 * (warmup + steps))
    learner.model.train()
    batches = learner._batches()

    # (a) ours: the whole step from uint8 device tensors.
    ours = _timed(lambda i: learner.train_step(batches[i], optimizer, scheduler), warmup, steps, target)
    # (b) ceiling: one pre-staged, normalised batch.
    staged = learner._inputs(task.train_images[batches[0]], train=True)
    staged_labels = task.train_labels[batches[0]]
    model_only = _timed(lambda i: _model_step(learner, optimizer, staged, staged_labels), warmup, steps, target)
    # (c) baseline: PNG files -> ImageFolder -> DataLoader -> device.
    with tempfile.TemporaryDirectory(prefix="bench-imagefolder-") as folder:
        _write_pngs(task.train_images[: images_needed], task.train_labels[: images_needed], Path(folder))
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
            if target.type == "cuda":
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            _model_step(learner, optimizer, inputs, labels.to(target, non_blocking=True))

        imagefolder = _timed(loader_step, warmup, steps, target)
    images = batch_size * steps
    results = {"ours": images / ours, "model_only": images / model_only, "imagefolder": images / imagefolder}
    results["ours_vs_model_only"] = results["ours"] / results["model_only"]
    results["ours_vs_imagefolder"] = results["ours"] / results["imagefolder"]
    return results


def _train_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m study.bench train", description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="resnet18", help="resnet18/34/50 or timm:<name> (default resnet18)")
    parser.add_argument("--size", type=int, default=64, help="image size in px (default 64; the post: 224)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per pipeline (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--aug", default="fastai", help="policy for (a) (default fastai)")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="DataLoader workers for (c)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (CUDA)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    results = bench_train(args.arch, args.size, args.batch_size, args.steps, args.warmup, args.device, args.aug,
                          args.workers, args.compile)
    from study.tasks import resolve_device

    device = resolve_device(args.device)
    print(f"train step, {args.arch} at {args.size} px, batch {args.batch_size}, {args.steps} steps on {device} "
          f"({torch.get_num_threads()} CPU threads, {args.workers} loader workers)")
    print(f"  (a) ours (uint8 on device -> {args.aug} aug -> step): {results['ours']:10.1f} images/s")
    print(f"  (b) model alone on pre-staged tensors:       {results['model_only']:10.1f} images/s")
    print(f"  (c) ImageFolder + DataLoader + PIL:          {results['imagefolder']:10.1f} images/s")
    print(f"  (a)/(b) = {results['ours_vs_model_only']:.2f}   (a)/(c) = {results['ours_vs_imagefolder']:.2f}")
    if args.json:
        from study.store import atomic_write_json

        atomic_write_json(args.json, {**vars(args), "json": str(args.json), "device": str(device), **results})
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = ("train", "synth")
    if not argv or argv[0] not in commands:
        print(f"usage: python -m study.bench {{{'|'.join(commands)}}} [options]; got {argv[:1] or 'nothing'}",
              file=sys.stderr)
        return 2
    if argv[0] == "synth":
        from synth import bench as synth_bench  # lazy: written and owned by synth

        return synth_bench.main(argv[1:]) or 0
    return _train_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
