"""``TrainSpec``: one training run, and the vocabulary derived from its fields.

Each field carries its own metadata (``dataclasses.field(metadata=...)``): a
help text, a short human label, the task it applies to, and its role:

- ``setting``: defines what is studied (count range, augmentation, lr ...);
  cells that agree on every setting are replicates of one configuration;
- ``seed``: a replicate index (init seed, data seed);
- ``runtime``: how a run executes, not what it studies (``compile``).

Tables, groupings, figure legends, the sweep's summary and the flags of
``python -m study.train`` are all derived from this metadata: adding a field
here adds it everywhere, and nothing else lists the fields by hand.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import typing
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from study.config.coerce import from_mapping
from study.errors import ConfigError
from study.config.schedule import Stage, describe_schedule, parse_stages, shorthand_stage, stages_text
from synth.scenes import parse_range

__all__ = [
    "TrainSpec",
    "FieldInfo",
    "spec_fields",
    "field_info",
    "setting_fields",
    "seed_fields",
    "fields_for_task",
    "ignored_fields",
    "varying_fields",
    "configuration_key",
    "field_label",
    "spec_hash",
    "parse_count_set",
    "TRAIN_DEFAULTS",
    "HASHED_WHEN_SET",
]

# Largest accepted values (see TrainSpec.__post_init__).
MAX_SIZE = 4096
MAX_EPOCHS = 10_000
MAX_BATCH = 65_536
MAX_IMAGES = 10_000_000
MAX_SEED = 2**32 - 1  # numpy's seed range
MAX_LR = 10.0

Role = Literal["setting", "seed", "runtime"]
TaskName = Literal["counting", "folder"]


def _field(default: Any, help: str, *, label: str = "", task: TaskName | None = None, role: Role = "setting") -> Any:
    """A dataclass field with the study's metadata (see the module docstring)."""
    return dataclasses.field(default=default, metadata={"help": help, "label": label, "task": task, "role": role})


