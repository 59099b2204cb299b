"""Labels: how a setting's value reads in a table, a legend or a report ("ViT-Tiny/16", "held out 3").

One vocabulary for the analysis and the report, so a configuration is called
the same everywhere. In a sweep of blocks (the ``research`` preset) many
settings vary somewhere in the run; a label then names only what sets its
configuration apart from the usual value of each setting (``usual_values``).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import re
from collections.abc import Sequence
from typing import Any

from study.config.spec import configuration_key, field_label, ignored_fields, varying_fields

__all__ = ["arch_label", "short_value", "spelled_value", "configuration_label", "usual_values", "field_value",
           "label_fields", "CellLabel", "cell_labels", "MAX_FULL_LABEL_FIELDS"]

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
    patched = re.fullmatch(r"(.+)@patch(\d+)", name)  # study.engine.backbones' patch-size override
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


def spelled_value(name: str, value: Any) -> str:
    """A field with its name, for lists of settings: ``count range 1-5``, ``seed 2``, ``data seed 1``."""
    return f"{field_label(name)} {'' if value is None else value}"


def configuration_label(spec: dict[str, Any], fields: list[str]) -> str:
    """``"45-50 · sensible"``: the values of ``fields`` joined, or the counting range alone when none vary."""
    names = fields or (["counts"] if spec.get("task", "counting") == "counting" else ["data"])
    return " · ".join(short_value(name, spec.get(name, "")) for name in names)


# Varying settings a label shows in full; with more, labels show only the unusual values (usual_values).
MAX_FULL_LABEL_FIELDS = 3


def field_value(spec: dict[str, Any], name: str) -> str:
    """A field's value as ``study.config.spec.varying_fields`` compares it: JSON, blank where the task ignores it."""
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
        ranked = collections.Counter(field_value(spec, name) for spec in configurations).most_common(2)
        if len(ranked) == 1 or ranked[0][1] > ranked[1][1]:
            usual[name] = ranked[0][0]
    return usual


def label_fields(spec: dict[str, Any], varying: list[str], usual: dict[str, str]) -> list[str]:
    """The fields a cell's label names: its count range (or photo folder) and each varying setting that
    differs from its usual value (every varying setting when ``usual`` is empty)."""
    primary = "counts" if spec.get("task", "counting") == "counting" else "data"
    return [name for name in varying if name == primary or name not in usual or field_value(spec, name) != usual[name]]


@dataclasses.dataclass(frozen=True)
class CellLabel:
    """How one cell of a run is called.

    Attributes:
        configuration: its configuration's label (``"45-50 · sensible"``), shared by its seed replicates.
        fields: the settings ``configuration`` names, in order.
        text: ``configuration`` plus each seed field that varies in the run (``"45-50 · sensible · seed 1"``).
    """

    configuration: str
    fields: tuple[str, ...]
    text: str


def cell_labels(specs: Sequence[dict[str, Any]]) -> list[CellLabel]:
    """The label of each cell of a run, named by what sets it apart from the run's other cells.

    A few varying settings are named in full; past ``MAX_FULL_LABEL_FIELDS`` (a sweep of blocks)
    only the values that differ from the usual one (``usual_values``). The analysis, the report
    and the sweep's console all call cells by these labels.

    Args:
        specs: every cell's ``TrainSpec`` dict (``TrainSpec.to_dict()``), in the run's order.

    Returns:
        one ``CellLabel`` per spec, in the same order.
    """
    specs = list(specs)
    varying = varying_fields(specs)
    seeds = varying_fields(specs, roles=("seed",))
    usual = usual_values(specs, varying) if len(varying) > MAX_FULL_LABEL_FIELDS else {}
    labels = []
    for spec in specs:
        shown = label_fields(spec, varying, usual)
        configuration = configuration_label(spec, shown)
        text = " · ".join([configuration, *(spelled_value(name, spec.get(name)) for name in seeds)])
        labels.append(CellLabel(configuration, tuple(shown), text))
    return labels
