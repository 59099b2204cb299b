"""Model registry: a pretrained (or not) body plus a fastai-style, linear, regression or ordinal head.

``create_model("resnet34", 5, weights="imagenet")`` is the post's model:
torchvision ResNet-34 with ``IMAGENET1K_V1`` weights (the ones fastai v1
used), cut before the pooling layer, with fastai's head. ``timm:<name>`` (or
``timm:<name>@patch<P>``) is built by ``study.engine.backbones.timm_body`` at the
input size (ViTs and MLP-Mixers fix it at creation; their tokens become a
``[B, D, h, w]`` map); a file path loads a state dict saved by us,
torchvision or timm. The head's outputs mean what ``study.engine.readout`` says:
``C`` logits (fastai, linear), one standardised count (regression, fastai's
hidden layers then one output) or ``C - 1`` CORAL cumulative logits
(ordinal, fastai's hidden layers then ``CoralLayer``).

The body keeps torchvision's module names (``conv1``, ``layer1``, ...), so a
torchvision ResNet state dict loads into ``model.body`` as it is.
"""

from __future__ import annotations

import collections
import copy
import urllib.error
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn as nn

from study.config.names import ARCHITECTURES, architecture_names
from study.engine.backbones import timm_body
from study.errors import WeightsUnavailableError
from study.engine.readout import HEADS, n_outputs

__all__ = [
    "ARCHITECTURES",
    "Classifier",
    "CoralLayer",
    "HEADS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "WeightsUnavailableError",
    "available",
    "create_model",
    "fuse_conv_bn",
    "normalize",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)



def available() -> list[str]:
    """Registered architecture names (any ``timm:<name>`` is accepted too)."""
    return architecture_names()


def normalize(
    images: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> torch.Tensor:
    """``(images - mean) / std`` per channel; ``std`` is floored so it never divides by zero.

    Args:
        images: float ``[B, 3, H, W]`` in ``[0, 1]``.

    Returns:
        float ``[B, 3, H, W]``.
    """
    mean_t = torch.as_tensor(mean, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=images.dtype, device=images.device).view(1, -1, 1, 1).clamp_min(1e-6)
    return (images - mean_t) / std_t


class AdaptiveConcatPool2d(nn.Module):
    """fastai's pooling: max-pool and average-pool concatenated (in that order): ``[B, C, H, W] -> [B, 2C, 1, 1]``."""

    def __init__(self) -> None:
        super().__init__()
        self.max_pool = nn.AdaptiveMaxPool2d(1)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.max_pool(features), self.avg_pool(features)], 1)


def fastai_hidden_layers(num_features: int, dropout: float = 0.5) -> list[nn.Module]:
    """fastai v1 ``create_head`` up to its last linear layer: ``[B, F, h, w] -> [B, 512]``.

    Concat pool, flatten, [BN, Dropout ps/2, Linear, ReLU], [BN, Dropout ps] with fastai's ``ps`` =
    ``dropout`` (0.5: 0.25 and 0.5).
    """
    return [
        AdaptiveConcatPool2d(),
        nn.Flatten(),
        nn.BatchNorm1d(2 * num_features),
        nn.Dropout(dropout / 2),
        nn.Linear(2 * num_features, 512),
        nn.ReLU(inplace=True),
        nn.BatchNorm1d(512),
        nn.Dropout(dropout),
    ]


def fastai_head(num_features: int, num_classes: int, dropout: float = 0.5) -> nn.Sequential:
    """fastai v1 ``create_head``: concat pool, [BN, Dropout ps/2, Linear, ReLU], [BN, Dropout ps, Linear].

    ``num_classes`` outputs (1 for the regression head); ``dropout`` is fastai's ``ps``.
    """
    head = nn.Sequential(*fastai_hidden_layers(num_features, dropout), nn.Linear(512, num_classes))
    for module in head:
        if isinstance(module, nn.Linear):  # fastai applies kaiming_normal_ to the new head
            nn.init.kaiming_normal_(module.weight)
            nn.init.zeros_(module.bias)
    return head


class CoralLayer(nn.Module):
    """CORAL's output layer (Cao, Mirjalili & Raschka 2020): ``g_k = w.h + b_k``, ``[B, F] -> [B, C-1]``.

    One weight vector shared by the ``C - 1`` binary tasks "count > k" and
    one bias per task; sharing ``w`` is what makes the ranks consistent
    (the trained biases are non-increasing, so the cumulative probabilities are).

    Attributes:
        weight: ``[1, F]``, kaiming-normal as fastai initialises its head.
        bias: ``[C-1]``, initialised to the logits of ``P(count > k)`` under
            uniform classes, ``(C-1-k) / C``: a zero feature contribution starts
            from the uniform distribution over the classes.
    """

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"num_classes: the ordinal head needs >= 2 classes, got {num_classes}")
        self.weight = nn.Parameter(torch.empty(1, in_features))
        nn.init.kaiming_normal_(self.weight)
        above = (num_classes - 1 - torch.arange(num_classes - 1, dtype=torch.float32)) / num_classes
        self.bias = nn.Parameter(torch.logit(above))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features @ self.weight.t() + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.weight.shape[1]}, tasks={len(self.bias)}"