@dataclasses.dataclass(frozen=True)
class TrainSpec:
    """One training run: a task, a model, a recipe and its seeds.

    Defaults follow the original post's fastai v1 recipe where it applies
    (docs/POST.md); ``weights`` defaults to ``none`` because ImageNet weights
    need a download (``imagenet`` is what the post used).
    """

    # --- task ---
    task: TaskName = _field("counting", "counting (synthetic circles) or folder (photos, one sub-folder per class)")
    counts: str = _field("1-5", "inclusive class range lo-hi, e.g. 45-50", label="count range", task="counting")
    sizes: Literal["fixed", "varied", "dewind"] = _field(
        "fixed", "circle-size regime: one radius, radii varied per circle, or DeWind-controlled scenes",
        label="circle sizes", task="counting")
    radius: float = _field(0.0, "item radius in px of the scene canvas (`scene_size`, or `size` when 0); "
                           "0 = auto (one radius for the compared ranges)",
                           task="counting")
    min_gap: float = _field(0.0, "min edge-to-edge gap in px; 0 = auto (1 px per 64 px of size)",
                            label="gap", task="counting")
    aspect: float = _field(1.0, "canvas width / height (the post's figures were 4:3)", task="counting")
    held_out: str = _field(
        "", "counts inside `counts` withheld from training and tested on a split of their own (test_held_out): "
        "a count, a range or a comma list, e.g. 3 of 1-5 (interpolation: train on 1,2,4,5) or 21-30 of 1-30 "
        "(extrapolation: train on 1-20); empty = none", label="held-out counts", task="counting")
    shape: Literal["circle", "square", "triangle", "mixed"] = _field(
        "circle", "item shape (equal area at equal radius); mixed = each item's shape drawn at random",
        task="counting")
    colour: Literal["fixed", "random"] = _field(
        "fixed", "item colour: one colour for every target, or a random colour per item", task="counting")
    distractors: str = _field(
        "0", "items per scene that are not counted, a number or a range lo-hi; they differ from the targets "
        "by `distractor_kind`", task="counting")
    distractor_kind: Literal["colour", "shape"] = _field(
        "colour", "how distractors differ from targets: another colour, or another shape", label="distractor kind",
        task="counting")
    overlap: bool = _field(
        False, "items may overlap (the label stays exact; connected components no longer equal the count)",
        task="counting")
    scene_size: int = _field(
        0, "side in px of the canvas the scenes are drawn on, scaled to `size` for rendering; 0 = `size`. "
        "Cells with the same scene_size and data seed see the same scenes at every `size` (a resolution "
        "sweep separates crowding from a counting limit)", label="scene px", task="counting")
    n_train: int = _field(2500, "images split into train/valid", label="images", task="counting")
    n_test: int = _field(1000, "images in a fresh test set with its own seed", label="test images", task="counting")
    data: str = _field("", "root folder with one sub-folder of images per class", label="photo folder", task="folder")
    resize: Literal["crop", "squish", "pad"] = _field("crop", "how photos reach `size`", task="folder")
    eval_resize: Literal["squish", "crop"] = _field(
        "squish", "how a non-square canvas reaches `size` for validation and test, the same for every policy "
        "(squish keeps every circle; crop is what fastai did and can cut circles off)",
        label="eval resize", task="counting")
    n_test_dewind: int = _field(
        1000, "images in a second test set with count independent of size and spacing (DeWind); 0 = none",
        label="controlled test images", task="counting")
    valid_pct: float = _field(0.2, "fraction of the images held out for validation", label="valid fraction")
    # --- model ---
    arch: str = _field("resnet34", "torchvision resnet name or timm:<name>", label="architecture")
    weights: str = _field("none", "imagenet, none, or the path of a state-dict file", label="init")
    head: Literal["fastai", "linear", "regression", "ordinal"] = _field(
        "fastai", "readout: fastai's two-layer classifier head, one linear classifier layer, regression "
        "(one output: the count or its log, see reg_target) or ordinal (cumulative logits over the counts, "
        "CORAL)")
    reg_target: Literal["count", "log"] = _field(
        "count", "what the regression head predicts: the count or its natural log (standardised over the "
        "class counts)", label="regression target")
    reg_loss: Literal["mse", "huber"] = _field(
        "mse", "loss of the regression head: mean squared error or Huber (delta 1 on the standardised target)",
        label="regression loss")
    # --- recipe ---
    aug: str = _field("fastai", "augmentation policy (study.data.augment registry)", label="augmentation")
    size: int = _field(64, "training image size in px (the post: 224)", label="px")
    epochs: int = _field(5, "epochs of the one-cycle schedule (with `stages` set: their total, derived)")
    lr: float | Literal["find"] = _field(
        3e-3, "max lr of the one-cycle schedule, or find (lr_find) (with `stages` set: the last stage's, derived)")
    freeze: Literal["auto", "yes", "no"] = _field(
        "auto", "freeze the body: auto = iff pretrained weights (with `stages` set: the first stage's, derived)")
    batch_size: int = _field(64, "images per training step", label="batch size")
    weight_decay: float = _field(1e-2, "AdamW weight decay", label="weight decay")
    head_dropout: float = _field(
        0.5, "fastai's ps: dropout before the head's last linear layer, half of it before the first (the "
        "fastai, regression and ordinal heads; the post: 0.5)", label="head dropout")
    bn_stats: Literal["running", "precise"] = _field(
        "running", "BatchNorm statistics the model is evaluated with: running = the running averages kept "
        "while training (fastai, PyTorch); precise = recomputed over the training images (eval transform) "
        "after each stage's last epoch (PreciseBN), which a short schedule needs", label="BN statistics")
    stages: str = _field(
        "", "training stages run one after another on the same model, e.g. "
        "'frozen 3@3e-3, unfrozen 15@1e-6:1e-4' (epochs@max lr; lo:hi = discriminative lrs over the "
        "layer groups; @find = lr_find); empty = one stage of `epochs` at `lr` with `freeze`. When set, the "
        "stages are what runs: `epochs`, `lr` and `freeze` are rewritten to describe them")
    precision: Literal["auto", "fp32", "bf16"] = _field(
        "auto", "auto = bf16 autocast + channels_last where the device has native bf16 (CUDA, CPUs with "
        "AVX512-BF16 or AMX), else fp32")
    # --- replicates ---
    seed: int = _field(0, "init seed: weights, batch order, augmentation (and the data, unless data_seed is set)",
                       role="seed")
    data_seed: int = _field(-1, "data seed: scenes and the train/valid split; -1 = same as seed",
                            label="data seed", role="seed")
    # --- runtime ---
    compile: bool = _field(False, "torch.compile the model (CUDA)", role="runtime")

    def __post_init__(self) -> None:
        self._resolve_stages()
        # Upper bounds are far beyond any study but stop a typo (an extra 0, 1e9) from reaching a
        # MemoryError, an overflow or hours of work before anything is said.
        checks = [
            ("size", 16 <= self.size <= MAX_SIZE, f"an image size from 16 to {MAX_SIZE} px"),
            ("epochs", 1 <= self.epochs <= MAX_EPOCHS, f"from 1 to {MAX_EPOCHS} epochs"),
            ("batch_size", 1 <= self.batch_size <= MAX_BATCH, f"a batch size from 1 to {MAX_BATCH}"),
            ("n_train", 10 <= self.n_train <= MAX_IMAGES, f"from 10 to {MAX_IMAGES:,} images"),
            ("n_test", 0 <= self.n_test <= MAX_IMAGES, f"from 0 to {MAX_IMAGES:,} images"),
            ("valid_pct", 0.0 < self.valid_pct < 1.0, "a fraction strictly between 0 and 1"),
            ("aspect", 0.25 <= self.aspect <= 4.0, "a width/height ratio between 0.25 and 4"),
            ("radius", 0 <= self.radius <= MAX_SIZE, f"a radius from 0 (auto) to {MAX_SIZE} px"),
            ("min_gap", 0 <= self.min_gap <= MAX_SIZE, f"a gap from 0 (auto) to {MAX_SIZE} px"),
            ("seed", 0 <= self.seed <= MAX_SEED, f"a seed from 0 to {MAX_SEED}"),
            ("data_seed", -1 <= self.data_seed <= MAX_SEED, f"a seed from 0 to {MAX_SEED}, or -1 for the same as seed"),
            ("n_test_dewind", 0 <= self.n_test_dewind <= MAX_IMAGES, f"from 0 to {MAX_IMAGES:,} images"),
            ("scene_size", self.scene_size == 0 or 16 <= self.scene_size <= MAX_SIZE,
             f"0 (= size) or a side from 16 to {MAX_SIZE} px"),
            ("weight_decay", 0 <= self.weight_decay <= 1, "a weight decay from 0 to 1"),
            ("head_dropout", 0 <= self.head_dropout < 1, "a dropout probability from 0 to below 1"),
        ]
        for key, ok, expected in checks:
            if not ok:  # a NaN fails every comparison, so it lands here too
                raise ConfigError(f"{key}: expected {expected}, got {getattr(self, key)!r}")
        if isinstance(self.lr, float) and not 0 < self.lr <= MAX_LR:
            raise ConfigError(f"lr: expected a positive number up to {MAX_LR:g}, or 'find', got {self.lr!r}")
        self._check_choices()
        if self.task == "counting":
            self._check_counting()
        if self.task == "folder" and not self.data:
            raise ConfigError("data: the folder task needs data=<folder with one sub-folder per class>")

    def _resolve_stages(self) -> None:
        """A set ``stages`` in canonical form, and ``epochs``/``lr``/``freeze`` rewritten to describe it.

        The one place the two ways of writing a schedule meet: afterwards the
        fields (hence the cell id, labels and the dry-run estimate) say what
        runs, and two spellings of one schedule are one cell. An empty
        ``stages`` is left as it is (its cells keep their ids).

        Raises:
            ConfigError: a ``stages`` value the grammar refuses (study.config.schedule).
        """
        if not self.stages.strip():
            if self.stages:
                object.__setattr__(self, "stages", "")
            return
        stages = parse_stages(self.stages)
        for number, stage in enumerate(stages, start=1):
            peak = stage.lr[1] if isinstance(stage.lr, tuple) else stage.lr
            if peak != "find" and peak > MAX_LR:
                raise ConfigError(f"stages: stage {number} {stage.describe()!r}: lr {peak:g} is above {MAX_LR:g}; "
                                  "expected a positive lr up to that, or find")
            if stage.side is not None and stage.side > self.size:
                raise ConfigError(f"stages: stage {number} {stage.describe()!r}: training side {stage.side} px is "
                                  f"above the cell's size {self.size}; expected at most {self.size}px")
        described = describe_schedule(stages)
        # A frozen dataclass: __post_init__ is the one moment a field may still be set.
        object.__setattr__(self, "stages", stages_text(stages))
        object.__setattr__(self, "epochs", described.epochs)
        object.__setattr__(self, "lr", described.lr)
        object.__setattr__(self, "freeze", described.freeze)

    @property
    def schedule(self) -> tuple[Stage, ...]:
        """The stages this spec trains, in order: ``stages``, or the one stage ``epochs``/``lr``/``freeze`` make."""
        if self.stages:
            return tuple(parse_stages(self.stages))
        return (shorthand_stage(self.epochs, self.lr, self.freeze, pretrained=self.weights != "none"),)

    def _check_choices(self) -> None:
        """Every ``Literal`` field holds one of its choices (the CLI and config files check this too;
        this catches specs built in Python)."""
        for name, choices in _choice_fields():  # cached: get_type_hints per spec cost seconds in a large sweep
            if getattr(self, name) not in choices:
                raise ConfigError(f"{name}: unknown {getattr(self, name)!r}; valid: {', '.join(choices)}")

    def _check_counting(self) -> None:
        """Count range, held-out counts, distractors and the stimulus combinations that cannot be drawn."""
        try:
            lo, hi = parse_range(self.counts, "counts")
            parse_range(self.distractors, "distractors", minimum=0)
        except ValueError as error:
            raise ConfigError(str(error)) from None
        if lo == hi:
            # One class: every prediction is right, and the cell would report accuracy 1.000.
            raise ConfigError(f"counts: {self.counts!r} is a single count, so there is nothing to tell apart; "
                              f"give a range of at least 2 counts, e.g. {lo}-{lo + 1}")
        self.held_out_counts  # parses and checks against counts
        if self.shape == "mixed" and self.distractor_kind == "shape" and self.has_distractors:
            raise ConfigError("distractor_kind: 'shape' needs one target shape; shape 'mixed' uses them all "
                              "(use distractor_kind = 'colour', or a single shape)")
        if self.colour == "random" and self.distractor_kind == "colour" and self.has_distractors:
            raise ConfigError("distractor_kind: 'colour' needs one target colour; colour 'random' uses them all "
                              "(use distractor_kind = 'shape', or colour = 'fixed')")

    @property
    def has_distractors(self) -> bool:
        """Whether scenes hold items that are not counted."""
        return parse_range(self.distractors, "distractors", minimum=0)[1] > 0

    @property
    def count_range(self) -> tuple[int, int]:
        """``(lo, hi)`` of ``counts``: every count the model can be asked about (its classes)."""
        return parse_range(self.counts, "counts")

    @property
    def held_out_counts(self) -> tuple[int, ...]:
        """The counts withheld from training, sorted (empty: none).

        Raises:
            ConfigError: not a count, range or comma list; a count outside ``counts``;
                or fewer than 2 counts left to train on.
        """
        if not str(self.held_out).strip():
            return ()
        held = parse_count_set(self.held_out, "held_out")
        lo, hi = self.count_range
        outside = [count for count in held if not lo <= count <= hi]
        if outside:
            raise ConfigError(f"held_out: {', '.join(map(str, outside))} not inside counts {self.counts}; "
                              f"held-out counts are a subset of the counts the model reads out")
        if (hi - lo + 1) - len(held) < 2:
            raise ConfigError(f"held_out: {self.held_out!r} leaves fewer than 2 of counts {self.counts} to train on")
        return held

    @property
    def train_counts(self) -> tuple[int, ...]:
        """The counts the model is trained (and i.i.d.-tested) on: ``counts`` minus ``held_out``."""
        lo, hi = self.count_range
        held = set(self.held_out_counts)
        return tuple(count for count in range(lo, hi + 1) if count not in held)

    @property
    def render_scale(self) -> float:
        """``size / scene_size``: how scene geometry is scaled for rendering (1 when scene_size is 0)."""
        return self.size / self.scene_size if self.scene_size else 1.0

    @property
    def resolved_data_seed(self) -> int:
        """The seed of the scenes and the split (``data_seed``, or ``seed`` when it is -1)."""
        return self.seed if self.data_seed < 0 else self.data_seed

    def to_dict(self) -> dict[str, Any]:
        """Every field -> its value (all scalars, so no deep copy as ``dataclasses.asdict`` makes)."""
        return {name: getattr(self, name) for name in TRAIN_DEFAULTS}

    @classmethod
    def from_dict(cls, settings: dict[str, Any]) -> "TrainSpec":
        """The spec a run recorded (spec.json, a checkpoint's ``spec``), types checked; keys that are not
        fields of this version (written by another version of the kit) are left out.

        Raises:
            ConfigError: a value of the wrong type or an invalid spec.
        """
        fields = {f.name for f in dataclasses.fields(cls)}
        return from_mapping(cls, {key: value for key, value in settings.items() if key in fields})

    def cell_id(self) -> str:
        """A readable, stable folder name: the main axes plus a hash of everything."""
        if self.task == "counting":
            what = f"count{self.counts}-{self.sizes}"
        else:
            what = "folder-" + (self.data.rstrip("/").split("/")[-1] or "data")
        weights = self.weights if self.weights in ("imagenet", "none") else "file"
        name = f"{what}-{self.aug}-{self.arch.replace(':', '_')}-{weights}-n{self.n_train}-s{self.seed}"
        hashed = {key: value for key, value in self.to_dict().items()
                  if not (key in HASHED_WHEN_SET and value == TRAIN_DEFAULTS[key])}
        return f"{name}-{spec_hash(hashed)[:8]}"


