"""A run folder's cells as records for the analysis, read through ``study.runfolder``.

``study.runfolder`` is the only code that knows the run-folder layout; this
module adds what the analysis needs on top: a human label per cell and per
configuration, derived from the fields that actually vary in this run
(``study.spec.varying_fields``), and the grouping of cells into
configurations (``study.spec.configuration_key``: cells with equal keys are
seed replicates and are pooled).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from study.errors import UserError
from study.runfolder import CellFolder, CellState, CellStatus, RunFolder
from study.spec import configuration_key, field_label, ignored_fields, seed_fields, setting_fields, varying_fields

__all__ = ["CellRecord", "open_run", "load_cells", "cells_frame", "short_value", "configuration_label", "arch_label"]

# timm family prefixes -> the names papers use; the size word follows (vit_tiny_patch16_224 -> ViT-Tiny/16).
_TIMM_FAMILIES = {"vit": "ViT", "deit": "DeiT", "deit3": "DeiT-III", "mixer": "MLP-Mixer", "resmlp": "ResMLP",
                  "convnext": "ConvNeXt", "swin": "Swin"}
_SIZE_WORDS = {"tiny": "Tiny", "small": "Small", "base": "Base", "large": "Large", "huge": "Huge", "t": "T",
               "s": "S", "b": "B", "l": "L", "h": "H"}


def arch_label(arch: str) -> str:
    """A human name of an architecture: ``resnet34`` -> ``ResNet-34``, ``timm:vit_tiny_patch16_224`` ->
    ``ViT-Tiny/16``, ``timm:vit_tiny_patch16_224@patch8`` -> ``ViT-Tiny/8``, ``timm:mixer_b16_224`` ->
    ``MLP-Mixer-B/16``; anything else -> its name without ``timm:``."""
    name = str(arch).removeprefix("timm:")
    patched = re.fullmatch(r"(.+)@patch(\d+)", name)  # study.backbones' patch-size override
    if patched:
        base = arch_label(patched.group(1))
        return re.sub(r"/\d+$", "", base) + f"/{patched.group(2)}" if base != patched.group(1) else name
    match = re.fullmatch(r"(resnet|resnext|wide_resnet)(\d+)(.*)", name)
    if match and not match.group(3):
        family = {"resnet": "ResNet", "resnext": "ResNeXt", "wide_resnet": "Wide-ResNet"}[match.group(1)]
        return f"{family}-{match.group(2)}"
    match = re.fullmatch(r"([a-z]+\d?)_([a-z]+)(?:_patch(\d+)|(\d+))?(?:_\d+)?", name)
    if match and match.group(1) in _TIMM_FAMILIES and match.group(2) in _SIZE_WORDS:
        patch = match.group(3) or match.group(4)
        return f"{_TIMM_FAMILIES[match.group(1)]}-{_SIZE_WORDS[match.group(2)]}" + (f"/{patch}" if patch else "")
    match = re.fullmatch(r"(mixer|resmlp)_([a-z])(\d+)(?:_\d+)?", name)
    if match and match.group(2) in _SIZE_WORDS:
        return f"{_TIMM_FAMILIES[match.group(1)]}-{_SIZE_WORDS[match.group(2)]}/{match.group(3)}"
    return name


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1", "yes")


def short_value(name: str, value: Any) -> str:
    """A field's value as a reader sees it in a label (a photo folder by its name, an architecture by its
    paper name; values that read badly alone, such as ``True`` or ``0``, say what they are)."""
    text = "" if value is None else str(value)
    if name == "data":
        return text.rstrip("/").split("/")[-1] or "data"
    if name == "weights" and value not in ("imagenet", "none"):
        return "file"
    if name == "arch":
        return arch_label(text)
    if name == "head":
        return f"{text} head"
    if name == "held_out":
        return f"held out {text}" if text.strip() else "none held out"
    if name == "distractors":
        return "no distractors" if text.strip() in ("", "0", "0-0") else f"{text} distractors"
    if name == "distractor_kind":
        return f"{text} distractors"
    if name == "overlap":
        return "overlap" if _truthy(value) else "no overlap"
    if name == "colour":
        return f"{text} colour"
    if name == "shape":
        return {"circle": "circles", "square": "squares", "triangle": "triangles"}.get(text, f"{text} shapes")
    if name == "scene_size":
        return f"scenes {text} px" if text not in ("", "0") else "scenes at image size"
    if name == "size":
        return f"{text} px"
    if name == "radius":
        return f"r {float(value):.3g} px" if text not in ("", "0", "0.0") else "auto radius"
    if name == "n_train":
        return f"{text} images"
    if name in ("reg_target", "reg_loss"):
        return f"{text} {'target' if name == 'reg_target' else 'loss'}"
    return text


def configuration_label(spec: dict[str, Any], fields: list[str]) -> str:
    """``"45-50 · sensible"``: the values of ``fields`` joined, or the counting range alone when none vary."""
    names = fields or (["counts"] if spec.get("task", "counting") == "counting" else ["data"])
    return " · ".join(short_value(name, spec.get(name, "")) for name in names)


@dataclasses.dataclass
class CellRecord:
    """One cell folder as the analysis sees it.

    Attributes:
        folder: the ``CellFolder``.
        spec: TrainSpec dict (``{}`` if spec.json is missing).
        state: ``CellState`` (status and reason).
        metrics: metrics.json of a done cell, else None.
        config_label: the configuration's human label (varying settings only).
        label_fields: the fields ``config_label`` shows, in order.
        label: ``config_label`` plus the seed when seeds vary.
    """

    folder: CellFolder
    spec: dict[str, Any]
    state: CellState
    metrics: dict[str, Any] | None = None
    config_label: str = ""
    label: str = ""
    label_fields: tuple[str, ...] = ()

    @property
    def cell_id(self) -> str:
        return self.folder.cell_id

    @property
    def path(self) -> Path:
        return self.folder.path

    @property
    def status(self) -> CellStatus:
        return self.state.status

    @property
    def error(self) -> str:
        return self.state.reason

    @property
    def is_counting(self) -> bool:
        return self.spec.get("task", "counting") == "counting"

    @property
    def checkpoint(self) -> Path | None:
        return self.folder.checkpoint_path

    @property
    def key(self) -> tuple[tuple[str, str], ...]:
        """The configuration key: equal for seed replicates."""
        return configuration_key(self.spec)

    @property
    def count_range(self) -> tuple[int, int] | None:
        """The inclusive class range of a counting cell, from its classes (None otherwise)."""
        classes = (self.metrics or {}).get("classes") or []
        try:
            counts = [int(c) for c in classes]
        except (TypeError, ValueError):
            return None
        return (min(counts), max(counts)) if counts and self.is_counting else None

    def table(self, name: str) -> pd.DataFrame | None:
        """``history.csv`` or ``predictions.csv`` as a DataFrame, or None."""
        return self.folder.table(name)


def open_run(path: str | os.PathLike, writable: bool = True) -> RunFolder:
    """The run folder at ``path``, checked before any work starts.

    Raises:
        NotARunFolderError: missing, not a folder, not a run folder (no
            sweep.toml, results.csv or cells/); UserError: (``writable``) the
            analysis cannot be written there. One line naming the folder.
    """
    run = RunFolder.existing(path)
    where = str(path)
    if writable:
        # Try it (permission bits say nothing for root or immutable folders): a probe file, removed at once.
        try:
            run.analysis_dir.mkdir(exist_ok=True)
            tempfile.TemporaryFile(dir=run.analysis_dir).close()
        except OSError as error:
            raise UserError(f"run folder {where!r} is read-only ({error.strerror}): the analysis cannot be written "
                            "to its analysis/ folder; copy the run folder somewhere writable") from None
    return run


# Varying settings a label shows in full; with more, labels show only the unusual values (usual_values).
MAX_FULL_LABEL_FIELDS = 3


def _field_value(spec: dict[str, Any], name: str) -> str:
    """A field's value as ``study.spec.varying_fields`` compares it: JSON, blank where the task ignores it."""
    return "" if name in ignored_fields(str(spec.get("task", "counting"))) else json.dumps(spec.get(name), default=str)


