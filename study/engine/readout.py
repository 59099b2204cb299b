"""Readouts: how a head's raw outputs become a loss, a count, a class and a distribution.

One ``Readout`` per head kind, so training, evaluation, predictions.csv and the
analysis never need to know which head produced the outputs:
``ClassifierReadout`` (``fastai``, ``linear``: softmax over ``C`` logits),
``RegressionReadout`` (one standardised output: the count or its log) and
``OrdinalReadout`` (CORAL's ``C - 1`` cumulative logits). ``create_readout``
picks one. docs/INSTRUMENTS.md, section 3, explains each head's loss and
estimate and what it can say about counts held out of training.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from study.errors import ConfigError

__all__ = [
    "CLASSIFIER_HEADS",
    "HEADS",
    "ClassifierReadout",
    "OrdinalReadout",
    "Readout",
    "RegressionReadout",
    "classes_are_counts",
    "class_counts",
    "create_readout",
    "n_outputs",
]

CLASSIFIER_HEADS = ("fastai", "linear")
HEADS = (*CLASSIFIER_HEADS, "regression", "ordinal")
REG_TARGETS = ("count", "log")
REG_LOSSES = ("mse", "huber")
# Huber's delta on the standardised target scale (one standard deviation of the class counts).
HUBER_DELTA = 1.0
_REDUCTIONS = ("mean", "sum", "none")


def n_outputs(head: str, num_classes: int) -> int:
    """Outputs a head of this kind has for ``num_classes`` classes: C, 1 (regression) or C - 1 (ordinal).

    Raises:
        ValueError: an unknown head, or too few classes for it.
    """
    if head not in HEADS:
        raise ValueError(f"head: unknown {head!r}; valid: {', '.join(HEADS)}")
    if num_classes < 1 or (head == "ordinal" and num_classes < 2):
        raise ValueError(f"num_classes: head {head!r} needs >= {2 if head == 'ordinal' else 1} classes, "
                         f"got {num_classes}")
    return {"regression": 1, "ordinal": num_classes - 1}.get(head, num_classes)


def classes_are_counts(classes: Sequence[str]) -> bool:
    """Whether every class name is an integer, i.e. the classes stand for counts."""
    try:
        [int(name) for name in classes]
    except (TypeError, ValueError):
        return False
    return True


def class_counts(classes: Sequence[str], head: str = "fastai") -> list[int]:
    """The count each class stands for: the class names as integers.

    A folder task whose class names are not all integers has no counts; its
    classes get their indices (0..C-1), which only a classifier head can use.

    Raises:
        ConfigError: a regression or ordinal head on classes that are not counts.
    """
    if classes_are_counts(classes):
        return [int(name) for name in classes]
    if head not in CLASSIFIER_HEADS:
        bad = next(name for name in classes if not str(name).lstrip("-").isdigit())
        raise ConfigError(f"head: {head!r} needs classes that are counts (integer names); class {bad!r} "
                          f"is not; use head fastai or linear")
    return list(range(len(classes)))


class Readout:
    """Loss, estimate, class and distribution from a head's raw outputs; class ``i`` stands for ``counts[i]``.

    Args:
        counts: the count of each class, strictly increasing (``[C]``).

    Attributes:
        counts: float ``[C]`` (CPU; moved to the outputs' device when used).
        n_outputs: outputs per image the head must produce.
    """

    kind = "readout"
    n_outputs: int

    def __init__(self, counts: Sequence[int]) -> None:
        values = [int(count) for count in counts]
        if not values or any(b <= a for a, b in zip(values, values[1:])):
            raise ValueError(f"counts: expected strictly increasing class counts, got {values}")
        self.counts = torch.tensor(values, dtype=torch.float32)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(counts={[int(c) for c in self.counts.tolist()]})"

    @property
    def num_classes(self) -> int:
        return len(self.counts)

    def _counts_on(self, outputs: torch.Tensor) -> torch.Tensor:
        return self.counts.to(outputs.device)

    def _checked(self, outputs: torch.Tensor) -> torch.Tensor:
        """``outputs`` as float32 ``[B, n_outputs]``, or a clear error."""
        if outputs.ndim != 2 or outputs.shape[1] != self.n_outputs:
            raise ValueError(f"outputs: {type(self).__name__} expects [B, {self.n_outputs}], "
                             f"got {list(outputs.shape)}")
        return outputs.float()

    def loss(self, outputs: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """The training loss.

        Args:
            outputs: float ``[B, n_outputs]`` (any float dtype; computed in float32).
            labels: int64 ``[B]`` class indices.
            reduction: ``mean`` (a scalar), ``sum`` or ``none`` (``[B]``, one loss per image).
        """
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction: unknown {reduction!r}; valid: {', '.join(_REDUCTIONS)}")
        per_image = self._per_image_loss(self._checked(outputs), labels)
        return per_image if reduction == "none" else getattr(per_image, reduction)()

    def _per_image_loss(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def estimate(self, outputs: torch.Tensor) -> torch.Tensor:
        """Point estimate of the count, float ``[B]`` (a count, not a class index)."""
        raise NotImplementedError

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        """Class index int64 ``[B]``: the class whose count is nearest the estimate (halves round down)."""
        return self.nearest_class(self.estimate(outputs))

    def nearest_class(self, estimates: torch.Tensor) -> torch.Tensor:
        """int64 ``[B]`` class index of the count nearest each estimate ``[B]`` (clamped to the range)."""
        counts = self._counts_on(estimates)
        midpoints = (counts[1:] + counts[:-1]) / 2
        return torch.bucketize(estimates.float().contiguous(), midpoints, right=False)

    def probs(self, outputs: torch.Tensor) -> torch.Tensor:
        """A distribution over the classes, float ``[B, C]`` (rows sum to 1)."""
        raise NotImplementedError

    def expected(self, outputs: torch.Tensor) -> torch.Tensor:
        """A continuous count, float ``[B]``: the estimate, except for classifiers (see theirs)."""
        return self.estimate(outputs)


class ClassifierReadout(Readout):
    """``fastai`` and ``linear`` heads: ``C`` logits and softmax cross-entropy."""

    kind = "classifier"

    def __init__(self, counts: Sequence[int]) -> None:
        super().__init__(counts)
        self.n_outputs = self.num_classes

    def _per_image_loss(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs, labels, reduction="none")

    def loss(self, outputs: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        # cross_entropy's own reduction: the same float32 numbers the learner has always trained on.
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction: unknown {reduction!r}; valid: {', '.join(_REDUCTIONS)}")
        return F.cross_entropy(self._checked(outputs), labels, reduction=reduction)

    def probs(self, outputs: torch.Tensor) -> torch.Tensor:
        """Softmax ``[B, C]``."""
        return self._checked(outputs).softmax(1)

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        """argmax of the softmax ``[B]`` (of the probabilities, as the learner always took it)."""
        return self.probs(outputs).argmax(1)

    def estimate(self, outputs: torch.Tensor) -> torch.Tensor:
        """The argmax class's count ``[B]``."""
        return self._counts_on(outputs)[self.predict(outputs)]

    def expected(self, outputs: torch.Tensor) -> torch.Tensor:
        """``sum_k p_k counts[k]`` ``[B]``."""
        return self.probs(outputs) @ self._counts_on(outputs)


class RegressionReadout(Readout):
    """One output: the count or log count standardised over the class counts, ``(t - mean) / std``.

    Args:
        counts: class counts (``>= 1`` for the log target).
        target: ``count`` or ``log``.
        loss: ``mse`` or ``huber`` (delta 1 on the standardised scale).

    Attributes:
        mean, std: of the target over ``counts`` (``std`` 1 for a single class).
    """

    kind = "regression"
    n_outputs = 1

    def __init__(self, counts: Sequence[int], target: str = "count", loss: str = "mse") -> None:
        super().__init__(counts)
        if target not in REG_TARGETS:
            raise ValueError(f"reg_target: unknown {target!r}; valid: {', '.join(REG_TARGETS)}")
        if loss not in REG_LOSSES:
            raise ValueError(f"reg_loss: unknown {loss!r}; valid: {', '.join(REG_LOSSES)}")
        if target == "log" and float(self.counts[0]) < 1:
            raise ConfigError(f"reg_target: 'log' needs counts >= 1; the classes include "
                              f"{int(self.counts[0])} (use reg_target count)")
        self.target, self.loss_name = target, loss
        values = self._transform(self.counts.double())
        self.mean = float(values.mean())
        std = float(values.std(unbiased=False)) if len(values) > 1 else 0.0
        self.std = std if std > 0 else 1.0

    def __repr__(self) -> str:
        return f"RegressionReadout(counts={[int(c) for c in self.counts.tolist()]}, target={self.target!r}, " \
               f"loss={self.loss_name!r})"

    def _transform(self, counts: torch.Tensor) -> torch.Tensor:
        return counts.log() if self.target == "log" else counts

    def normalised_target(self, labels: torch.Tensor) -> torch.Tensor:
        """float32 ``[B]``: the standardised target of each label (class index)."""
        counts = self._counts_on(labels)[labels]
        return ((self._transform(counts.double()) - self.mean) / self.std).float()

    def _per_image_loss(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        target = self.normalised_target(labels)
        if self.loss_name == "huber":
            return F.huber_loss(outputs[:, 0], target, reduction="none", delta=HUBER_DELTA)
        return F.mse_loss(outputs[:, 0], target, reduction="none")

    def estimate(self, outputs: torch.Tensor) -> torch.Tensor:
        """``mean + std * output`` as a count ``[B]`` (``exp`` of it for the log target)."""
        value = self.mean + self.std * self._checked(outputs)[:, 0]
        return value.exp() if self.target == "log" else value

    def probs(self, outputs: torch.Tensor) -> torch.Tensor:
        """One-hot of ``predict`` ``[B, C]``: a point estimate has no distribution over the counts."""
        return F.one_hot(self.predict(outputs), self.num_classes).float()


class OrdinalReadout(Readout):
    """CORAL's ``C - 1`` cumulative logits, ``sigmoid(g_k) = P(count > counts[k])`` (Cao, Mirjalili & Raschka 2020).

    The estimate is the continuous expected rank, not CORAL's thresholded rank, which cannot name a
    count held out inside the range (docs/INSTRUMENTS.md, section 3).
    """

    kind = "ordinal"

    def __init__(self, counts: Sequence[int]) -> None:
        super().__init__(counts)
        if self.num_classes < 2:
            raise ValueError(f"counts: the ordinal head needs >= 2 classes, got {self.num_classes}")
        self.n_outputs = self.num_classes - 1

    def levels(self, labels: torch.Tensor) -> torch.Tensor:
        """float32 ``[B, C-1]``: ``levels[i, k] = 1`` if label ``i > k`` (CORAL's extended binary labels)."""
        ranks = torch.arange(self.n_outputs, device=labels.device)
        return (labels[:, None] > ranks[None, :]).float()

    def _per_image_loss(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(outputs, self.levels(labels), reduction="none").sum(1)

    def cumulative(self, outputs: torch.Tensor) -> torch.Tensor:
        """``P(count > counts[k])`` for k = 0..C-2, float ``[B, C-1]``."""
        return torch.sigmoid(self._checked(outputs))

    def rank(self, outputs: torch.Tensor) -> torch.Tensor:
        """int64 ``[B]``: how many of the ``C - 1`` tasks say "more" (``P > 0.5``), CORAL's own class rule.

        Not what the readout scores (see the class docstring): a count held out inside the range
        has two tasks with identical targets, and this rule almost never lands on it.
        """
        return (self.cumulative(outputs) > 0.5).sum(1)

    def estimate(self, outputs: torch.Tensor) -> torch.Tensor:
        """The continuous expected rank ``counts[0] + sum_k P(count > counts[k]) * (counts[k+1] - counts[k])``, ``[B]``.

        For a contiguous range this is ``lo + sum_k P(count > lo + k)``. Unlike the
        rank it is not a whole number: it places a held-out count between its
        neighbours (3 of 1,2,4,5), and comparisons between two images seldom tie.
        ``predict`` is the class nearest it.
        """
        counts = self._counts_on(outputs)
        return counts[0] + self.cumulative(outputs) @ (counts[1:] - counts[:-1])

    def probs(self, outputs: torch.Tensor) -> torch.Tensor:
        """``P(class k) = P(> k-1) - P(> k)`` with ``P(> -1) = 1``, ``P(> C-1) = 0``; clamped >= 0, renormalised."""
        above = self.cumulative(outputs)
        ones = torch.ones_like(above[:, :1])
        bounds = torch.cat([ones, above, torch.zeros_like(ones)], 1)  # [B, C+1]
        probs = (bounds[:, :-1] - bounds[:, 1:]).clamp_min(0)  # non-monotone cumulatives would go negative
        return probs / probs.sum(1, keepdim=True).clamp_min(torch.finfo(probs.dtype).tiny)


def create_readout(head: str, counts: Sequence[int], reg_target: str = "count", reg_loss: str = "mse") -> Readout:
    """The readout of a head kind over a task's class counts.

    Args:
        head: ``fastai``, ``linear``, ``regression`` or ``ordinal``.
        counts: the count of each class, lo..hi (``class_counts(task.classes)``).
        reg_target, reg_loss: the regression head's target (``count``/``log``) and loss (``mse``/``huber``);
            ignored by the other heads.

    Raises:
        ValueError: an unknown head, target or loss (naming the valid ones), or counts not strictly increasing.
    """
    if head not in HEADS:
        raise ValueError(f"head: unknown {head!r}; valid: {', '.join(HEADS)}")
    if head in CLASSIFIER_HEADS:
        return ClassifierReadout(counts)
    if head == "regression":
        return RegressionReadout(counts, reg_target, reg_loss)
    return OrdinalReadout(counts)

