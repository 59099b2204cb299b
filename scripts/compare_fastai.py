"""fastai vs the kit on the same images: wall time from process start to test accuracy, and the accuracy.

Not part of the test suite, and fastai is never a dependency of the kit: it
runs in an environment of its own that shares this one's torch::

    python -m venv /tmp/fastai-env --system-site-packages
    /tmp/fastai-env/bin/pip install fastai==2.8.12        # or: pip install -e '.[fastai]'
    python scripts/compare_fastai.py --fastai-python /tmp/fastai-env/bin/python \\
        --counts 1-5 45-50 --seeds 0 1 2 --kit-set epochs=4 --kit-set lr=5e-3 \\
        --kit-set head_dropout=0 --kit-set bn_stats=precise     # README, "Short schedules"

What it does, for each count range and seed:

1. The data, once: the kit's own counting task at the quick preset's
   settings (64 px, radius 2.25, ``--n`` images split 80/20 into train and
   valid, a separate i.i.d. test set of ``--n-test``), written as PNG folders
   with ``synth.folder.write_folder`` from the kit's scenes (the same
   renderer, so the same pixels): ``pool/<count>/`` (train + valid) and
   ``test/<count>/``.
2. fastai 2.8 in a fresh process (``--fastai-python``): ``ImageDataLoaders
   .from_folder`` on the pool (20% random valid split), ``aug_transforms()``
   and ImageNet normalisation on the batch, ``vision_learner(resnet18,
   pretrained=False)``, ``fit_one_cycle(epochs, 3e-3)``, batch 64, no
   DataLoader workers; bf16 autocast and channels_last where the device has
   native bf16 (fastai's own ``MixedPrecision`` autocasts CUDA only, so a
   four-line callback does it on the CPU); then the test folder through
   ``dls.test_dl``.
3. The kit in a fresh process, as a user runs it: ``--kit-mode cell`` runs
   ``python -m study.train`` on the counting task itself (its own valid split
   of the same pool, the same test images); ``--kit-mode folder`` runs
   ``--task folder`` on the pool folder, then predicts the test folder.

The two runs of a seed follow each other, alternating which goes first, so
a change of load on a shared machine falls on both. For each count range it
prints the mean wall time of each, the speed-up fastai / kit with a 95%
t interval over seeds (on the log of the paired ratios), and the paired
difference of test accuracy (kit - fastai) with its 95% t interval. Every
run's figures go to ``<out>/results.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# The quick preset's counting cell at the reviewed size (800 train + 200 valid, 1,000 test).
CELL = {"task": "counting", "size": 64, "radius": 2.25, "n_test_dewind": 0, "arch": "resnet18",
        "weights": "none", "aug": "fastai", "lr": 3e-3, "batch_size": 64, "valid_pct": 0.2}


# ---------------------------------------------------------------------- data
def write_data(counts: str, seed: int, n: int, n_test: int, root: Path) -> Path:
    """The kit's scenes for ``counts`` and ``seed`` as ``root/pool`` and ``root/test`` PNG folders (once)."""
    folder = root / f"count{counts}-seed{seed}-n{n}"
    if (folder / "test").is_dir() and (folder / "pool").is_dir():
        return folder
    from study.config.spec import TrainSpec
    from study.data.tasks import build_task
    from synth.folder import write_folder

    # cached as a sweep caches it: the kit's cell reads it back (fastai reads the PNGs written here)
    task = build_task(TrainSpec(**CELL, counts=counts, n_train=n, n_test=n_test, seed=seed), "cpu",
                      cache_dir=root / "cache")
    pool = task.splits["train"].scenes + task.splits["valid"].scenes
    write_folder(folder / "pool", pool, progress=False, overwrite=True)
    write_folder(folder / "test", task.splits["test"].scenes, progress=False, overwrite=True)
    return folder


