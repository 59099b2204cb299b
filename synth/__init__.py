"""Synthetic circle-counting scenes: sampling, numerosity controls, rendering, folders.

``synth`` knows nothing of training; ``study`` builds on it.
"""

from synth.edit import add_circle, is_valid, move_circle, remove_circle, scale_radii, spread
from synth.folder import read_folder, write_folder
from synth.numerosity import DESCRIPTOR_NAMES, describe_scene, describe_scenes
from synth.render import circle_masks, render_scenes, render_scenes_matplotlib
from synth.scenes import (
    InfeasibleSceneError,
    Scene,
    SceneSpec,
    auto_gap,
    auto_radius,
    max_feasible_count,
    max_feasible_radius,
    parse_range,
    sample_scenes,
)

__all__ = [
    "DESCRIPTOR_NAMES",
    "InfeasibleSceneError",
    "Scene",
    "SceneSpec",
    "add_circle",
    "auto_gap",
    "auto_radius",
    "circle_masks",
    "describe_scene",
    "describe_scenes",
    "is_valid",
    "max_feasible_count",
    "max_feasible_radius",
    "move_circle",
    "parse_range",
    "read_folder",
    "remove_circle",
    "render_scenes",
    "render_scenes_matplotlib",
    "sample_scenes",
    "scale_radii",
    "spread",
    "write_folder",
]