def ordinal_head(num_features: int, num_classes: int, dropout: float = 0.5) -> nn.Sequential:
    """fastai's hidden layers, then ``CoralLayer``: ``[B, F, h, w] -> [B, C-1]`` cumulative logits."""
    head = nn.Sequential(*fastai_hidden_layers(num_features, dropout), CoralLayer(512, num_classes))
    for module in head:
        if isinstance(module, nn.Linear):  # as fastai_head
            nn.init.kaiming_normal_(module.weight)
            nn.init.zeros_(module.bias)
    return head


def linear_head(num_features: int, num_classes: int) -> nn.Sequential:
    """Average pool + one linear layer (the torchvision classifier)."""
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(num_features, num_classes))


class Classifier(nn.Module):
    """``head(body(x))``: ``[B, 3, H, W] -> [B, outputs]`` (``study.engine.readout.n_outputs`` of the head).

    Attributes:
        body: feature extractor ``[B, 3, H, W] -> [B, F, h, w]`` (its last
            stage is the Grad-CAM / probe layer).
        head: ``[B, F, h, w] -> [B, outputs]``.
        groups: the three fastai layer groups (early body, late body, head)
            for discriminative learning rates.
        readout: the ``study.engine.readout.Readout`` that interprets the outputs,
            when the caller knows the class counts (``analysis.predict.load_model``
            sets it); None otherwise. Not part of the state dict.
    """

    def __init__(self, body: nn.Module, head: nn.Module, split: int, num_features: int) -> None:
        super().__init__()
        self.body, self.head = body, head
        self.num_features = num_features
        self.readout = None
        self._split = split  # index of the first body child in the second group

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(images))

    @property
    def groups(self) -> list[nn.Module]:
        children = list(self.body.children())
        return [nn.Sequential(*children[: self._split]), nn.Sequential(*children[self._split :]), self.head]

    def last_stage(self) -> nn.Module:
        """The body's last child (e.g. ``layer4``): where Grad-CAM and probes look."""
        return list(self.body.children())[-1]


def create_model(
    arch: str, num_classes: int, weights: str = "none", head: str = "fastai", seed: int | None = None,
    image_size: int = 224, head_dropout: float = 0.5,
) -> Classifier:
    """Build a classifier.

    Args:
        arch: ``resnet18``, ``resnet34``, ``resnet50``, ``timm:<name>`` or
            ``timm:<name>@patch<P>`` (a ViT/MLP-Mixer with patch size P).
        num_classes: the task's number of classes C; the head has
            ``study.engine.readout.n_outputs(head, C)`` outputs (C; 1 for regression; C - 1 for ordinal).
        weights: ``none`` (random init), ``imagenet`` (torchvision
            ``IMAGENET1K_V1`` / timm's default pretrained tag), or a path to a
            state dict (a body state dict, a full model/torchvision/timm state
            dict, or one of our checkpoints).
        head: ``fastai``, ``linear``, ``regression`` or ``ordinal``.
        seed: seeds the random initialisation (the head; the body too with
            ``weights=none``) without touching the global RNG; None draws from
            the global RNG as torch does.
        image_size: side of the square input in px; timm models that fix
            their input size at creation (ViT, MLP-Mixer) are built for it.
        head_dropout: fastai's ``ps`` for the fastai, regression and ordinal heads (the linear head has none).

    Raises:
        ValueError: unknown arch or head (listing the valid names).
        WeightsUnavailableError: ``imagenet`` weights not cached and not downloadable.
        FileNotFoundError / ValueError: a weights file missing or not matching the arch.
    """
    if seed is not None:
        # torch.nn.init draws from the global RNG only: fork it so the init depends on `seed` alone
        # and the caller's RNG stream is left where it was.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return create_model(arch, num_classes, weights, head, image_size=image_size, head_dropout=head_dropout)
    outputs = n_outputs(head, num_classes)  # checks the head and the class count
    pretrained = weights == "imagenet"
    if arch in ARCHITECTURES:
        body, num_features, split = _torchvision_body(arch, pretrained)
    elif arch.startswith("timm:") and len(arch) > 5:
        body, num_features, split = timm_body(arch[5:], pretrained, image_size)
    else:
        raise ValueError(f"arch: unknown {arch!r}; valid: {', '.join(available())}")
    if head == "linear":
        head_module = linear_head(num_features, outputs)
    elif head == "ordinal":
        head_module = ordinal_head(num_features, num_classes, head_dropout)
    else:  # fastai, regression
        head_module = fastai_head(num_features, outputs, head_dropout)
    model = Classifier(body, head_module, split, num_features)
    if weights not in ("none", "imagenet"):
        load_weights_file(model, Path(weights), arch)
    return model