# ---------------------------------------------------------------------- workers (fresh processes)
def fastai_worker(data: Path, seed: int, epochs: int, device: str, started: float) -> dict[str, Any]:
    """Train and test fastai 2 on ``data/pool`` and ``data/test``; runs in the fastai environment."""
    import torch
    from fastai.callback.channelslast import ChannelsLast
    from fastai.vision.all import (Callback, ImageDataLoaders, Normalize, accuracy, aug_transforms,
                                   get_image_files, imagenet_stats, resnet18, set_seed, vision_learner)

    class Autocast(Callback):
        """bf16 autocast on the learner's device (fastai's MixedPrecision enters CUDA autocast only)."""

        order = 10

        def before_batch(self):
            self.context = torch.autocast(self.dls.device.type, dtype=torch.bfloat16)
            self.context.__enter__()

        def after_pred(self):
            self.learn.pred = self.pred.float()

        def after_loss(self):
            self._leave()

        def after_batch(self):
            self._leave()

        def _leave(self):
            if getattr(self, "context", None) is not None:
                self.context.__exit__(None, None, None)
                self.context = None

    imported = time.time()
    set_seed(seed)
    target = torch.device("cuda" if device == "cuda" else "cpu")
    dls = ImageDataLoaders.from_folder(
        data / "pool", valid_pct=0.2, seed=seed, bs=64, num_workers=0, device=target,
        batch_tfms=[*aug_transforms(), Normalize.from_stats(*imagenet_stats)])
    learn = vision_learner(dls, resnet18, pretrained=False, metrics=accuracy)
    if _native_bf16(target):
        learn.add_cbs([ChannelsLast(), Autocast()])
    with learn.no_bar():  # the epoch table still prints (stdout); the last line is the result
        learn.fit_one_cycle(epochs, 3e-3)
        valid_accuracy = float(learn.recorder.values[-1][2])  # [train loss, valid loss, accuracy]
        test_dl = dls.test_dl(get_image_files(data / "test"), with_labels=True)
        probs, labels = learn.get_preds(dl=test_dl)
    return {"startup": imported - started, "valid_accuracy": valid_accuracy,
            "test_accuracy": float((probs.argmax(1) == labels).float().mean()), "done": time.time() - started}


