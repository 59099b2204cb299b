"""One cell of a sweep: a ``TrainSpec`` in, a finished cell folder out.

``run_cell`` builds the task, model, policy and learner, trains the spec's
stages one after another on the same model (fastai's frozen fit, then
``unfreeze`` and a fit with discriminative lrs), evaluates every evaluation
split of the task, and writes the cell's files through
``study.run.runfolder.CellFolder``, ``metrics.json`` last (its presence means the
cell is finished). On failure it writes ``log.txt`` and re-raises: recording
the failure (``error.json``) is the caller's job.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kit.progress import ProgressMode, resolve_mode
from kit.records import CellMetrics, Checkpoint
from kit.seeds import derive_seed
from study.data import augment
from study.engine.learner import PRECISE_BN_IMAGES, Evaluation, Interpretation, Learner
from study.engine.models import IMAGENET_MEAN, IMAGENET_STD, create_model
from study.engine.observe import ObserverList, TrainingObserver
from study.engine.progress import ProgressObserver
from study.engine.readout import Readout, class_counts, classes_are_counts, create_readout
from study.run.runfolder import CellFolder
from study.config.labels import configuration_label
from study.config.schedule import Stage
from study.config.spec import TrainSpec, seed_fields, setting_fields
from study.engine.tblog import TensorBoardObserver
from study.data.tasks import Task, build_task, resolve_device
from study.config.scenes import scene_recipe

__all__ = ["run_cell", "split_metrics", "AUDIT_SAMPLES", "FALLBACK_LR", "LR_FIND_ITERATIONS"]

# Augmented samples drawn to measure label noise (a few seconds of numpy at most).
AUDIT_SAMPLES = 2000
# Used when lr_find produced no usable suggestion (fastai's default max_lr).
FALLBACK_LR = 3e-3
# fastai's lr_find default: 100 iterations from 1e-7 to 10.
LR_FIND_ITERATIONS = 100
# Whether the final evaluation predicts with BatchNorm folded into the convolutions
# (study.engine.models.fuse_conv_bn). Off: on the 2-core CPU it saved ~6% of the evaluation, within the noise,
# and under bf16 near-tied classes of an untrained model flip on ~2.6% of images (docs/BENCHMARKS.md).
FUSED_EVALUATION = False


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch's global RNG (dropout draws from it during training)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class _Stopwatch:
    """Seconds spent in each phase of a cell (``metrics["phase_seconds"]``), in the order first timed."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

    def rounded(self) -> dict[str, float]:
        return {name: round(value, 3) for name, value in self.seconds.items()}


class _Log:
    """Keeps each line for log.txt and echoes it to stdout unless quiet."""

    def __init__(self, echo: bool) -> None:
        self.lines: list[str] = []
        self.echo = echo

    def __call__(self, line: str) -> None:
        if self.echo:
            print(line, flush=True)
        self.lines.append(line)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def run_cell(
    spec: TrainSpec,
    cell_dir: Path,
    device: str = "auto",
    cache_dir: Path | None = None,
    progress: ProgressMode = "auto",
) -> dict[str, Any]:
    """Train and evaluate one spec, writing its cell folder.

    Args:
        spec: the run.
        cell_dir: the cell folder (created).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        cache_dir: dataset cache shared between cells (None: no cache).
        progress: ``auto`` (a bar when stderr is a terminal, else one line per
            epoch), ``bar``, ``lines`` or ``quiet`` (nothing per epoch on the
            console; the epoch table still goes to log.txt).

    Returns:
        ``metrics.json`` as written (``kit.records.CellMetrics.to_json``); ``phase_seconds`` holds the
        seconds spent building the data, setting up (model, policy, observers), fitting, evaluating,
        computing the metrics and writing.

    Raises:
        ConfigError: an unknown progress mode. Otherwise whatever stopped the
        cell, after writing ``log.txt``.
    """
    progress = resolve_mode(progress, sys.stderr)
    folder = CellFolder(cell_dir)
    folder.path.mkdir(parents=True, exist_ok=True)
    folder.write_spec(spec.to_dict())
    log = _Log(echo=progress != "quiet")
    clock = _Stopwatch()
    started = time.perf_counter()
    try:
        metrics = _train_and_write(spec, folder, resolve_device(device), cache_dir, log, progress, clock)
    except BaseException:
        folder.write_log(log.text())
        raise
    metrics.seconds = round(time.perf_counter() - started, 3)
    metrics.phase_seconds = clock.rounded()
    folder.write_metrics(metrics)  # last: marks the cell finished
    return metrics.to_json()