def _torchvision_body(arch: str, pretrained: bool) -> tuple[nn.Module, int, int]:
    """ResNet without avgpool/fc; fastai's split is before ``layer3`` (child 6)."""
    import torchvision

    builder = getattr(torchvision.models, arch)
    network = builder(weights=None)
    if pretrained:
        weights_enum = torchvision.models.get_model_weights(arch).IMAGENET1K_V1
        network.load_state_dict(_download_torchvision(weights_enum))
    children = [(name, module) for name, module in network.named_children() if name not in ("avgpool", "fc")]
    return nn.Sequential(collections.OrderedDict(children)), network.fc.in_features, 6


def _download_torchvision(weights_enum) -> dict[str, torch.Tensor]:
    """Load torchvision weights from the hub cache (downloading if online)."""
    file_name = Path(weights_enum.url).name
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    try:
        return weights_enum.get_state_dict(progress=False, check_hash=False)
    except (urllib.error.URLError, OSError, RuntimeError, ConnectionError) as error:
        raise WeightsUnavailableError(
            f"weights=imagenet: cannot load {file_name} ({type(error).__name__}: {error}); "
            f"offline? put {file_name} (from {weights_enum.url}) in {folder}/, "
            f"or pass weights=<path to a state dict> or weights=none"
        ) from None


# Keys of a full network that are not part of the body (classifier layers).
_CLASSIFIER_PREFIXES = ("fc.", "classifier.", "head.fc.", "last_linear.")


def load_weights_file(model: Classifier, path: Path, arch: str) -> str:
    """Load a state dict file into ``model``.

    Accepts: our checkpoint (``{"model": state_dict, ...}``), a full model state
    dict (``body.*`` and ``head.*`` keys; the head is loaded only when its
    shapes match), or a body state dict / full torchvision or timm state dict
    (classifier keys dropped).

    Returns:
        ``"body+head"`` or ``"body"``: what was loaded.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a state dict, or keys/shapes that do not match ``arch``.
    """
    if not path.is_file():
        raise FileNotFoundError(f"weights: no such file {str(path)!r}; expected 'none', 'imagenet' or a file path")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"weights: {str(path)!r} is not a readable state dict ({type(error).__name__}: {error})") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"weights: {str(path)!r} does not hold a state dict (name -> tensor)")
    if any(key.startswith("body.") for key in state):
        body_state = {k[5:]: v for k, v in state.items() if k.startswith("body.")}
        head_state = {k[5:]: v for k, v in state.items() if k.startswith("head.")}
    else:
        body_state = {k: v for k, v in state.items() if not k.startswith(_CLASSIFIER_PREFIXES)}
        head_state = {}
    _load_strict(model.body, body_state, path, arch)
    own_head = model.head.state_dict()
    if head_state and head_state.keys() == own_head.keys() and all(
        head_state[k].shape == own_head[k].shape for k in own_head
    ):
        model.head.load_state_dict(head_state)
        return "body+head"
    return "body"


def _load_strict(module: nn.Module, state: dict[str, torch.Tensor], path: Path, arch: str) -> None:
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        details = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if keys:
                details.append(f"{len(keys)} {label} (e.g. {', '.join(keys[:3])})")
        raise ValueError(f"weights: {str(path)!r} does not match arch {arch!r}: {'; '.join(details)}")
    module.load_state_dict(state)


def fuse_conv_bn(model: nn.Module) -> nn.Module:
    """An inference copy of ``model`` with each BatchNorm folded into the convolution that feeds it.

    Folding (``torch.nn.utils.fusion.fuse_conv_bn_eval``) is exact in real
    arithmetic: ``bn(conv(x))`` in eval mode is one convolution with rescaled
    weights and a bias. Only pairs whose data flow is known are folded: a
    ``Conv2d`` directly followed by a ``BatchNorm2d`` inside an
    ``nn.Sequential`` (the ResNet stem, ``downsample``), and ``convN``/``bnN``
    of torchvision's ``BasicBlock`` and ``Bottleneck``. Anything else (timm
    models, the head's ``BatchNorm1d``) is copied unchanged, so the result is
    always correct and at worst no faster. The model itself is not modified.

    Args:
        model: any module; its parameters' memory format is kept.

    Returns:
        the folded copy, in eval mode (it must not be trained: the BatchNorm statistics are frozen in).
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval
    from torchvision.models.resnet import BasicBlock, Bottleneck

    fused = copy.deepcopy(model).eval()
    for module in list(fused.modules()):
        if isinstance(module, nn.Sequential):
            names = list(module._modules)
            for first, second in zip(names, names[1:]):
                conv, norm = module._modules[first], module._modules[second]
                if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d) and norm.track_running_stats:
                    module._modules[first] = fuse_conv_bn_eval(conv, norm)
                    module._modules[second] = nn.Identity()
        elif isinstance(module, (BasicBlock, Bottleneck)):
            for index in (1, 2, 3):
                conv, norm = getattr(module, f"conv{index}", None), getattr(module, f"bn{index}", None)
                if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                    setattr(module, f"conv{index}", fuse_conv_bn_eval(conv, norm))
                    setattr(module, f"bn{index}", nn.Identity())
    return fused