def parse_count_set(text: Any, name: str = "counts") -> tuple[int, ...]:
    """Counts written as a number, a range or a comma list (``3``, ``21-30``, ``2,4``, ``1-2,7``), sorted.

    Raises:
        ConfigError: naming ``name``, the bad part and the accepted forms.
    """
    counts: set[int] = set()
    for part in str(text).split(","):
        try:
            lo, hi = parse_range(part.strip(), name)
        except ValueError:
            raise ConfigError(
                f"{name}: cannot read {part.strip()!r} in {str(text)!r}; expected counts >= 1 as a number, "
                f"a range lo-hi or a comma list, e.g. 3, 21-30 or 2,4") from None
        counts.update(range(lo, hi + 1))
    return tuple(sorted(counts))


def spec_hash(data: Any) -> str:
    """SHA-256 of a JSON-able value with sorted keys (stable across runs and machines)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


# ---------------------------------------------------------------- derived vocabulary


@dataclasses.dataclass(frozen=True)
class FieldInfo:
    """What the study knows about one TrainSpec field.

    Attributes:
        name: the field name (``n_train``); annotation: its type.
        default: its default; help: one line for --help and docs.
        label: a short human label for tables and legends (``images``).
        task: the task it applies to, or None for every task.
        role: ``setting``, ``seed`` or ``runtime``.
    """

    name: str
    annotation: Any
    default: Any
    help: str
    label: str
    task: str | None
    role: str


@functools.cache  # typing.get_type_hints is slow, and the answer never changes in a process
def spec_fields() -> tuple[FieldInfo, ...]:
    """Every TrainSpec field with its metadata, in declaration order."""
    hints = typing.get_type_hints(TrainSpec)
    return tuple(
        FieldInfo(f.name, hints[f.name], f.default, f.metadata["help"], f.metadata["label"] or f.name,
                  f.metadata["task"], f.metadata["role"])
        for f in dataclasses.fields(TrainSpec)
    )


@functools.cache
def _choice_fields() -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """``(name, choices)`` of every ``Literal`` field."""
    return tuple((info.name, typing.get_args(info.annotation)) for info in spec_fields()
                 if typing.get_origin(info.annotation) is Literal)


def field_info(name: str) -> FieldInfo:
    """The metadata of one field. Raises ConfigError naming the valid fields."""
    for info in spec_fields():
        if info.name == name:
            return info
    raise ConfigError(f"{name}: unknown TrainSpec field; valid: {', '.join(f.name for f in spec_fields())}")


def field_label(name: str) -> str:
    """Human label of a field (``count range`` for ``counts``); unknown names come back unchanged."""
    for info in spec_fields():
        if info.name == name:
            return info.label
    return name


def setting_fields() -> tuple[str, ...]:
    """Fields that define a configuration: cells equal on all of them are replicates."""
    return tuple(info.name for info in spec_fields() if info.role == "setting")


def seed_fields() -> tuple[str, ...]:
    """Replicate fields (init seed, data seed)."""
    return tuple(info.name for info in spec_fields() if info.role == "seed")


def fields_for_task(task: str) -> tuple[str, ...]:
    """Fields that mean something for ``task`` (shared ones included)."""
    return tuple(info.name for info in spec_fields() if info.task in (None, task))


def ignored_fields(task: str) -> tuple[str, ...]:
    """Fields ``task`` ignores (a folder cell ignores ``counts``; a counting cell ignores ``data``)."""
    return tuple(info.name for info in spec_fields() if info.task not in (None, task))


def configuration_key(spec: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The setting fields of a spec dict as a hashable key (fields the task ignores are blank).

    Cells with equal keys differ only in seeds (or runtime options), so they
    are pooled as replicates.
    """
    ignored = ignored_fields(str(spec.get("task", "counting")))
    return tuple(
        (name, "" if name in ignored else json.dumps(spec.get(name, TRAIN_DEFAULTS[name]), default=str))
        for name in setting_fields()
    )


def varying_fields(specs: Iterable[dict[str, Any]], roles: Sequence[str] = ("setting",)) -> list[str]:
    """Fields of the given roles whose value differs between specs (ignored fields count as blank)."""
    specs = list(specs)
    names = [info.name for info in spec_fields() if info.role in roles]
    varying = []
    for name in names:
        values = {
            "" if name in ignored_fields(str(s.get("task", "counting"))) else json.dumps(s.get(name), default=str)
            for s in specs
        }
        if len(values) > 1:
            varying.append(name)
    return varying


TRAIN_DEFAULTS: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(TrainSpec)}

# Fields added after cell ids were first written: they enter a cell's id only when set to something other
# than their default, so the cells of every existing run folder keep their ids (and resume).
HASHED_WHEN_SET = frozenset({"head_dropout", "bn_stats"})
