"""One cell of a sweep: a ``TrainSpec`` in, a finished cell folder out.

``run_cell`` builds the task, model, policy and learner, trains with the
fastai recipe, evaluates valid and test, and writes the files promised by
``docs/RUN_FOLDER.md``, each atomically, ``metrics.json`` last (its presence
means the cell is finished). On failure it writes ``error.json`` and re-raises.
"""

from __future__ import annotations

import csv
import io
import math
import random
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import torch

from study import augment
from study.spec import TrainSpec
from study.learner import Evaluation, Interpretation, Learner
from study.models import IMAGENET_MEAN, IMAGENET_STD, create_model
from study.store import atomic_torch_save, atomic_write_json, atomic_write_text
from study.tasks import Task, build_task, resolve_device, scene_spec

__all__ = ["run_cell", "AUDIT_SAMPLES", "FALLBACK_LR", "LR_FIND_ITERATIONS"]

# Augmented samples drawn to measure label noise (a few seconds of numpy at most).
AUDIT_SAMPLES = 2000
# Used when lr="find" produced no usable suggestion (fastai's default max_lr).
FALLBACK_LR = 3e-3
# fastai's lr_find default: 100 iterations from 1e-7 to 10.
LR_FIND_ITERATIONS = 100


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (model init, dropout)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class _Log:
    """Prints each line and keeps it for log.txt."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        print(line, flush=True)
        self.lines.append(line)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def run_cell(
    spec: TrainSpec,
    cell_dir: Path,
    device: str = "auto",
    cache_dir: Path | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Train and evaluate one spec, writing its cell folder.

    Args:
        spec: the run.
        cell_dir: the cell folder (created).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        cache_dir: dataset cache shared between cells (None: no cache).
        progress: tqdm bar on stderr (default: when stderr is a terminal).

    Returns:
        the metrics dict (also written to ``metrics.json``).

    Raises:
        whatever stopped the cell (after writing ``error.json``).
    """
    import sys

    cell_dir = Path(cell_dir)
    cell_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(cell_dir / "spec.json", spec.to_dict())
    log = _Log()
    started = time.perf_counter()
    try:
        metrics = _train_and_write(
            spec, cell_dir, resolve_device(device), cache_dir, log, sys.stderr.isatty() if progress is None else progress
        )
    except BaseException as error:
        atomic_write_text(cell_dir / "log.txt", log.text())
        atomic_write_json(
            cell_dir / "error.json",
            {
                "status": "failed",
                "error": f"{type(error).__name__}: {error}",
                "traceback": traceback.format_exc(),
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        raise
    metrics["seconds"] = round(time.perf_counter() - started, 3)
    atomic_write_json(cell_dir / "metrics.json", metrics)  # last: marks the cell finished
    return metrics


def _train_and_write(
    spec: TrainSpec, cell_dir: Path, device: torch.device, cache_dir: Path | None, log: _Log, progress: bool
) -> dict[str, Any]:
    """Steps 1-6 of a cell; every file except metrics.json."""
    # 1. Data, model, policy.
    seed_everything(spec.seed)
    task = build_task(spec, device, cache_dir)
    log(_describe(spec, task, device))
    if task.skipped_files:
        log(f"skipped {len(task.skipped_files)} unreadable file(s): {', '.join(task.skipped_files)}")
    model = create_model(spec.arch, len(task.classes), weights=spec.weights, head=spec.head)
    policy = augment.create(spec.aug, size=spec.size)
    learner = Learner(model, task, policy, spec, device, log=log, progress=progress)
    # 2. Freeze a pretrained body (fastai's cnn_learner), unless told otherwise.
    frozen = spec.freeze == "yes" or (spec.freeze == "auto" and spec.weights != "none")
    if frozen:
        learner.freeze()
    else:
        learner.unfreeze()
    # 3. Learning rate: given, or found.
    lr_used = spec.lr
    if spec.lr == "find":
        found = learner.lr_find(iterations=LR_FIND_ITERATIONS, output=cell_dir / "lr_find")
        lr_used = found.suggestion if math.isfinite(found.suggestion) and found.suggestion > 0 else FALLBACK_LR
        log(f"lr_find: suggested lr {found.suggestion:.3g}; using {lr_used:.3g}")
    # 4. Train; the epoch table goes to the console and log.txt.
    learner.fit_one_cycle(spec.epochs, float(lr_used))
    # 5. Evaluate and write everything but metrics.json.
    valid, test = learner.evaluate("valid"), learner.evaluate("test")
    _write_history(cell_dir / "history.csv", learner.history)
    _write_predictions(cell_dir / "predictions.csv", [valid, test], task.classes)
    atomic_torch_save(_checkpoint(learner, spec, task), cell_dir / "checkpoint.pt")
    # 6. Metrics (label noise from the training policy on the training scenes).
    metrics = _metrics(spec, task, valid, test, policy, device, float(lr_used))
    if "label_noise_rate" in metrics:
        log(f"label noise ({spec.aug}): {metrics['label_noise_rate']:.4f} of augmented training samples")
    test_text = f"{test.accuracy:.4f}" if len(test.labels) else "n/a (no test split)"
    log(f"valid accuracy {valid.accuracy:.4f}, test accuracy {test_text}")
    atomic_write_text(cell_dir / "log.txt", log.text())
    return metrics


def _describe(spec: TrainSpec, task: Task, device: torch.device) -> str:
    what = scene_spec(spec).describe() if spec.task == "counting" else f"folder {spec.data} ({spec.resize})"
    sizes = f"{len(task.train_labels)} train / {len(task.valid_labels)} valid / {len(task.test_labels)} test"
    return (
        f"cell {spec.cell_id()}: {what}; {sizes}; {spec.arch} weights={spec.weights} head={spec.head} "
        f"aug={spec.aug} size={spec.size} on {device}"
    )


def _write_history(path: Path, history: list[dict[str, float]]) -> None:
    columns = ["epoch", "train_loss", "valid_loss", "error_rate", "accuracy", "time"]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: row[key] for key in columns} for row in history)
    atomic_write_text(path, text.getvalue())