def _train_and_write(
    spec: TrainSpec, folder: CellFolder, device: torch.device, cache_dir: Path | None, log: _Log, progress: str,
    clock: _Stopwatch,
) -> CellMetrics:
    """Build, train, evaluate; write every file except metrics.json and return the metrics."""
    # 1. Data, model, policy, learner. The global RNG feeds dropout only; init, batch order and
    #    augmentation have generators of their own (study.engine.learner).
    seed_everything(spec.seed)
    with clock.phase("data"):
        task = build_task(spec, device, cache_dir)
    log(_describe(spec, task, device))
    if task.skipped_files:
        log(f"skipped {len(task.skipped_files)} unreadable file(s): {', '.join(task.skipped_files)}")
    with clock.phase("setup"):
        # The readout first: a regression/ordinal head on classes that are not counts fails before any work.
        readout = create_readout(spec.head, class_counts(task.classes, spec.head), spec.reg_target, spec.reg_loss)
        model = create_model(spec.arch, len(task.classes), weights=spec.weights, head=spec.head,
                             seed=derive_seed(spec.seed, "init"), image_size=spec.size,
                             head_dropout=spec.head_dropout)
        policy = _policy(spec)
        observers = ObserverList(_observers(progress, folder, spec))
    try:
        return _fit_evaluate_write(spec, task, model, readout, policy, observers, device, folder, log, clock)
    finally:
        observers.close()  # closes bars and flushes events even when training raised


def _fit_evaluate_write(
    spec: TrainSpec, task: Task, model: torch.nn.Module, readout: Readout, policy: augment.Policy,
    observers: ObserverList, device: torch.device, folder: CellFolder, log: _Log, clock: _Stopwatch,
) -> CellMetrics:
    """Steps 2-4 of a cell: train the stages, evaluate every split, write the files and metrics."""
    learner = Learner(model, task, policy, spec, device, log=log, observers=[observers], readout=readout)
    log(f"precision {learner.precision}" + (" (bf16 autocast, channels_last)" if learner.channels_last else ""))
    if spec.bn_stats == "precise":
        log(f"bn_stats precise: BatchNorm statistics recomputed after each stage's last epoch over "
            f"{min(PRECISE_BN_IMAGES, len(task.splits['train']))} training images")
    # 2. Train the stages; the epoch table goes to log.txt (and the console unless quiet).
    stages = spec.schedule
    with clock.phase("fit"):
        stage_records = _run_stages(learner, stages, folder, log)
    # 3. Evaluate every evaluation split in one pass of large batches.
    with clock.phase("evaluate"):
        evaluations = learner.evaluate_splits(task.eval_splits, fused=FUSED_EVALUATION)
    # 4. Metrics (label noise from the training policy on the training scenes).
    with clock.phase("metrics"):
        metrics = _metrics(spec, task, evaluations, policy, learner, stage_records)
    if metrics.label_noise_rate is not None:
        log(f"label noise ({spec.aug}): {metrics.label_noise_rate:.4f} of augmented training samples")
    log(", ".join(_format_split(split, evaluation, metrics) for split, evaluation in evaluations.items()))
    # 5. History, predictions, checkpoint, log and the TensorBoard summary.
    with clock.phase("write"):
        history = learner.history if len(stages) > 1 else [
            {key: value for key, value in row.items() if key != "stage"} for row in learner.history]
        folder.write_history(history)
        folder.write_predictions(_prediction_rows(evaluations.values(), task.classes), task.classes)
        folder.save_checkpoint(_checkpoint(learner, spec, task))
        folder.write_log(log.text())
        interpretation = Interpretation.from_evaluation(_reported(evaluations), task.classes)
        hparams = {name: getattr(spec, name) for name in (*setting_fields(), *seed_fields())}
        observers.on_cell_end(metrics.to_json(), interpretation.confusion.tolist(), list(task.classes), hparams)
    return metrics


