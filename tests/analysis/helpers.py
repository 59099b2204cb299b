"""Small stand-ins shared by the analysis tests: a perfect counter and tiny scenes."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from analysis.baselines import component_counts
from analysis.cell_analysis import Budget
from analysis.predict import Predictor
from synth.sampling import sample_scenes
from synth.scenes import SceneRecipe

# A few images per analysis: the tests check plumbing and files, not findings.
TINY = Budget(images=4, interventions=4, deletion=2, deletion_steps=2, dewind=30, probe=24,
              methods=("gradcam", "integrated_gradients", "saliency"), ig_steps=4, ig_max_steps=8,
              baseline_images=40, misclassified=2)


class ComponentCounter(nn.Module):
    """Counts connected components and returns one-hot logits over counts lo..hi.

    Input: float ``[B, 3, H, W]`` in 0..1 (the stub predictor's transform is x / 255).
    """

    def __init__(self, lo: int, hi: int) -> None:
        super().__init__()
        self.lo, self.hi = lo, hi

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        counts = component_counts((images * 255).round().to(torch.uint8))
        index = torch.as_tensor(np.clip(counts, self.lo, self.hi) - self.lo)
        return nn.functional.one_hot(index, self.hi - self.lo + 1).float() * 20.0


def counter_predictor(lo: int, hi: int) -> Predictor:
    return Predictor(model=ComponentCounter(lo, hi), transform=lambda images: images.float() / 255,
                     class_counts=np.arange(lo, hi + 1))


def tiny_scenes(lo: int = 2, hi: int = 4, n: int = 6, size: int = 48, seed: int = 0):
    recipe = SceneRecipe(counts=(lo, hi), width=size, height=size, radius=3.0, min_gap=2.0)
    return sample_scenes(recipe, n, seed=seed)
