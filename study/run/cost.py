"""The cost model: how long a cell will take, for the sweep's dry run.

``estimate_cell`` turns a cell's images x epochs into seconds on a device,
calibrated from the bench file ``python -m study.bench train`` writes
(``.cache/bench/train-<device>.json``) when there is one, else from built-in
figures. Rough by design: it tells minutes from days.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from pathlib import Path

from kit.records import BenchEntry, BenchFile, RecordError, bench_path
from study.config.spec import TrainSpec

__all__ = ["THROUGHPUT", "ARCH_GFLOPS", "CELL_OVERHEAD_S", "Calibration", "calibration", "estimate_cell"]


# Training throughput in images/s for ResNet-18 at 64 px (CPU: measured on a
# 2-core CPU, where the quick preset's 4 cells of 12,800 training images took
# 70-85 s each) and ResNet-34 at 224 px (CUDA: a conservative guess for one
# recent data-centre GPU with mixed precision, not yet measured here). Other sizes and
# architectures scale by pixels and by forward GFLOPs at 224 px; evaluation
# runs ~3x faster than training. Rough by design: it tells minutes from days.
THROUGHPUT = {"cpu": (200.0, "resnet18", 64), "cuda": (1500.0, "resnet34", 224)}
# Forward GMACs of the body at 224 px (torch.utils.flop_counter.FlopCounterMode FLOPs / 2; the ResNets match
# torchvision's figures). ViT/Mixer costs scale with the number of patches, i.e. with pixels, as the CNNs' do;
# on a CPU they train slower per GMAC than the ResNets, so a bench file (python -m study.bench train --arch ...)
# gives better estimates for them.
ARCH_GFLOPS = {
    "resnet18": 1.8, "resnet34": 3.6, "resnet50": 4.1,
    "timm:vit_tiny_patch16_224": 1.1, "timm:vit_tiny_patch16_224@patch8": 4.2,
    "timm:mixer_s16_224": 3.8, "timm:resmlp_12_224": 3.0,
}
CELL_OVERHEAD_S = {"cpu": 10.0, "cuda": 20.0}  # data generation, model build, CUDA start
PHOTO_IMAGES_GUESS = 400  # the post's photo folders hold ~360 images
LR_FIND_STEPS = 100


@dataclasses.dataclass(frozen=True)
class Calibration:
    """The figures the estimates scale from: a bench file's measurements, or none (the built-in ones).

    Attributes:
        entries: the measurements (``kit.records.BenchEntry``); empty: ``THROUGHPUT``.
        source: which figures, in words, for the dry run to say ("measured in <file>" or "built-in figures ...").
    """

    entries: tuple[BenchEntry, ...] = ()
    source: str = "built-in figures"


def calibration(device: str, workdir: str | os.PathLike | None = None) -> Calibration:
    """The bench file ``python -m study.bench train`` wrote for ``device`` below ``workdir`` (default: here).

    A missing file means the built-in figures; so does one that is not a bench file, and the source says why.
    """
    path = bench_path(device, workdir if workdir is not None else Path.cwd())
    shown = os.path.relpath(path) if workdir is None else str(path)
    try:
        measured = BenchFile.read(path)
    except FileNotFoundError:
        return Calibration()
    except (OSError, RecordError) as error:
        return Calibration((), f"built-in figures; {shown} ignored ({str(error).split(': ', 1)[-1]})")
    if not measured.entries:
        return Calibration((), f"built-in figures; {shown} holds no measurement")
    return Calibration(tuple(measured.entries), f"measured in {shown}")


def _ran_as(entry: BenchEntry, cell: TrainSpec) -> bool:
    """Whether ``entry`` measured the precision the cell trains in (``auto``: bf16 where it is native)."""
    wanted = cell.precision if cell.precision != "auto" else "bf16" if entry.native_bf16 else "fp32"
    return entry.precision == wanted


def _images_per_second(cell: TrainSpec, device: str, measured: Sequence[BenchEntry] = ()) -> float:
    """Training images/s for the cell: scaled from the closest measurement, else from THROUGHPUT."""
    if measured:
        same_precision = [entry for entry in measured if _ran_as(entry, cell)] or list(measured)
        same_arch = [entry for entry in same_precision if entry.arch == cell.arch] or same_precision
        entry = min(same_arch, key=lambda e: abs(math.log(e.size / cell.size)))
        base, base_arch, base_size = entry.images_per_s, entry.arch, entry.size
    else:
        base, base_arch, base_size = THROUGHPUT[device]
    flops = ARCH_GFLOPS.get(cell.arch, ARCH_GFLOPS["resnet34"])
    pixel_ratio = (base_size / cell.size) ** 2
    if device == "cuda":
        pixel_ratio = min(pixel_ratio, 4.0)  # small images leave a GPU underused
    return base * ARCH_GFLOPS.get(base_arch, flops) / flops * pixel_ratio


def _photo_count(data: str) -> int:
    folder = Path(data).expanduser()
    if not folder.is_dir():
        return PHOTO_IMAGES_GUESS
    suffixes = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
    return sum(1 for path in folder.rglob("*") if path.suffix.lower() in suffixes) or PHOTO_IMAGES_GUESS


def estimate_cell(cell: TrainSpec, device: str, measured: Sequence[BenchEntry] = ()) -> tuple[int, float]:
    """Rough cost of one cell: (training images x epochs, seconds) on ``device`` (cpu|cuda).

    Counts every stage of the cell's schedule (``TrainSpec.schedule``): its
    epochs, and an lr_find for each stage that finds its lr. A stage that
    trains on smaller images (``side``) costs in proportion to its pixels.

    Args:
        measured: ``calibration(device).entries`` to calibrate from (else the built-in figures).
    """
    total = _photo_count(cell.data) if cell.task == "folder" else cell.n_train
    train = round(total * (1 - cell.valid_pct))
    valid = total - train
    test = cell.n_test if cell.task == "counting" else 0
    epochs = sum(stage.epochs for stage in cell.schedule)
    finds = sum(stage.lr == "find" for stage in cell.schedule)
    image_epochs = train * epochs + LR_FIND_STEPS * cell.batch_size * finds
    # full-size-equivalent training images: a stage at side s costs (s / size)^2 of a full-size one
    full_size_epochs = sum(stage.epochs * ((stage.side or cell.size) / cell.size) ** 2 for stage in cell.schedule)
    speed = _images_per_second(cell, device, measured)
    trained = train * full_size_epochs + LR_FIND_STEPS * cell.batch_size * finds
    seconds = CELL_OVERHEAD_S[device] + trained / speed + (valid * epochs + test) / (3 * speed)
    return image_epochs, seconds
