"""The cost model: how long a cell will take, for the sweep's dry run.

``estimate_cell`` turns a cell's images x epochs into seconds on a device,
calibrated from the bench file ``python -m study.bench train`` writes
(``.cache/bench/train-<device>.json``) when there is one, else from built-in
figures. Rough by design: it tells minutes from days.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from study.config.spec import TrainSpec

__all__ = ["THROUGHPUT", "ARCH_GFLOPS", "CELL_OVERHEAD_S", "BENCH_FILE", "bench_throughput", "estimate_cell"]


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


BENCH_FILE = ".cache/bench/train-{device}.json"  # written by `python -m study.bench train`


def _bench_records(data: Any) -> list[dict[str, Any]]:
    """The measurements in a bench file: one record, a list, or a dict holding a list."""
    if isinstance(data, dict):
        for key in ("results", "measurements"):
            if isinstance(data.get(key), list):
                return _bench_records(data[key])
        data = [data]
    records = []
    for record in data if isinstance(data, list) else []:
        if not isinstance(record, dict):
            continue
        speed = record.get("images_per_second", record.get("ours"))
        if isinstance(speed, (int, float)) and speed > 0 and isinstance(record.get("size"), int):
            records.append({"arch": str(record.get("arch", "")), "size": record["size"], "speed": float(speed)})
    return records


def bench_throughput(device: str, workdir: Path | None = None) -> list[dict[str, Any]]:
    """Measured training throughput on ``device`` from the bench file, or [] when there is none.

    Returns:
        Records {"arch", "size", "speed" (training images/s)}.
    """
    path = (workdir or Path.cwd()) / BENCH_FILE.format(device=device)
    try:
        return _bench_records(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return []


def _images_per_second(cell: TrainSpec, device: str, measured: Sequence[dict[str, Any]] = ()) -> float:
    """Training images/s for the cell: scaled from the closest measurement, else from THROUGHPUT."""
    if measured:
        same_arch = [record for record in measured if record["arch"] == cell.arch] or list(measured)
        record = min(same_arch, key=lambda r: abs(math.log(r["size"] / cell.size)))
        base, base_arch, base_size = record["speed"], record["arch"], record["size"]
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


def estimate_cell(cell: TrainSpec, device: str, measured: Sequence[dict[str, Any]] = ()) -> tuple[int, float]:
    """Rough cost of one cell: (training images x epochs, seconds) on ``device`` (cpu|cuda).

    Counts every stage of the cell's schedule (``TrainSpec.schedule``): its
    epochs, and an lr_find for each stage that finds its lr.

    Args:
        measured: ``bench_throughput(device)`` records to calibrate from (else the built-in figures).
    """
    total = _photo_count(cell.data) if cell.task == "folder" else cell.n_train
    train = round(total * (1 - cell.valid_pct))
    valid = total - train
    test = cell.n_test if cell.task == "counting" else 0
    epochs = sum(stage.epochs for stage in cell.schedule)
    finds = sum(stage.lr == "find" for stage in cell.schedule)
    image_epochs = train * epochs + LR_FIND_STEPS * cell.batch_size * finds
    speed = _images_per_second(cell, device, measured)
    seconds = CELL_OVERHEAD_S[device] + image_epochs / speed + (valid * epochs + test) / (3 * speed)
    return image_epochs, seconds