def kit_folder_worker(data: Path, seed: int, sets: dict[str, Any], device: str, out: Path,
                      started: float) -> dict[str, Any]:
    """The kit's folder task on ``data/pool``, then its model on ``data/test`` (bf16, BatchNorm folded)."""
    import numpy as np
    import torch

    from study.data import augment
    from study.run.cell import run_cell
    from study.engine.models import IMAGENET_MEAN, IMAGENET_STD, create_model, fuse_conv_bn, normalize
    from study.engine.precision import resolve_precision
    from study.run.runfolder import CellFolder
    from study.config.spec import TrainSpec
    from study.data.folders import decode_folder

    imported = time.time()
    folder_fields = {key: value for key, value in CELL.items() if key not in ("task", "radius", "n_test_dewind")}
    spec = TrainSpec(**{**folder_fields, "task": "folder", "data": str(data / "pool"), "seed": seed, **sets})
    metrics = run_cell(spec, out, device=device, progress="quiet")
    classes, images, labels, _ = decode_folder(data / "test", spec.size, spec.resize)
    if classes != metrics["classes"]:
        raise SystemExit(f"test classes {classes} differ from the cell's {metrics['classes']}")
    checkpoint = CellFolder(out).load_checkpoint()
    model = create_model(spec.arch, len(classes), head=spec.head, image_size=spec.size)
    model.load_state_dict(checkpoint.model)
    target = torch.device(metrics["device"])
    precision, channels_last = resolve_precision(spec.precision, target)
    model = fuse_conv_bn(model.to(target, memory_format=torch.channels_last if channels_last else torch.preserve_format))
    policy = augment.create(spec.aug, size=spec.size, eval_resize=spec.eval_resize)
    pixels = torch.from_numpy(np.stack(images)).to(target)
    preds = []
    with torch.no_grad(), torch.autocast(target.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        for start in range(0, len(pixels), 256):
            inputs = normalize(policy.eval_transform(pixels[start : start + 256]), IMAGENET_MEAN, IMAGENET_STD)
            preds.append(model(inputs).float().argmax(1).cpu())
    accuracy = float((torch.cat(preds) == torch.tensor(labels)).float().mean())
    return {"startup": imported - started, "valid_accuracy": metrics["valid_accuracy"], "test_accuracy": accuracy,
            "done": time.time() - started, "phase_seconds": metrics["phase_seconds"]}


def _native_bf16(device) -> bool:
    """CUDA with bf16, or a CPU with AVX512-BF16/AMX (the kit's rule, without importing the kit)."""
    import torch

    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return False
    return bool({"avx512_bf16", "amx_bf16"} & set(flags.split()))


# ---------------------------------------------------------------------- driver
def run_fastai(python: str, data: Path, seed: int, epochs: int, device: str) -> dict[str, Any]:
    return _timed_child([python, __file__, "_fastai", str(data), str(seed), str(epochs), device])


def run_kit(mode: str, data: Path, counts: str, n: int, n_test: int, seed: int, sets: dict[str, Any], device: str,
            out: Path) -> dict[str, Any]:
    if mode == "folder":
        return _timed_child([sys.executable, __file__, "_kit_folder", str(data), str(seed), json.dumps(sets), device,
                             str(out)])
    flags = {**CELL, "counts": counts, "n_train": n, "n_test": n_test, "seed": seed, **sets}
    command = [sys.executable, "-m", "study.train", "--quiet", "--device", device, "--out", str(out),
               "--cache-dir", str(data.parent / "cache")]
    for key, value in flags.items():
        command += [f"--{key.replace('_', '-')}", str(value)] if not isinstance(value, bool) else (
            [f"--{key.replace('_', '-')}"] if value else [])
    started = time.time()
    row = _timed_child(command, parse=False)
    metrics = json.loads((out / "metrics.json").read_text())
    # metrics.json is written last, test accuracy included: its modification time is when the cell was done
    done = (out / "metrics.json").stat().st_mtime - started
    phases = metrics["phase_seconds"]
    return {**row, "valid_accuracy": metrics["valid_accuracy"], "test_accuracy": metrics["test_accuracy"],
            "done": done, "phase_seconds": phases, "startup": done - metrics["seconds"]}


# Extra environment of every timed child (``--threads`` sets OMP_NUM_THREADS here).
CHILD_ENV: dict[str, str] = {}


def _timed_child(command: list[str], parse: bool = True) -> dict[str, Any]:
    started = time.time()
    child = subprocess.run([*command, repr(started)] if parse else command, capture_output=True, text=True,
                           env={**os.environ, "PYTHONWARNINGS": "ignore", **CHILD_ENV})
    wall = time.time() - started
    if child.returncode != 0:
        raise SystemExit(f"failed ({child.returncode}): {' '.join(command[:4])}...\n{child.stderr[-3000:]}")
    row = json.loads(child.stdout.strip().splitlines()[-1]) if parse else {}
    return {**row, "wall": wall}


def paired_summary(fastai: list[dict[str, Any]], kit: list[dict[str, Any]]) -> dict[str, Any]:
    """Speed-up (fastai time / kit time, both to test accuracy) and kit - fastai test accuracy, paired by seed.

    Returns:
        means, the geometric-mean speed-up with its 95% t interval over seeds (log scale), and the mean
        accuracy difference with its 95% t interval; intervals are None with fewer than 2 seeds.
    """
    from scipy import stats

    ratios = [math.log(f["done"] / k["done"]) for f, k in zip(fastai, kit)]
    differences = [k["test_accuracy"] - f["test_accuracy"] for f, k in zip(fastai, kit)]
    n = len(ratios)

    def interval(values: list[float]) -> tuple[float, float] | None:
        if n < 2:
            return None
        half = stats.t.ppf(0.975, n - 1) * statistics.stdev(values) / math.sqrt(n)
        return statistics.mean(values) - half, statistics.mean(values) + half

    log_ci = interval(ratios)
    return {
        "n": n,
        "fastai_seconds": statistics.mean(f["done"] for f in fastai),
        "kit_seconds": statistics.mean(k["done"] for k in kit),
        "speedup": math.exp(statistics.mean(ratios)),
        "speedup_ci": tuple(math.exp(v) for v in log_ci) if log_ci else None,
        "fastai_accuracy": statistics.mean(f["test_accuracy"] for f in fastai),
        "kit_accuracy": statistics.mean(k["test_accuracy"] for k in kit),
        "accuracy_difference": statistics.mean(differences),
        "accuracy_difference_ci": interval(differences),
    }


def _parse_sets(pairs: list[str]) -> dict[str, Any]:
    values = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            raise SystemExit(f"--kit-set: expected field=value, got {pair!r}")
        try:
            values[name] = json.loads(text)
        except ValueError:
            values[name] = text
    return values


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_fastai":
        data, seed, epochs, device, started = argv[1:]
        print(json.dumps(fastai_worker(Path(data), int(seed), int(epochs), device, float(started))))
        return 0
    if argv and argv[0] == "_kit_folder":
        data, seed, sets, device, out, started = argv[1:]
        print(json.dumps(kit_folder_worker(Path(data), int(seed), json.loads(sets), device, Path(out),
                                           float(started))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fastai-python", default="/tmp/fastai-env/bin/python",
                        help="python of the environment with fastai 2.8 (default /tmp/fastai-env/bin/python)")
    parser.add_argument("--counts", nargs="+", default=["1-5", "45-50"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--n", type=int, default=1000, help="train + valid images (default 1000: 800 + 200)")
    parser.add_argument("--n-test", type=int, default=1000, help="test images (default 1000)")
    parser.add_argument("--fastai-epochs", type=int, default=8)
    parser.add_argument("--kit-set", action="append", default=[], metavar="FIELD=VALUE",
                        help="TrainSpec values for the kit (default: the quick cell, 8 epochs)")
    parser.add_argument("--kit-mode", choices=["cell", "folder"], default="cell",
                        help="cell: python -m study.train on the counting task; folder: --task folder on the PNGs")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--out", type=Path, default=Path("/tmp/compare-fastai"))
    parser.add_argument("--threads", type=int, help="OMP_NUM_THREADS of both tools' processes (default: torch's "
                        "choice, one per core); 1 keeps an oversubscribed machine from spinning threads")
    args = parser.parse_args(argv)
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads: expected >= 1, got {args.threads}")
        CHILD_ENV.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    if not Path(args.fastai_python).exists():
        parser.error(f"--fastai-python: {args.fastai_python} does not exist; create it as the module docstring says")
    sets = {"epochs": 8, **_parse_sets(args.kit_set)}
    args.out.mkdir(parents=True, exist_ok=True)
    log = (args.out / "results.jsonl").open("a")
    print(f"fastai {args.fastai_epochs} epochs vs the kit ({args.kit_mode}, {sets}); device {args.device}; "
          f"threads {args.threads or 'default'}; load average {os.getloadavg()[0]:.1f} at start")
    summaries = {}
    for counts in args.counts:
        fastai_rows, kit_rows = [], []
        for index, seed in enumerate(args.seeds):
            data = write_data(counts, seed, args.n, args.n_test, args.out / "data")
            runs = {
                "fastai": lambda: run_fastai(args.fastai_python, data, seed, args.fastai_epochs, args.device),
                "kit": lambda: run_kit(args.kit_mode, data, counts, args.n, args.n_test, seed, sets, args.device,
                                       args.out / "kit" / f"{args.kit_mode}-{counts}-s{seed}-{time.time():.0f}"),
            }
            order = ["fastai", "kit"] if index % 2 == 0 else ["kit", "fastai"]
            for name in order:
                row = runs[name]()
                row.update({"tool": name, "counts": counts, "seed": seed, "load": os.getloadavg()[0],
                            "kit_mode": args.kit_mode, "kit_sets": sets, "fastai_epochs": args.fastai_epochs})
                log.write(json.dumps(row) + "\n")
                log.flush()
                (fastai_rows if name == "fastai" else kit_rows).append(row)
                print(f"  {counts} seed {seed} {name:<6} {row['done']:6.1f} s to test accuracy "
                      f"{row['test_accuracy']:.3f} (valid {row['valid_accuracy']:.3f}, start-up "
                      f"{row.get('startup', float('nan')):.1f} s, load {row['load']:.1f})", flush=True)
        summaries[counts] = summary = paired_summary(fastai_rows, kit_rows)
        ci = summary["speedup_ci"]
        dci = summary["accuracy_difference_ci"]
        print(f"{counts}: fastai {summary['fastai_seconds']:.1f} s, kit {summary['kit_seconds']:.1f} s; speed-up "
              f"{summary['speedup']:.2f}x" + (f" [95% CI {ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
              + f"; test accuracy fastai {summary['fastai_accuracy']:.3f}, kit {summary['kit_accuracy']:.3f}, "
              f"kit - fastai {summary['accuracy_difference']:+.3f}"
              + (f" [95% CI {dci[0]:+.3f}, {dci[1]:+.3f}]" if dci else ""), flush=True)
    (args.out / "summary.json").write_text(json.dumps(summaries, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
