"""Linear probes: how decodable is the count from each ResNet stage's pooled features?

For each body stage (``layer1`` .. ``layer4`` of a torchvision ResNet, or
every child of another body) the feature map is average-pooled to ``[N, C]``
and two scikit-learn probes are cross-validated: a logistic regression for
the count class (accuracy) and a ridge regression for the count itself
(R^2). Comparing the trained body with a randomly initialised one (and an
ImageNet one when its weights are available) separates what training
taught from what the architecture gives for free.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

__all__ = ["stage_modules", "stage_features", "probe_scores", "probe_model"]


def stage_modules(model: nn.Module) -> dict[str, nn.Module]:
    """Named stages of ``model.body``: its ``layer*`` children if any, else every child."""
    body = getattr(model, "body", model)
    children = dict(body.named_children())
    stages = {name: module for name, module in children.items() if name.startswith("layer")}
    return stages or children


@torch.no_grad()
def stage_features(model: nn.Module, inputs: torch.Tensor, batch_size: int = 64) -> dict[str, np.ndarray]:
    """Global-average-pooled output of each stage.

    Args:
        model: a classifier with ``.body`` (eval mode is set here).
        inputs: normalised float ``[N, 3, H, W]`` on the model's device.

    Returns:
        stage name -> float ``[N, C_stage]``.
    """
    model.eval()
    captured: dict[str, list[np.ndarray]] = {name: [] for name in stage_modules(model)}

    def keep(name: str) -> Callable:
        return lambda module, args, output: captured[name].append(output.float().mean((2, 3)).cpu().numpy())

    hooks = [module.register_forward_hook(keep(name)) for name, module in stage_modules(model).items()]
    try:
        for start in range(0, len(inputs), batch_size):
            model(inputs[start : start + batch_size])
    finally:
        for hook in hooks:
            hook.remove()
    return {name: np.concatenate(chunks) for name, chunks in captured.items() if chunks}


def probe_scores(features: np.ndarray, counts: np.ndarray, folds: int = 3, seed: int = 0) -> dict[str, float]:
    """Cross-validated accuracy (logistic) and R^2 (ridge) of decoding the count.

    Args:
        features: ``[N, C]``; counts: ``[N]`` integer counts.

    Returns:
        ``accuracy``, ``r2``, ``n``, ``chance`` (share of the largest class).
    """
    counts = np.asarray(counts)
    _, per_class = np.unique(counts, return_counts=True)
    splitter = (StratifiedKFold(folds, shuffle=True, random_state=seed) if per_class.min() >= folds
                else KFold(folds, shuffle=True, random_state=seed))
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=100, C=1.0))
    regressor = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 4, 13)))
    with warnings.catch_warnings():
        # ~100 images and up to 512 features: lbfgs may stop at max_iter (100 keeps it cheap); the probe is still a probe.
        warnings.simplefilter("ignore", ConvergenceWarning)
        accuracy = cross_val_score(classifier, features, counts, cv=splitter, scoring="accuracy")
    r2 = cross_val_score(regressor, features, counts.astype(float), cv=KFold(folds, shuffle=True, random_state=seed),
                         scoring="r2")
    return {"accuracy": float(accuracy.mean()), "r2": float(r2.mean()), "n": int(len(counts)),
            "chance": float(per_class.max() / len(counts))}


def probe_model(model: nn.Module, inputs: torch.Tensor, counts: np.ndarray, init: str) -> pd.DataFrame:
    """Probe every stage of one model.

    Returns:
        rows ``init``, ``stage``, ``accuracy``, ``r2``, ``n``, ``chance``.
    """
    features = stage_features(model, inputs)
    return pd.DataFrame([{"init": init, "stage": name, **probe_scores(values, counts)}
                         for name, values in features.items()])
