"""Synthetic counting scenes (circles, squares, triangles; distractors): sampling, numerosity controls, rendering, folders.

``synth`` knows nothing of training; ``study`` builds on it. The names below
are loaded on first use (PEP 562), so ``import synth.scenes`` (geometry, numpy
only) does not pay for torch, which rendering and folders need.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> the module that defines it
_EXPORTS = {
    **dict.fromkeys(("add_circle", "is_valid", "move_circle", "remove_circle", "scale_radii", "spread"), "synth.edit"),
    **dict.fromkeys(("read_folder", "write_folder"), "synth.folder"),
    **dict.fromkeys(("DESCRIPTOR_NAMES", "describe_scene", "describe_scenes"), "synth.numerosity"),
    **dict.fromkeys(("sample_scenes",), "synth.sampling"),
    **dict.fromkeys(("circle_masks", "item_masks", "render_scenes", "render_scenes_matplotlib"), "synth.render"),
    **dict.fromkeys(
        ("DISTRACTOR_COLOR", "InfeasibleSceneError", "MIN_RADIUS_PX", "SHAPES", "Scene", "SceneRecipe", "auto_gap",
         "auto_radius", "extent_radii", "fit_radius", "max_feasible_count", "max_feasible_radius", "parse_range"),
        "synth.scenes",
    ),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'synth' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return __all__
