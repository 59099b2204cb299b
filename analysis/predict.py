"""A trained cell as a count predictor: checkpoint -> model -> counts from uint8 images.

Everything in ``analysis`` that asks a model for a count goes through
``Predictor``, so the pixel pipeline (the training policy's eval transform,
then normalisation) is defined once and matches what the cell was tested on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from study.data import augment
from study.engine.models import IMAGENET_MEAN, IMAGENET_STD, create_model, normalize
from study.engine.readout import ClassifierReadout, Readout, class_counts, create_readout
from study.run.runfolder import CellFolder
from study.config.spec import TRAIN_DEFAULTS

__all__ = ["PixelPipeline", "Predictor", "checkpoint_readout", "load_model", "load_predictor", "pixel_pipeline",
           "recorded_estimates"]


@dataclasses.dataclass
class Predictor:
    """A count reader: any head (classifier, regression, ordinal) through its readout.

    Attributes:
        model: ``[B, 3, h, w]`` normalised -> raw head outputs ``[B, n_outputs]``.
        transform: uint8 ``[B, 3, H, W]`` -> normalised float ``[B, 3, h, w]``
            (eval transform + normalisation), on the model's device.
        class_counts: ``[C]`` the count each class stands for (class ``i`` ->
            ``class_counts[i]``).
        device: where the model runs.
        batch_size: images per forward pass.
        readout: how the outputs are read (``study.engine.readout``). None: the
            model's own ``readout`` (``load_model`` sets it from the
            checkpoint), else a softmax classifier over ``class_counts``.
    """

    model: nn.Module
    transform: Callable[[torch.Tensor], torch.Tensor]
    class_counts: np.ndarray
    device: torch.device = torch.device("cpu")
    batch_size: int = 64
    readout: Readout | None = None

    def __post_init__(self) -> None:
        self.class_counts = np.asarray(self.class_counts)
        if self.readout is None:
            self.readout = getattr(self.model, "readout", None) or ClassifierReadout(self.class_counts.tolist())

    @torch.no_grad()
    def outputs(self, images: torch.Tensor) -> torch.Tensor:
        """Raw head outputs ``[N, n_outputs]`` (CPU float32) for uint8 images ``[N, 3, H, W]``."""
        self.model.eval()
        chunks = []
        for start in range(0, len(images), self.batch_size):
            batch = self.transform(images[start : start + self.batch_size].to(self.device))
            chunks.append(self.model(batch).float().cpu())
        return torch.cat(chunks) if chunks else torch.zeros((0, self.readout.n_outputs))

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """``readout.probs`` ``[N, C]`` (CPU float) for uint8 images ``[N, 3, H, W]``: the softmax for
        classifiers, CORAL's class probabilities for ordinal, the one-hot prediction for regression."""
        return self.readout.probs(self.outputs(images))

    def counts(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        """Predicted counts of uint8 images ``[N, 3, H, W]``.

        Returns:
            ``pred_class`` ``[N]`` (class index, ``readout.predict``), ``pred_count`` ``[N]`` (its count:
            the rounded estimate), ``expected_count`` ``[N]`` float (``readout.expected``: sum of class
            count x probability for classifiers, the estimate otherwise) and ``estimate`` ``[N]`` float
            (``readout.estimate``: the head's point estimate of the count).
        """
        outputs = self.outputs(images)
        pred_class = self.readout.predict(outputs).numpy()
        return {
            "pred_class": pred_class,
            "pred_count": self.class_counts[pred_class] if len(pred_class) else np.zeros(0),
            "expected_count": self.readout.expected(outputs).double().numpy(),
            "estimate": self.readout.estimate(outputs).double().numpy(),
        }


@dataclasses.dataclass
class PixelPipeline:
    """uint8 ``[B, 3, H, W]`` -> normalised float ``[B, 3, size, size]``: eval transform, then normalisation.

    Attributes:
        policy: the cell's augmentation policy (only its eval transform is used).
        mean, std: per-channel normalisation statistics.
    """

    policy: Any
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.normalize(self.policy.eval_transform(images))

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """Float pixels in 0..1 ``[B, 3, h, w]`` -> the model's input space."""
        return normalize(pixels, self.mean, self.std)


def pixel_pipeline(spec: dict[str, Any], normalize_stats: dict[str, Sequence[float]] | None) -> PixelPipeline:
    """The eval pixel pipeline a cell used: its policy's eval transform, then normalisation.

    Args:
        spec: the cell's TrainSpec dict (``aug``, ``size``).
        normalize_stats: ``{"mean": [3], "std": [3]}`` from the checkpoint (None: ImageNet).
    """
    # The one eval transform of every policy (eval_resize); specs from before it existed used squish.
    policy = augment.create(spec.get("aug", "none"), size=int(spec["size"]),
                            eval_resize=spec.get("eval_resize", TRAIN_DEFAULTS["eval_resize"]))
    stats = normalize_stats or {}
    return PixelPipeline(policy, tuple(stats.get("mean", IMAGENET_MEAN)), tuple(stats.get("std", IMAGENET_STD)))


def load_model(folder: CellFolder, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a cell's model from its checkpoint (``CellFolder.load_checkpoint``).

    The model's ``readout`` attribute is set to the head's readout
    (``checkpoint_readout``), so ``Predictor(model, ...)`` reads any head right.

    Returns:
        the model in eval mode on ``device`` and the checkpoint dict without
        its state dict (``arch``, ``head``, ``reg_target``, ``reg_loss``, ``class_counts``,
        ``classes``, ``size``, ``spec``, ``normalize``).

    Raises:
        FileNotFoundError: no checkpoint; DamagedFileError: one that cannot be read.
    """
    checkpoint = folder.load_checkpoint()
    model = create_model(checkpoint.arch, int(checkpoint.num_classes), weights="none", head=checkpoint.head,
                         image_size=int(checkpoint.size))
    model.load_state_dict(checkpoint.model)
    info = {key: value for key, value in checkpoint.to_dict().items() if key != "model"}
    model.readout = checkpoint_readout(info)
    return model.to(device).eval(), info


def load_predictor(
    folder: CellFolder, recorded_spec: dict[str, Any], recorded_classes: Sequence[Any], counting: bool,
    device: str | torch.device = "cpu",
) -> tuple[Predictor, dict[str, Any], list[str]]:
    """A finished cell's model as a ``Predictor`` with the pixel pipeline it was tested with.

    Args:
        folder: the cell folder (its checkpoint is loaded).
        recorded_spec, recorded_classes: the cell's spec.json and metrics.json classes, used
            where the checkpoint does not record them.
        counting: class ``i`` stands for the count ``classes[i]`` (else for its index).

    Returns:
        ``(predictor, spec, classes)``: the spec dict and class names the checkpoint records.
    """
    model, info = load_model(folder, device)
    spec = info.get("spec") or recorded_spec
    classes = [str(c) for c in info.get("classes") or recorded_classes]
    counts = np.array([int(c) for c in classes]) if counting else np.arange(len(classes))
    predictor = Predictor(model, pixel_pipeline(spec, info.get("normalize")), counts, torch.device(device))
    return predictor, spec, classes


def checkpoint_readout(checkpoint: dict[str, Any]) -> Readout:
    """The readout a checkpoint's head was trained with.

    Checkpoints from before the regression/ordinal heads have no
    ``class_counts``/``reg_target``/``reg_loss``: their counts come from the
    class names (indices when these are not integers) and the rest from the defaults.
    """
    head = checkpoint["head"]
    counts = checkpoint.get("class_counts") or class_counts([str(c) for c in checkpoint["classes"]], head)
    return create_readout(head, counts, checkpoint.get("reg_target", TRAIN_DEFAULTS["reg_target"]),
                          checkpoint.get("reg_loss", TRAIN_DEFAULTS["reg_loss"]))


def recorded_estimates(head: str, probs: np.ndarray, counts: np.ndarray, estimates: np.ndarray | None,
                       preds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The continuous count estimate and the predicted count from a cell's recorded predictions (predictions.csv).

    - classifier heads: the expected count ``probs @ counts`` (softmax-weighted) and the recorded
      (argmax) prediction;
    - ordinal heads: ``probs @ counts`` too, which is CORAL's expected rank
      ``lo + sum_k P(count > counts[k])`` (the differences of the cumulative probabilities telescope;
      exactly so when they are rank consistent, as CORAL's shared weights keep them up to the clamp),
      and the count nearest it. Older run folders recorded CORAL's whole-number rank as the estimate
      and prediction, which cannot name a held-out count; this reads every folder the same way;
    - regression: the recorded estimate (its probabilities are a one-hot of the rounded answer) and prediction.

    Args:
        head: the cell's head; probs: ``[N, C]``; counts: ``[C]`` class counts;
        estimates: ``[N]`` the recorded ``estimate`` column, or None (older folders); preds: ``[N]`` recorded counts.

    Returns:
        float ``[N]`` the continuous estimate and int ``[N]`` the predicted count.
    """
    counts = np.asarray(counts, dtype=float)
    expected = np.asarray(probs, dtype=float) @ counts
    if head == "regression" and estimates is not None:
        expected = np.where(np.isfinite(estimates), estimates, expected)
    if head != "ordinal":
        return expected, np.asarray(preds).astype(int)
    nearest = counts[np.argmin(np.abs(expected[:, None] - counts[None, :]), axis=1)]  # a tie: the lower count
    return expected, nearest.astype(int)