def _write_predictions(path: Path, evaluations: list[Evaluation], classes: list[str]) -> None:
    """``split, index, label, pred, loss, prob_<class>...`` with labels as class names."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["split", "index", "label", "pred", "loss", *(f"prob_{name}" for name in classes)])
    for evaluation in evaluations:
        probs = evaluation.probs.tolist()
        for index, (label, pred, loss) in enumerate(
            zip(evaluation.labels.tolist(), evaluation.preds.tolist(), evaluation.losses.tolist())
        ):
            writer.writerow(
                [evaluation.split, index, classes[label], classes[pred], f"{loss:.6g}", *(f"{p:.6g}" for p in probs[index])]
            )
    atomic_write_text(path, text.getvalue())


def _checkpoint(learner: Learner, spec: TrainSpec, task: Task) -> dict[str, Any]:
    """A plain dict that loads with ``torch.load(weights_only=True)``."""
    state = {key: value.detach().cpu().contiguous() for key, value in learner.model.state_dict().items()}
    return {
        "model": state,
        "arch": spec.arch,
        "head": spec.head,
        "num_classes": len(task.classes),
        "classes": list(task.classes),
        "size": spec.size,
        "spec": spec.to_dict(),
        "normalize": {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
    }


def _metrics(
    spec: TrainSpec, task: Task, valid: Evaluation, test: Evaluation, policy: augment.Policy,
    device: torch.device, lr_used: float,
) -> dict[str, Any]:
    # Per-class figures on the test split, or valid where there is none (folder tasks).
    reported = test if len(test.labels) else valid
    interpretation = Interpretation.from_evaluation(reported, task.classes)
    metrics: dict[str, Any] = {
        "status": "done",
        "valid_accuracy": valid.accuracy,
        "test_accuracy": test.accuracy if len(test.labels) else None,
        "error_rate": 1 - valid.accuracy,
        "valid_loss": valid.loss,
        "classes": list(task.classes),
        "per_class_split": reported.split,
        "per_class_accuracy": interpretation.per_class_accuracy(),
        "confusion_matrix": interpretation.confusion.tolist(),
        "most_confused": interpretation.most_confused(),
        "device": str(device),
        "weights_used": spec.weights,
        "skipped_files": list(task.skipped_files),
        "lr_used": lr_used,
        "n_train": len(task.train_labels),
        "n_valid": len(task.valid_labels),
        "n_test": len(task.test_labels),
    }
    if spec.task == "counting":
        metrics.update(_count_metrics(reported, task, policy, spec.seed))
    return {key: (None if isinstance(value, float) and math.isnan(value) else value) for key, value in metrics.items()}


def _count_metrics(evaluation: Evaluation, task: Task, policy: augment.Policy, seed: int) -> dict[str, Any]:
    """count_mae and off_by_k on the reported split; label noise of the training policy."""
    difference = (evaluation.preds - evaluation.labels).abs()  # class index distance = count distance
    off_by = {
        "0": float((difference == 0).float().mean()),
        "1": float((difference == 1).float().mean()),
        "2": float((difference == 2).float().mean()),
        "3+": float((difference >= 3).float().mean()),
    }
    audit = augment.count_audit(policy, task.train_scenes, task.canvas_hw, samples=AUDIT_SAMPLES, seed=seed)
    return {
        "count_mae": float(difference.float().mean()),
        "off_by_k": off_by,
        "label_noise_rate": audit["label_noise_rate"],
        "label_noise_clipped_rate": audit["clipped_rate"],
        "label_noise_miscount_rate": audit["miscount_rate"],
        "label_noise_per_count": {count: row["label_noise_rate"] for count, row in audit["per_count"].items()},
    }
