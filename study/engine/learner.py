"""Training: fastai v1's recipe (one-cycle AdamW, frozen body, lr finder) on device tensors.

The loop never leaves the device: a batch is an index slice of the task's
uint8 tensors, augmented (``study.data.augment``) and normalised on the device,
then forward/backward/step. No DataLoader, no per-image Python. Where the
device has native bf16 (``study.engine.precision``) the forward runs under bf16
autocast in channels_last; on CUDA it is optionally compiled.

What mirrors fastai v1 (``docs/POST.md``): AdamW with decoupled
weight decay 1e-2 on every parameter (``bn_wd=True``), betas (0.9, 0.99);
``fit_one_cycle`` = ``torch.optim.lr_scheduler.OneCycleLR`` (div 25,
pct_start 0.3, final lr max_lr / (25 * 1e4), cosine, beta1 0.95->0.85->0.95);
``freeze`` keeps BatchNorm trainable; ``slice`` learning rates over three
layer groups; training drops the last partial batch; ``train_loss`` in the
table is the debiased exponential moving average (beta 0.98) fastai prints.

Opt-in, for short schedules (``bn_stats = "precise"``): the BatchNorm
statistics are recomputed after each stage's last epoch (PreciseBN).
"""

from __future__ import annotations

import contextlib
import copy
import csv
import dataclasses
import io
import math
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from kit.seeds import derive_seed
from study.data.augment import Policy
from study.errors import NonFiniteLossError
from study.engine.observe import TrainingObserver
from study.engine.models import Classifier, fuse_conv_bn, normalize
from study.engine.precision import resolve_precision
from study.engine.readout import Readout, class_counts, create_readout
from study.config.spec import TrainSpec
from kit.store import atomic_write_bytes, atomic_write_text
from study.data.tasks import Task

__all__ = [
    "Evaluation",
    "Interpretation",
    "LRFinderResult",
    "Learner",
    "NonFiniteLossError",
    "lr_range",
]

# How often (in steps) the loop syncs with the device to check the loss is finite.
_CHECK_EVERY = 20
_SMOOTHING = 0.98
# Images per forward pass when evaluating: no gradients are kept, so batches can be larger than training's.
EVAL_BATCH_SIZE = 256
# PreciseBN (``bn_stats = "precise"``): at most this many training images set the BatchNorm statistics.
PRECISE_BN_IMAGES = 512  # 400 and 800 gave the same accuracy (docs/BENCHMARKS.md); 512 = two batches


@dataclasses.dataclass
class Evaluation:
    """Predictions on one split (CPU tensors), as the learner's readout (``study.engine.readout``) reads them.

    Attributes:
        split: ``valid``, ``test``, ``test_dewind``, ``test_held_out`` (or ``train``).
        labels: int64 ``[N]`` true class indices.
        preds: int64 ``[N]`` predicted class index (``readout.predict``: the argmax class for
            classifiers, the class nearest the estimate otherwise).
        probs: float ``[N, C]`` (``readout.probs``).
        losses: float ``[N]`` per-image loss (``readout.loss``, reduction none).
        estimates: float ``[N]`` the head's point estimate of the COUNT (``readout.estimate``);
            None only for evaluations built by hand without one.
    """

    split: str
    labels: torch.Tensor
    preds: torch.Tensor
    probs: torch.Tensor
    losses: torch.Tensor
    estimates: torch.Tensor | None = None

    @property
    def loss(self) -> float:
        return float(self.losses.mean()) if len(self.losses) else math.nan

    @property
    def accuracy(self) -> float:
        return float((self.preds == self.labels).float().mean()) if len(self.labels) else math.nan