def usual_values(specs: list[dict[str, Any]], fields: list[str]) -> dict[str, str]:
    """The value (JSON) most configurations share, per field, where one value is strictly the most common.

    A label leaves a field out when it holds its usual value, so a sweep of blocks (``research``)
    labels a cell by what sets it apart ("1-5 · held out 3 · regression head") rather than by every
    setting that varies somewhere. Fields with no single most common value (every crossed axis of a
    plain grid) get no entry and are always shown. Labels stay unique: two configurations differ in a
    field that at least one of them shows.
    """
    configurations = {configuration_key(spec): spec for spec in specs}.values()
    usual = {}
    for name in fields:
        ranked = collections.Counter(_field_value(spec, name) for spec in configurations).most_common(2)
        if len(ranked) == 1 or ranked[0][1] > ranked[1][1]:
            usual[name] = ranked[0][0]
    return usual


def load_cells(run: str | os.PathLike | RunFolder) -> list[CellRecord]:
    """Every cell folder of a run (sorted by id), labelled by what sets its configuration apart:
    the count range (or photo folder) and each varying setting that differs from its usual value."""
    run = run if isinstance(run, RunFolder) else RunFolder(run)
    records = []
    for folder in run.cells():
        state = folder.state()
        metrics = folder.read_metrics() if state.status is CellStatus.DONE else None
        records.append(CellRecord(folder, folder.read_spec(), state, metrics))
    specs = [record.spec for record in records if record.spec]
    varying = varying_fields(specs)
    seeds = varying_fields(specs, roles=("seed",))
    # A few varying settings read well in full ("45-50 · sensible · 0.01"); beyond that (a sweep of
    # blocks) each label keeps only what sets its configuration apart.
    usual = usual_values(specs, varying) if len(varying) > MAX_FULL_LABEL_FIELDS else {}
    for record in records:
        primary = "counts" if record.spec.get("task", "counting") == "counting" else "data"
        shown = [name for name in varying
                 if name == primary or name not in usual or _field_value(record.spec, name) != usual[name]]
        record.config_label = configuration_label(record.spec, shown)
        record.label_fields = tuple(shown)
        extra = [f"{field_label(name)} {record.spec.get(name)}" for name in seeds]
        record.label = " · ".join([record.config_label, *extra])
    return records


def cells_frame(cells: list[CellRecord]) -> pd.DataFrame:
    """One row per cell: id, labels, status, every setting and seed field, and the headline metrics."""
    rows = []
    for cell in cells:
        metrics = cell.metrics or {}
        row = {"cell_id": cell.cell_id, "label": cell.label, "configuration": cell.config_label,
               "status": cell.status.value, "error": cell.error,
               **{name: cell.spec.get(name) for name in (*setting_fields(), *seed_fields())}}
        for key in ("test_accuracy", "test_dewind_accuracy", "test_held_out_accuracy", "test_held_out_mae",
                    "valid_accuracy", "count_mae", "label_noise_rate",
                    "n_valid", "n_test", "n_test_dewind", "seconds", "weights_used"):
            row[key] = metrics.get(key)
        row["train_images"] = metrics.get("n_train")
        rows.append(row)
    return pd.DataFrame(rows)