def _policy(spec: TrainSpec) -> augment.Policy:
    """The training policy; its eval transform is the same for every policy and follows ``eval_resize``."""
    return augment.create(spec.aug, size=spec.size, eval_resize=spec.eval_resize)


def _observers(progress: str, folder: CellFolder, spec: TrainSpec) -> list[TrainingObserver]:
    """The console progress bar (bar mode only: in lines mode the epoch table is the progress) and
    the TensorBoard writer."""
    observers: list[TrainingObserver] = [TensorBoardObserver(folder.file(CellFolder.EVENTS))]
    if progress == "bar":
        main_axes = ["counts" if spec.task == "counting" else "data", "aug", "weights"]
        observers.append(ProgressObserver(progress, desc=configuration_label(spec.to_dict(), main_axes)))
    return observers


def _run_stages(learner: Learner, stages: Sequence[Stage], folder: CellFolder, log: _Log) -> list[dict[str, Any]]:
    """Fit each stage in turn (freeze or unfreeze, find the lr if asked, one-cycle).

    Every stage starts a fresh AdamW and one-cycle schedule, as fastai does
    after ``unfreeze()`` (which re-creates the optimiser).

    Returns:
        one ``{"kind", "epochs", "lr"}`` record per stage (plus ``side`` for a resized stage), ``lr`` as
        used (the lr_find suggestion for ``find``; ``[lo, hi]`` for a range).
    """
    records = []
    finds = sum(stage.lr == "find" for stage in stages)
    for number, stage in enumerate(stages, start=1):
        if stage.frozen:
            learner.freeze()
        else:
            learner.unfreeze()
        if stage.lr == "find":
            stem = CellFolder.LR_FIND if number == 1 or finds == 1 else f"{CellFolder.LR_FIND}_stage{number}"
            found = learner.lr_find(iterations=LR_FIND_ITERATIONS, output=folder.file(stem))
            usable = math.isfinite(found.suggestion) and found.suggestion > 0
            max_lr: float | slice = found.suggestion if usable else FALLBACK_LR
            log(f"lr_find (stage {number}): suggested lr {found.suggestion:.3g}; using {max_lr:.3g}")
        else:
            max_lr = stage.max_lr()
        lr_text = f"{max_lr.start:.3g}:{max_lr.stop:.3g}" if isinstance(max_lr, slice) else f"{max_lr:.3g}"
        if len(stages) > 1:
            log(f"stage {number}/{len(stages)}: {stage.kind}, {stage.epochs} epoch(s), max lr {lr_text}")
        learner.train_side = stage.side
        learner.fit_one_cycle(stage.epochs, max_lr, stage=number)
        learner.train_side = None
        lr_record = [max_lr.start, max_lr.stop] if isinstance(max_lr, slice) else float(max_lr)
        records.append({"kind": stage.kind, "epochs": stage.epochs, "lr": lr_record,
                        **({"side": stage.side} if stage.side is not None else {})})
    return records


def _describe(spec: TrainSpec, task: Task, device: torch.device) -> str:
    what = scene_recipe(spec).describe() if spec.task == "counting" else f"folder {spec.data} ({spec.resize})"
    sizes = " / ".join(f"{len(task.splits[name])} {name}" for name in ("train", "valid", "test"))
    return (
        f"cell {spec.cell_id()}: {what}; {sizes}; {spec.arch} weights={spec.weights} head={spec.head} "
        f"aug={spec.aug} size={spec.size} on {device}"
    )