@dataclasses.dataclass
class LRFinderResult:
    """Learning rates tried, raw and smoothed losses, and the suggested lr (steepest descent)."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float


@dataclasses.dataclass
class Interpretation:
    """fastai's ClassificationInterpretation: confusion matrix, most confused, top losses."""

    classes: list[str]
    confusion: np.ndarray  # [C, C] rows = true, cols = predicted
    evaluation: Evaluation

    @classmethod
    def from_evaluation(cls, evaluation: Evaluation, classes: list[str]) -> "Interpretation":
        # rows = true, cols = predicted; a bincount over (true, pred) pairs (sklearn's
        # confusion_matrix gives the same but costs ~3 s of import in every cell process)
        size = len(classes)
        pairs = evaluation.labels.numpy() * size + evaluation.preds.numpy()
        confusion = np.bincount(pairs, minlength=size * size).reshape(size, size)
        return cls(classes=classes, confusion=confusion, evaluation=evaluation)

    def most_confused(self, min_count: int = 1) -> list[list]:
        """``[[true, predicted, n], ...]`` off-diagonal cells with ``n >= min_count``, largest first."""
        pairs = [
            [self.classes[t], self.classes[p], int(self.confusion[t, p])]
            for t in range(len(self.classes))
            for p in range(len(self.classes))
            if t != p and self.confusion[t, p] >= min_count
        ]
        return sorted(pairs, key=lambda pair: -pair[2])

    def top_losses(self, k: int = 9) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``k`` largest per-sample losses and their indices in the split."""
        k = min(k, len(self.evaluation.losses))
        return torch.topk(self.evaluation.losses, k)

    def per_class_accuracy(self) -> dict[str, float | None]:
        """Recall per class; None for a class with no sample in the split (JSON has no NaN)."""
        totals = self.confusion.sum(1)
        return {
            name: (float(self.confusion[i, i] / totals[i]) if totals[i] else None)
            for i, name in enumerate(self.classes)
        }


def lr_range(lr: float | slice | Sequence[float], groups: int = 3) -> list[float]:
    """fastai's ``lr_range``: one lr per layer group.

    A float applies to every group; ``slice(lo, hi)`` spaces the groups
    geometrically from ``lo`` to ``hi``; ``slice(hi)`` gives ``hi/10`` to all
    but the head, which gets ``hi``.
    """
    if isinstance(lr, slice):
        if lr.start:
            return np.geomspace(lr.start, lr.stop, groups).tolist()
        return [lr.stop / 10] * (groups - 1) + [lr.stop]
    if isinstance(lr, (int, float)):
        return [float(lr)] * groups
    lrs = [float(v) for v in lr]
    if len(lrs) != groups:
        raise ValueError(f"lr: expected {groups} learning rates (one per layer group), got {len(lrs)}")
    return lrs


class Learner:
    """A model, a task, an augmentation policy and the fastai recipe.

    Randomness: batch order and augmentation draws come from ``generator``
    (seeded by ``spec.seed``); the lr finder draws from its own generator
    and restores the global RNG (dropout) afterwards, so running it does not
    change what the fit that follows sees.

    Args:
        model: a ``study.engine.models.Classifier``.
        task: device-resident data (``study.data.tasks.Task``).
        policy: training augmentation (its ``eval_transform`` is used for evaluation).
        spec: batch size, weight decay, seed, precision, compile.
        device: where the task lives and the model trains.
        log: receives each line of the epoch table and notes (default ``print``).
        observers: told about fits, steps, batches and epochs (``study.engine.observe``).
        readout: turns the model's outputs into a loss, counts and classes (default: the one
            ``spec.head``/``reg_target``/``reg_loss`` describe over the task's class counts).
    """

    def __init__(
        self,
        model: Classifier,
        task: Task,
        policy: Policy,
        spec: TrainSpec,
        device: str | torch.device,
        log: Callable[[str], None] = print,
        observers: Sequence[TrainingObserver] = (),
        readout: Readout | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.model, self.task, self.policy, self.spec = model.to(self.device), task, policy, spec
        self.train_side: int | None = None  # progressive resizing: the side training images are resized to
        self.readout = readout or create_readout(
            spec.head, class_counts(task.classes, spec.head), spec.reg_target, spec.reg_loss)
        self.log, self.observers = log, list(observers)
        self.batch_size = spec.batch_size
        self.generator = torch.Generator().manual_seed(spec.seed)  # batch order and augmentation draws
        self.history: list[dict[str, float]] = []
        self.schedule_trace: list[tuple[float, float]] = []  # (head lr, beta1) after each step
        self.steps_done = 0  # optimisation steps over every fit (the observers' step axis)
        self.on_cuda = self.device.type == "cuda"
        self.precision, self.channels_last = resolve_precision(spec.precision, self.device, log)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        # Inductor's compiled kernels are cached on disk (TORCHINDUCTOR_CACHE_DIR), so the cells of a
        # sweep after the first reuse them; dynamo still traces once per process and model.
        self.forward_model: nn.Module = torch.compile(self.model) if spec.compile else self.model
        self._table_started = False

    # ------------------------------------------------------------ freezing
    def freeze(self) -> None:
        """Freeze the body except its BatchNorm layers (fastai ``train_bn=True``); head trainable."""
        for module in self.model.body.modules():
            trainable = isinstance(module, nn.modules.batchnorm._BatchNorm)
            for parameter in module.parameters(recurse=False):
                parameter.requires_grad_(trainable)
        for parameter in self.model.head.parameters():
            parameter.requires_grad_(True)

    def unfreeze(self) -> None:
        for parameter in self.model.parameters():
            parameter.requires_grad_(True)

    # ------------------------------------------------------------ steps
    def _optimizer(self, lrs: list[float]) -> torch.optim.AdamW:
        groups = [{"params": list(group.parameters()), "lr": lr} for group, lr in zip(self.model.groups, lrs)]
        # fused: one kernel for all parameters (same maths as the default loop); on the CPU the default is a
        # loop of small ops per tensor, and fused takes 0.57x its time for ResNet-18 (docs/BENCHMARKS.md).
        fused = True if self.device.type in ("cpu", "cuda") else None
        return torch.optim.AdamW(groups, betas=(0.9, 0.99), weight_decay=self.spec.weight_decay, fused=fused)

    def steps_per_epoch(self) -> int:
        count = len(self.task.splits["train"])
        return max(1, count // self.batch_size)  # drop_last, as fastai's training loader

    def _batches(self, generator: torch.Generator) -> list[torch.Tensor]:
        """One epoch of shuffled index batches (on the device), drawn from ``generator``."""
        order = torch.randperm(len(self.task.splits["train"]), generator=generator).to(self.device)
        size = min(self.batch_size, len(order))
        return [order[i * size : (i + 1) * size] for i in range(self.steps_per_epoch())]

    def _endless_batches(self, generator: torch.Generator) -> Iterator[torch.Tensor]:
        """Epoch after epoch of shuffled batches (for the lr finder, which counts steps, not epochs)."""
        while True:
            yield from self._batches(generator)

    def _inputs(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """uint8 ``[B, 3, H, W]`` -> normalised float ``[B, 3, size, size]``.

        Augmented with draws from ``generator`` when one is given (training), else the eval transform.
        Training inputs are resized to ``train_side`` when it is set and smaller (progressive resizing).
        """
        pixels = self.policy(images, generator) if generator is not None else self.policy.eval_transform(images)
        if generator is not None and self.train_side is not None and self.train_side < pixels.shape[-2]:
            # progressive resizing: a stage may train on smaller images ([B, 3, side, side * W / H]);
            # antialiased, so a small circle stays a dimmer dot instead of vanishing between samples
            height, width = pixels.shape[-2:]
            pixels = torch.nn.functional.interpolate(
                pixels, size=(self.train_side, max(1, round(self.train_side * width / height))),
                mode="bilinear", antialias=True, align_corners=False)
        inputs = normalize(pixels)
        return inputs.contiguous(memory_format=torch.channels_last) if self.channels_last else inputs

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast when the resolved precision is bf16, else a no-op context."""
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def train_step(
        self, indices: torch.Tensor, optimizer: torch.optim.Optimizer, scheduler, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """One optimisation step on a batch of training indices; returns the detached loss (on device).

        Args:
            indices: int64 ``[B]`` rows of the training split.
            generator: augmentation draws (default: the learner's own).
        """
        train = self.task.splits["train"]
        inputs = self._inputs(train.images[indices], generator or self.generator)
        with self.autocast():
            logits = self.forward_model(inputs)
        loss = self.readout.loss(logits.float(), train.labels[indices])  # fp32 even under bf16 autocast
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        group = optimizer.param_groups[-1]
        self.schedule_trace.append((group["lr"], group["betas"][0]))  # Python floats: no device sync
        return loss.detach()

    def _check_finite(self, losses: list[torch.Tensor], epoch: int, stage: int, optimizer) -> None:
        values = torch.stack(losses)
        if not bool(torch.isfinite(values).all()):
            step = int((~torch.isfinite(values)).nonzero()[0])
            lrs = ", ".join(f"{g['lr']:.3g}" for g in optimizer.param_groups)
            raise NonFiniteLossError(
                f"training loss became {float(values[step])} at epoch {epoch} (stage {stage}), step {step + 1} "
                f"(lr {lrs}); try a lower lr (or lr=find), or precision=fp32",
                epoch=epoch,
            )

    def _notify(self, hook: str, *args: Any) -> None:
        for observer in self.observers:
            getattr(observer, hook)(*args)

    # ------------------------------------------------------------ fitting
    def fit_one_cycle(
        self, epochs: int, max_lr: float | slice | Sequence[float] = 3e-3, pct_start: float = 0.3, div: float = 25.0,
        stage: int = 1,
    ) -> list[dict[str, float]]:
        """Train ``epochs`` epochs with a fresh optimiser and one-cycle schedule; returns this fit's history rows.

        Args:
            epochs: number of passes over the training split.
            max_lr: peak lr: a float, a ``slice`` over layer groups, or 3 values.
            pct_start: fraction of steps spent warming up.
            div: initial lr = max_lr / div (final = max_lr / (div * 1e4)).
            stage: 1-based stage number, recorded in each history row.

        Raises:
            NonFiniteLossError: the training loss or the validation predictions became NaN/inf.
        """
        lrs = lr_range(max_lr)
        optimizer = self._optimizer(lrs)
        steps = self.steps_per_epoch()
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=lrs, total_steps=epochs * steps, pct_start=pct_start, anneal_strategy="cos",
            div_factor=div, final_div_factor=1e4, cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
        )
        self._notify("on_fit_start", stage, epochs, steps)
        smoother = _Smoother()
        rows = []
        for index in range(epochs):
            epoch = len(self.history) + 1
            started = time.perf_counter()
            train_loss = self._train_epoch(optimizer, scheduler, smoother, epoch, stage)
            if self.spec.bn_stats == "precise" and index == epochs - 1:
                self.recompute_bn_stats()  # before the last validation, so it reports what is evaluated
            valid = self.evaluate("valid", epoch=epoch)
            row = {
                "epoch": epoch,
                "train_loss": train_loss,
                "valid_loss": valid.loss,
                "error_rate": 1 - valid.accuracy,
                "accuracy": valid.accuracy,
                "time": time.perf_counter() - started,
                "stage": stage,
            }
            self.history.append(row)
            rows.append(row)
            self._log_row(row)
            self._notify("on_epoch_end", row)
        self._notify("on_fit_end")
        return rows

    def _train_epoch(self, optimizer, scheduler, smoother: "_Smoother", epoch: int, stage: int) -> float:
        self.model.train()
        losses: list[torch.Tensor] = []
        batches = self._batches(self.generator)
        for batch, indices in enumerate(batches, start=1):
            losses.append(self.train_step(indices, optimizer, scheduler))
            self.steps_done += 1
            if self.observers:
                lrs = [group["lr"] for group in optimizer.param_groups]
                self._notify("on_step", self.steps_done, lrs, optimizer.param_groups[-1]["betas"][0])
                self._notify("on_batch_end", epoch, batch, len(batches))
            if batch % _CHECK_EVERY == 0:  # sync rarely: each check waits for the device
                self._check_finite(losses[-_CHECK_EVERY:], epoch, stage, optimizer)
        self._check_finite(losses, epoch, stage, optimizer)
        for value in torch.stack(losses).cpu().tolist():
            smoother.add(value)
        return smoother.value

    def _log_row(self, row: dict[str, float]) -> None:
        if not self._table_started:
            self.log(f"{'epoch':<10}{'train_loss':<12}{'valid_loss':<12}{'error_rate':<12}{'time':<8}")
            self._table_started = True
        minutes, seconds = divmod(int(round(row["time"])), 60)
        self.log(
            f"{row['epoch']:<10}{row['train_loss']:<12.6f}{row['valid_loss']:<12.6f}"
            f"{row['error_rate']:<12.6f}{minutes:02d}:{seconds:02d}"
        )

    @torch.no_grad()
    def recompute_bn_stats(self, max_images: int = PRECISE_BN_IMAGES) -> None:
        """PreciseBN: set every BatchNorm layer's statistics from the trained weights.

        The running averages BatchNorm keeps while training mix statistics of
        many past weights; after a short, high-lr schedule they can be far from
        the final model's, and the model then scores near chance in eval mode
        while it fits the training batches. This replaces them by the plain
        average over ``max_images`` training images drawn at random, shown
        with the eval transform (as test images are), in batches of
        ``EVAL_BATCH_SIZE`` (``torch.optim.swa_utils.update_bn``: train mode,
        no gradients, no weight changes). The draw stays in random order: a
        photo folder's split is in class order, and batches of one class each
        would leave the variance between classes out of the averaged variances.
        """
        train = self.task.splits["train"].images
        generator = torch.Generator().manual_seed(derive_seed(self.spec.seed, "bn_stats"))
        chosen = torch.randperm(len(train), generator=generator)[:max_images]
        images = train[chosen.to(train.device)]
        batches = (self._inputs(images[start : start + EVAL_BATCH_SIZE])
                   for start in range(0, len(images), EVAL_BATCH_SIZE))
        wrapper = _Autocast(self.model, self.autocast)
        wrapper.train(self.model.training)  # update_bn puts back the mode of the module it is given
        torch.optim.swa_utils.update_bn(batches, wrapper)

    # ------------------------------------------------------------ lr finder
    def lr_find(
        self, start: float = 1e-7, end: float = 10.0, iterations: int = 100, stop_factor: float = 4.0,
        output: Path | None = None,
    ) -> LRFinderResult:
        """fastai's lr range test: exponential lr ramp, stop when the smoothed loss exceeds ``4x`` its best.

        Leaves no trace on what follows: the weights (BatchNorm statistics
        included) are restored, batches and augmentation come from a generator
        of its own, and the global RNG (dropout) is put back as it was. The
        suggestion is the lr of the steepest descent of the smoothed loss
        (skipping the first 10 and last 5 points, as fastai's plot).

        Args:
            output: file stem; writes ``<output>.csv`` and ``<output>.png`` when given.
        """
        saved = copy.deepcopy(self.model.state_dict())
        generator = torch.Generator().manual_seed(derive_seed(self.spec.seed, "lr_find"))
        optimizer = self._optimizer([start] * len(self.model.groups))
        ratio = (end / start) ** (1 / max(1, iterations - 1))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: ratio**step)
        smoother, best = _Smoother(), math.inf
        lrs, losses, smoothed = [], [], []
        trace_length = len(self.schedule_trace)
        self.model.train()
        with torch.random.fork_rng(devices=[self.device] if self.on_cuda else []):
            try:
                for indices in self._endless_batches(generator):
                    lr = optimizer.param_groups[-1]["lr"]
                    loss = float(self.train_step(indices, optimizer, scheduler, generator))
                    if not math.isfinite(loss):
                        break
                    smoother.add(loss)
                    lrs.append(lr)
                    losses.append(loss)
                    smoothed.append(smoother.value)
                    best = min(best, smoother.value)
                    if smoother.value > stop_factor * best or len(lrs) >= iterations:
                        break
            finally:
                self.model.load_state_dict(saved)
                del self.schedule_trace[trace_length:]  # the trace records fits only
        result = LRFinderResult(lrs, losses, smoothed, _steepest(lrs, smoothed))
        if output is not None:
            _save_lr_find(result, Path(output))
        return result

    # ------------------------------------------------------------ evaluation
    def evaluate(self, split: str = "valid", batch_size: int | None = None, epoch: int | None = None) -> Evaluation:
        """Predict one split with the eval transform; returns CPU tensors (see ``evaluate_splits``)."""
        return self.evaluate_splits([split], batch_size=batch_size, epoch=epoch)[split]

    @torch.no_grad()
    def evaluate_splits(
        self, splits: Sequence[str], batch_size: int | None = None, epoch: int | None = None, fused: bool = False,
    ) -> dict[str, Evaluation]:
        """Predict several splits in one pass over their images, with the eval transform.

        The splits' images are read batch by batch as one sequence, so small
        splits share batches instead of each ending in a short one.

        Args:
            splits: split names the task knows (``valid``, ``test``, ``test_dewind``...).
            batch_size: images per forward pass (default ``EVAL_BATCH_SIZE``, or the training batch if larger).
            epoch: the epoch being evaluated, for the error message (default: the last one trained).
            fused: predict with a copy of the model whose BatchNorm layers are folded into the
                convolutions (same predictions up to rounding; faster where the copy costs less than it saves).

        Returns:
            ``{split: Evaluation}`` in the order given.

        Raises:
            NonFiniteLossError: a prediction is NaN or infinite.
        """
        parts = [self.task.split(split) for split in splits]
        sizes = [len(part) for part in parts]
        batch_size = batch_size or max(self.batch_size, EVAL_BATCH_SIZE)
        self.model.eval()
        model = fuse_conv_bn(self.model) if fused else self.forward_model
        # One sequence of images when the splits share an image size (always, within a task).
        shapes = {tuple(part.images.shape[1:]) for part in parts}
        sequences = [torch.cat([part.images for part in parts])] if len(shapes) == 1 else [p.images for p in parts]
        logits_parts = []
        for images in sequences:
            for start in range(0, len(images), batch_size):
                with self.autocast():
                    logits_parts.append(model(self._inputs(images[start : start + batch_size])).float())
        outputs = (torch.cat(logits_parts) if logits_parts
                   else torch.zeros(0, self.readout.n_outputs, device=self.device))
        return {split: self._evaluation(split, split_outputs, part.labels, epoch)
                for split, split_outputs, part in zip(splits, outputs.split(sizes), parts)}

    def _evaluation(self, split: str, outputs: torch.Tensor, labels: torch.Tensor, epoch: int | None) -> Evaluation:
        """One split's ``Evaluation`` from its raw outputs ``[N, n_outputs]``; refuses non-finite predictions."""
        probs, estimates = self.readout.probs(outputs), self.readout.estimate(outputs)
        finite = torch.isfinite(probs).all(1) & torch.isfinite(estimates)
        if not bool(finite.all()):
            epoch = len(self.history) if epoch is None else epoch
            bad = int((~finite).sum())
            raise NonFiniteLossError(
                f"predictions on {split} became NaN/inf after epoch {epoch} ({bad} of {len(labels)} images): "
                f"the weights diverged; try a lower lr (or lr=find), or precision=fp32",
                epoch=epoch,
            )
        losses = self.readout.loss(outputs, labels, reduction="none") if len(labels) else torch.zeros(0)
        return Evaluation(
            split=split, labels=labels.cpu(), preds=self.readout.predict(outputs).cpu(), probs=probs.cpu(),
            losses=losses.cpu(), estimates=estimates.cpu(),
        )


