"""Training stages: the ``stages`` field of a ``TrainSpec`` and what it resolves to.

fastai's transfer-learning recipe is a sequence of one-cycle fits on one
model: ``fit_one_cycle`` with the pretrained body frozen, then ``unfreeze()``
and another ``fit_one_cycle`` with discriminative learning rates. The
``stages`` field writes that sequence as text::

    frozen 3@3e-3, unfrozen 15@1e-6:1e-4

Grammar (whitespace around tokens is free)::

    stages := stage ("," stage)*
    stage  := kind epochs "@" lr [side "px"]
    kind   := "frozen" | "unfrozen"
    epochs := integer >= 1
    lr     := number > 0          (one max lr for every layer group)
            | number ":" number   (lo:hi, 0 < lo <= hi: spread geometrically over the
                                   layer groups, fastai's slice(lo, hi))
            | "find"              (lr_find on the model as it is at the start of the stage)
    side   := integer >= 8        (train this stage on images resized to this side, at most
                                   the cell's size: fastai's progressive resizing; the
                                   validation and test images keep the cell's size)

The schedule has one representation, a tuple of ``Stage``
(``TrainSpec.schedule``), resolved when the spec is built: an empty ``stages``
is the shorthand for one stage made of ``epochs``, ``lr`` and ``freeze``
(``freeze=auto``: frozen iff the weights are pretrained); a set ``stages`` is
rewritten in canonical form and ``epochs``, ``lr`` and ``freeze`` become what
the stages do (``describe_schedule``), so two spellings of one schedule are one
cell and the fields never describe something that does not run.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from typing import Literal

from study.errors import ConfigError

__all__ = ["Stage", "STAGE_KINDS", "Shorthand", "parse_stages", "shorthand_stage", "describe_schedule",
           "stages_text"]

STAGE_KINDS = ("frozen", "unfrozen")
_EXAMPLE = "e.g. 'frozen 3@3e-3, unfrozen 15@1e-6:1e-4'"
_STAGE = re.compile(r"^(?P<kind>\S+)\s+(?P<epochs>\S+)\s*@\s*(?P<lr>\S*)(?:\s+(?P<side>\S+))?$")
MIN_SIDE = 8


@dataclasses.dataclass(frozen=True)
class Stage:
    """One one-cycle fit.

    Attributes:
        kind: ``frozen`` (body frozen except BatchNorm) or ``unfrozen``.
        epochs: epochs of this stage's one-cycle schedule.
        lr: the max lr: a float for every layer group, ``(lo, hi)`` spread over
            the groups, or ``"find"``.
        side: train images resized to this side in pixels (progressive resizing), or None for the
            cell's ``size``.
    """

    kind: Literal["frozen", "unfrozen"]
    epochs: int
    lr: float | tuple[float, float] | Literal["find"]
    side: int | None = None

    @property
    def frozen(self) -> bool:
        return self.kind == "frozen"

    def max_lr(self) -> float | slice:
        """The lr as ``Learner.fit_one_cycle`` takes it (not valid for ``find``)."""
        if self.lr == "find":
            raise ValueError("a 'find' stage has no lr until lr_find has run")
        if isinstance(self.lr, tuple):
            return slice(*self.lr)
        return float(self.lr)

    def describe(self) -> str:
        """The stage in the ``stages`` grammar, e.g. ``unfrozen 15@1e-06:0.0001``."""
        lr = f"{self.lr[0]:g}:{self.lr[1]:g}" if isinstance(self.lr, tuple) else (
            self.lr if self.lr == "find" else f"{self.lr:g}")
        return f"{self.kind} {self.epochs}@{lr}" + (f" {self.side}px" if self.side is not None else "")


def parse_stages(text: str) -> list[Stage]:
    """Parse the ``stages`` grammar (module docstring).

    Args:
        text: e.g. ``"frozen 3@3e-3, unfrozen 15@1e-6:1e-4"``; must not be empty.

    Returns:
        the stages in order.

    Raises:
        ConfigError: a one-line message naming the bad stage, the bad part and the valid forms.
    """
    if not text.strip():
        raise ConfigError(f"stages: empty; expected one or more comma-separated stages, {_EXAMPLE}")
    return [_parse_stage(part.strip(), number) for number, part in enumerate(text.split(","), start=1)]


def _parse_stage(part: str, number: int) -> Stage:
    where = f"stages: stage {number} {part!r}"
    if not part:
        raise ConfigError(f"{where}: empty stage (a stray comma?); {_EXAMPLE}")
    match = _STAGE.match(part)
    if match is None:
        raise ConfigError(f"{where}: expected '<frozen|unfrozen> <epochs>@<lr> [<side>px]', {_EXAMPLE}")
    kind, epochs_text, lr_text, side_text = match["kind"], match["epochs"], match["lr"], match["side"]
    if kind not in STAGE_KINDS:
        raise ConfigError(f"{where}: unknown kind {kind!r}; valid: {', '.join(STAGE_KINDS)}")
    if not epochs_text.isdigit() or int(epochs_text) < 1:
        raise ConfigError(f"{where}: epochs {epochs_text!r} is not a whole number >= 1")
    return Stage(kind, int(epochs_text), _parse_lr(lr_text, where), _parse_side(side_text, where))  # type: ignore[arg-type]


def _parse_side(text: str | None, where: str) -> int | None:
    if text is None:
        return None
    digits = text[:-2] if text.endswith("px") else ""
    if not digits.isdigit() or int(digits) < MIN_SIDE:
        raise ConfigError(f"{where}: training side {text!r}: expected <pixels>px with pixels >= {MIN_SIDE}, "
                          "e.g. 32px")
    return int(digits)


def _parse_lr(text: str, where: str) -> float | tuple[float, float] | Literal["find"]:
    valid = "valid: a number > 0, lo:hi with 0 < lo <= hi, or find"
    if text == "find":
        return "find"
    if not text:
        raise ConfigError(f"{where}: missing lr after '@'; {valid}")
    parts = text.split(":")
    if len(parts) > 2:
        raise ConfigError(f"{where}: lr {text!r} has more than one ':'; {valid}")
    values = []
    for value_text in parts:
        try:
            value = float(value_text)
        except ValueError:
            raise ConfigError(f"{where}: lr {value_text!r} is not a number; {valid}") from None
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{where}: lr {value_text!r} must be a finite number > 0; {valid}")
        values.append(value)
    if len(values) == 1:
        return values[0]
    if values[0] > values[1]:
        raise ConfigError(f"{where}: lr {text!r} has lo > hi; write the smaller lr first ({valid})")
    return (values[0], values[1])


def shorthand_stage(epochs: int, lr: float | Literal["find"], freeze: str, pretrained: bool) -> Stage:
    """The one stage an empty ``stages`` means.

    Args:
        epochs, lr: the stage's epochs and max lr (or ``"find"``).
        freeze: ``yes``, ``no`` or ``auto`` (frozen iff ``pretrained``).
        pretrained: whether the body starts from trained weights.
    """
    frozen = freeze == "yes" or (freeze == "auto" and pretrained)
    return Stage("frozen" if frozen else "unfrozen", epochs, lr if lr == "find" else float(lr))


@dataclasses.dataclass(frozen=True)
class Shorthand:
    """What ``epochs``, ``lr`` and ``freeze`` say about a schedule of stages (``describe_schedule``)."""

    epochs: int
    lr: float | Literal["find"]
    freeze: Literal["yes", "no"]


def describe_schedule(stages: Sequence[Stage]) -> Shorthand:
    """The ``epochs``/``lr``/``freeze`` fields of a spec whose ``stages`` are set.

    ``epochs`` is the total over the stages (what trains, what the dry run
    estimates); ``lr`` the last stage's max lr (the head's, ``hi``, for a
    ``lo:hi`` range; ``find`` when that stage finds its lr); ``freeze`` whether
    the first stage is frozen. A single stage without an lr range gives the
    fields its shorthand would have.

    Raises:
        ValueError: no stages.
    """
    if not stages:
        raise ValueError("a schedule has at least one stage")
    last = stages[-1].lr
    lr: float | Literal["find"] = last[1] if isinstance(last, tuple) else last
    return Shorthand(sum(stage.epochs for stage in stages), lr, "yes" if stages[0].frozen else "no")


def stages_text(stages: Sequence[Stage]) -> str:
    """Stages in the canonical ``stages`` grammar, e.g. ``frozen 3@0.003, unfrozen 15@0.0001``."""
    return ", ".join(stage.describe() for stage in stages)