def _format_accuracy(evaluation: Evaluation) -> str:
    return f"{evaluation.accuracy:.4f}" if len(evaluation.labels) else "n/a (empty split)"


def _format_split(split: str, evaluation: Evaluation, metrics: CellMetrics) -> str:
    """``<split> accuracy A``; the held-out split adds its count MAE (how far off the unseen counts are)."""
    text = f"{split} accuracy {_format_accuracy(evaluation)}"
    mae = metrics.test_held_out_mae if split == "test_held_out" else None
    return text + (f", {split} MAE {mae:.4f}" if mae is not None else "")


def _prediction_rows(evaluations, classes: list[str]) -> list[dict[str, Any]]:
    """predictions.csv rows (``CellFolder.write_predictions``): labels as class names."""
    rows = []
    for evaluation in evaluations:
        probs, estimates = evaluation.probs.tolist(), evaluation.estimates.tolist()
        for index, (label, pred, loss) in enumerate(
            zip(evaluation.labels.tolist(), evaluation.preds.tolist(), evaluation.losses.tolist())
        ):
            rows.append({"split": evaluation.split, "index": index, "label": classes[label],
                         "pred": classes[pred], "estimate": estimates[index], "loss": loss, "probs": probs[index]})
    return rows


def _checkpoint(learner: Learner, spec: TrainSpec, task: Task) -> Checkpoint:
    """checkpoint.pt: the weights (on the CPU) and what rebuilding the model and its readout needs."""
    state = {key: value.detach().cpu().contiguous() for key, value in learner.model.state_dict().items()}
    return Checkpoint(
        model=state,
        arch=spec.arch,
        head=spec.head,
        reg_target=spec.reg_target,
        reg_loss=spec.reg_loss,
        class_counts=[int(count) for count in learner.readout.counts.tolist()],
        num_classes=len(task.classes),
        classes=list(task.classes),
        size=spec.size,
        spec=spec.to_dict(),
        normalize={"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)},
    )


def _reported(evaluations: dict[str, Evaluation]) -> Evaluation:
    """The split per-class figures describe: the i.i.d. test split, or valid where it is empty (folders)."""
    test = evaluations.get("test")
    return test if test is not None and len(test.labels) else evaluations["valid"]


def _accuracy_or_none(evaluation: Evaluation | None) -> float | None:
    return evaluation.accuracy if evaluation is not None and len(evaluation.labels) else None


def _metrics(
    spec: TrainSpec, task: Task, evaluations: dict[str, Evaluation], policy: augment.Policy, learner: Learner,
    stage_records: list[dict[str, Any]],
) -> CellMetrics:
    """metrics.json but ``seconds`` and ``phase_seconds`` (``run_cell`` adds them when the cell ends)."""
    valid, reported = evaluations["valid"], _reported(evaluations)
    interpretation = Interpretation.from_evaluation(reported, task.classes)
    counts = learner.readout.counts
    are_counts = spec.task == "counting" or classes_are_counts(task.classes)
    splits = {name: split_metrics(evaluation, counts, task.classes, are_counts)
              for name, evaluation in evaluations.items()}
    held_out = evaluations.get("test_held_out")
    first_lr = stage_records[0]["lr"]
    metrics = CellMetrics(
        status="done",
        valid_accuracy=valid.accuracy,
        test_accuracy=_accuracy_or_none(evaluations.get("test")),
        test_dewind_accuracy=_accuracy_or_none(evaluations.get("test_dewind")),
        error_rate=1 - valid.accuracy,
        valid_loss=valid.loss,
        classes=list(task.classes),
        per_class_split=reported.split,
        per_class_accuracy=interpretation.per_class_accuracy(),
        confusion_matrix=interpretation.confusion.tolist(),
        most_confused=interpretation.most_confused(),
        device=str(learner.device),
        precision=learner.precision,
        channels_last=learner.channels_last,
        weights_used=spec.weights,
        skipped_files=list(task.skipped_files),
        lr_used=first_lr[-1] if isinstance(first_lr, list) else first_lr,  # first stage's head lr
        stages=stage_records,
        eval_resize=spec.eval_resize,
        n_train=len(task.splits["train"]),
        n_valid=len(task.splits["valid"]),
        n_test=len(task.splits["test"]),
        n_test_dewind=len(evaluations["test_dewind"].labels) if "test_dewind" in evaluations else 0,
        n_test_held_out=len(held_out.labels) if held_out is not None else 0,
        test_held_out_accuracy=splits["test_held_out"]["accuracy"] if held_out is not None else None,
        test_held_out_mae=splits["test_held_out"]["mae"] if held_out is not None else None,
        splits=splits,
    )
    if spec.task == "counting":
        metrics = dataclasses.replace(metrics, **_count_metrics(reported, counts, task, policy, spec.seed))
    # NaN (an empty split's mean) is not JSON: the record is cleaned as the file will be (NaN -> None).
    return CellMetrics.from_json(metrics.to_json())


def split_metrics(
    evaluation: Evaluation, counts: torch.Tensor, classes: list[str], are_counts: bool = True
) -> dict[str, Any]:
    """metrics.json's ``splits[<split>]``: accuracy, count error and bias, overall and per true count.

    Args:
        evaluation: one split's predictions (``estimates`` in counts; when None, the predicted
            class's count stands in).
        counts: float ``[C]`` the count of each class.
        classes: class names (the ``per_count`` keys; for counting tasks the counts as text).
        are_counts: False for classes that are not counts (a folder of named classes):
            ``mae`` and ``bias`` are then None.

    Returns:
        ``{"accuracy", "mae", "bias", "n", "per_count": {class name: {"n", "accuracy", "mae", "bias"}}}``:
        accuracy of the predicted class (the rounded estimate), mae = mean |estimate - true count|,
        bias = mean (estimate - true count); ``per_count`` lists the true counts present in the split,
        in class order. None where the split is empty.
    """
    labels = evaluation.labels
    counts = counts.to(labels.device).double()
    estimates = evaluation.estimates if evaluation.estimates is not None else counts[evaluation.preds]
    error = estimates.double() - counts[labels]
    correct = (evaluation.preds == labels).double()

    def summary(mask: torch.Tensor) -> dict[str, Any]:
        n = int(mask.sum())
        if n == 0:
            return {"n": 0, "accuracy": None, "mae": None, "bias": None}
        return {
            "n": n,
            "accuracy": float(correct[mask].mean()),
            "mae": float(error[mask].abs().mean()) if are_counts else None,
            "bias": float(error[mask].mean()) if are_counts else None,
        }

    everything = summary(torch.ones_like(labels, dtype=torch.bool))
    per_count = {classes[index]: summary(labels == index) for index in labels.unique().tolist()}
    return {**{key: everything[key] for key in ("accuracy", "mae", "bias", "n")}, "per_count": per_count}


def _count_metrics(
    evaluation: Evaluation, counts: torch.Tensor, task: Task, policy: augment.Policy, seed: int
) -> dict[str, Any]:
    """count_mae and off_by_k of the predicted class (the rounded estimate) on the reported split;
    label noise of the training policy."""
    counts = counts.to(evaluation.labels.device)
    difference = (counts[evaluation.preds] - counts[evaluation.labels]).abs()
    off_by = {
        "0": float((difference == 0).float().mean()),
        "1": float((difference == 1).float().mean()),
        "2": float((difference == 2).float().mean()),
        "3+": float((difference >= 3).float().mean()),
    }
    audit = augment.count_audit(policy, task.splits["train"].scenes, task.canvas_hw, samples=AUDIT_SAMPLES, seed=seed)
    return {
        "count_mae": float(difference.mean()),
        "off_by_k": off_by,
        "label_noise_rate": audit["label_noise_rate"],
        "label_noise_clipped_rate": audit["clipped_rate"],
        "label_noise_miscount_rate": audit["miscount_rate"],
        "label_noise_per_count": {count: row["label_noise_rate"] for count, row in audit["per_count"].items()},
    }