class _Autocast(nn.Module):
    """``model`` called under ``autocast()`` (the learner's precision), for helpers that call a module."""

    def __init__(self, model: nn.Module, autocast: Callable[[], contextlib.AbstractContextManager]) -> None:
        super().__init__()
        self.model, self._autocast = model, autocast

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            return self.model(inputs)


class _Smoother:
    """fastai's SmoothenValue: debiased exponential moving average."""

    def __init__(self, beta: float = _SMOOTHING) -> None:
        self.beta, self.count, self.average = beta, 0, 0.0

    def add(self, value: float) -> None:
        self.count += 1
        self.average = self.beta * self.average + (1 - self.beta) * value

    @property
    def value(self) -> float:
        return self.average / (1 - self.beta**self.count) if self.count else math.nan


def _steepest(lrs: list[float], smoothed: list[float], skip_start: int = 10, skip_end: int = 5) -> float:
    """lr at the most negative gradient of the smoothed loss (fastai's ``min_grad_lr``)."""
    if len(lrs) < skip_start + skip_end + 3:
        skip_start, skip_end = 0, 0
    if len(lrs) < 3:
        return lrs[0] if lrs else math.nan
    losses = np.array(smoothed[skip_start : len(smoothed) - skip_end])
    return float(lrs[skip_start + int(np.gradient(losses).argmin())])


def _save_lr_find(result: LRFinderResult, stem: Path) -> None:
    """Write ``stem.csv`` (lr, loss, smoothed_loss) and ``stem.png`` atomically."""
    # matplotlib loads here, not at import: a cell without lr_find never pays its ~1 s of import.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["lr", "loss", "smoothed_loss"])
    writer.writerows(zip(result.lrs, result.losses, result.smoothed))
    atomic_write_text(stem.with_suffix(".csv"), text.getvalue())
    figure = Figure(figsize=(5, 3.5))
    FigureCanvasAgg(figure)  # this figure renders with Agg; the global backend is left alone
    axes = figure.add_subplot()
    axes.plot(result.lrs, result.smoothed)
    if math.isfinite(result.suggestion):
        axes.axvline(result.suggestion, color="red", linestyle="--", label=f"suggested {result.suggestion:.2e}")
        axes.legend()
    axes.set_xscale("log")
    axes.set_xlabel("learning rate")
    axes.set_ylabel("loss (smoothed)")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    atomic_write_bytes(stem.with_suffix(".png"), buffer.getvalue())
