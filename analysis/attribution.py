"""Captum attributions with model hygiene: IG, Saliency, SmoothGrad, Occlusion, Grad-CAM.

Every method is a thin wrapper around a Captum class that (1) runs batched,
(2) takes inputs already normalised the way the model was trained, and (3)
returns one non-negative map per image, ``[B, H, W]``, so localisation and
deletion code never needs to know which method made it.

Maps are reduced over colour channels as ``|attribution|`` summed over
channels for the pixel methods (IG, Saliency, SmoothGrad, Occlusion): the
question asked of them is *where* the evidence is, not its sign. Grad-CAM
keeps Captum's ``relu_attributions=True``: as in Selvaraju et al. (2017),
only features with positive influence on the target class are shown, so the
map is already non-negative and then bilinearly upsampled to the input.

Baselines (IG, Occlusion) are stated in the *normalised* input space: the
blank canvas (the scene's background colour, white by default, with no
circles) passed through the same normalisation as the images. That is "no
circles", which is what a count should be measured against; the usual
all-zeros baseline in normalised space would be the ImageNet mean grey, and
zeros in pixel space would be black, neither of which the network ever saw.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from captum.attr import IntegratedGradients, LayerGradCam, NoiseTunnel, Occlusion, Saliency
from torchvision.models.resnet import BasicBlock, Bottleneck

from study.data.tasks import resolve_device  # re-exported: the notebook calls attribution.resolve_device

__all__ = [
    "METHODS",
    "AttributionMethod",
    "available",
    "create",
    "prepare_model",
    "background_baseline",
    "resolve_device",
    "last_conv_stage",
    "gradcam_layer",
    "GRADCAM_MIN_SIDE",
]

GRADCAM_MIN_SIDE = 7  # a coarser Grad-CAM map cannot tell one circle from its neighbours


# --------------------------------------------------------------------- hygiene
def _basic_block_forward(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """torchvision ``BasicBlock.forward`` with a separate ReLU after the residual sum."""
    identity = x if self.downsample is None else self.downsample(x)
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.bn2(self.conv2(out))
    return self.relu_out(out + identity)


def _bottleneck_forward(self: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """torchvision ``Bottleneck.forward`` with one ReLU module per use."""
    identity = x if self.downsample is None else self.downsample(x)
    out = self.relu(self.bn1(self.conv1(x)))
    out = self.relu_mid(self.bn2(self.conv2(out)))
    out = self.bn3(self.conv3(out))
    return self.relu_out(out + identity)


def prepare_model(model: nn.Module, device: str | torch.device = "cpu") -> nn.Module:
    """A deep copy of ``model`` that hook-based attribution methods can use.

    Why: torchvision ResNet blocks call one in-place ``nn.ReLU`` module two or
    three times per forward. Captum's layer and hook-based methods attach
    hooks to modules, so a module used twice fires its hook twice (wrong
    layer outputs), and in-place ops overwrite tensors autograd still needs
    for module backward hooks. The copy gets one non-in-place ReLU per use
    and is put in eval mode (BatchNorm running statistics, no dropout).
    Outputs are unchanged (``tests/analysis/test_attribution.py`` checks).

    Args:
        model: any ``nn.Module``; the original is not modified.
        device: where the copy lives.

    Returns:
        the cleaned copy, in eval mode, with ``requires_grad`` left as is.
    """
    clean = copy.deepcopy(model).to(device).eval()
    for module in clean.modules():
        if isinstance(module, BasicBlock):
            module.relu, module.relu_out = nn.ReLU(), nn.ReLU()
            module.forward = types.MethodType(_basic_block_forward, module)
        elif isinstance(module, Bottleneck):
            module.relu, module.relu_mid, module.relu_out = nn.ReLU(), nn.ReLU(), nn.ReLU()
            module.forward = types.MethodType(_bottleneck_forward, module)
    for module in clean.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = False  # stem and head ReLUs (each used once already)
    return clean


def background_baseline(
    height: int,
    width: int,
    normalize: Callable[[torch.Tensor], torch.Tensor],
    background: Sequence[int] = (255, 255, 255),
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """The blank canvas in the model's normalised input space.

    Args:
        height, width: model input size.
        normalize: float ``[B, 3, H, W]`` in 0..1 -> normalised input.
        background: RGB background colour (the scene's; white by default).

    Returns:
        float ``[1, 3, H, W]``.
    """
    colour = torch.tensor(background, dtype=torch.float32, device=device).view(1, 3, 1, 1) / 255
    return normalize(colour.expand(1, 3, height, width).contiguous())


def last_conv_stage(model: nn.Module) -> nn.Module:
    """The layer Grad-CAM looks at: ``model.last_stage()`` if defined, else the body's last child."""
    if hasattr(model, "last_stage"):
        return model.last_stage()
    if hasattr(model, "body"):
        return list(model.body.children())[-1]
    raise ValueError("gradcam: the model has neither last_stage() nor body; pass layer=<module>")


@torch.no_grad()
def gradcam_layer(model: nn.Module, input_hw: tuple[int, int], device: str | torch.device = "cpu",
                  min_side: int = GRADCAM_MIN_SIDE) -> tuple[str, nn.Module, tuple[int, int]] | None:
    """The deepest body stage whose feature map is at least ``min_side`` on both sides.

    Grad-CAM on the last stage of a ResNet at 64 px is a 2x2 map: a blur over
    the whole image that cannot locate circles. The deepest stage that still
    resolves ``min_side`` x ``min_side`` is the most semantic layer that can.

    Args:
        model: a classifier with ``.body`` (or ``last_stage()``).
        input_hw: model input height and width.

    Returns:
        ``(name, module, (h, w))``, or None when no stage is large enough.
    """
    body = getattr(model, "body", None)
    stages = dict(body.named_children()) if body is not None else {}
    stages = {name: module for name, module in stages.items() if name.startswith("layer")} or stages
    if not stages:
        return None
    shapes: dict[str, tuple[int, int]] = {}
    hooks = [module.register_forward_hook(lambda m, a, out, name=name: shapes.__setitem__(name, tuple(out.shape[-2:])))
             for name, module in stages.items()]
    try:
        was_training = model.training
        model.eval()
        model(torch.zeros(1, 3, *input_hw, device=device))
        model.train(was_training)
    finally:
        for hook in hooks:
            hook.remove()
    fitting = [name for name in stages if name in shapes and min(shapes[name]) >= min_side]
    return (fitting[-1], stages[fitting[-1]], shapes[fitting[-1]]) if fitting else None


# --------------------------------------------------------------------- methods
class AttributionMethod:
    """Base: batching and the ``[B, 3, H, W] -> [B, H, W]`` reduction.

    Args:
        model: a model from ``prepare_model`` (eval mode, no shared ReLUs).
        batch_size: images per Captum call.
    """

    name = "base"
    needs_baseline = False

    def __init__(self, model: nn.Module, batch_size: int = 16, **options: Any) -> None:
        self.model = model
        self.batch_size = batch_size
        self.options = options

    def __call__(
        self, inputs: torch.Tensor, target: torch.Tensor, baseline: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Attribute each image to its target class.

        Args:
            inputs: normalised float ``[B, 3, H, W]`` on the model's device.
            target: int64 ``[B]`` class indices.
            baseline: ``[1, 3, H, W]`` normalised blank canvas (methods that need one).

        Returns:
            non-negative float ``[B, H, W]`` (detached, on the inputs' device).
        """
        if self.needs_baseline and baseline is None:
            raise ValueError(f"{self.name}: needs a baseline (see background_baseline)")
        maps = []
        for start in range(0, len(inputs), self.batch_size):
            # A leaf that requires grad: gradient methods need it, and Captum warns otherwise.
            batch = inputs[start : start + self.batch_size].detach().requires_grad_(True)
            base = None if baseline is None else baseline.expand_as(batch).contiguous()
            maps.append(self._attribute(batch, target[start : start + self.batch_size], base).detach())
        return torch.cat(maps) if maps else inputs.new_zeros((0, *inputs.shape[2:]))

    def _attribute(self, inputs: torch.Tensor, target: torch.Tensor, baseline: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError


class IntegratedGradientsMethod(AttributionMethod):
    """Captum ``IntegratedGradients`` from the blank-canvas baseline (Gauss-Legendre), checked for convergence.

    Completeness says the attributions sum to ``f(x) - f(baseline)``; Captum's
    convergence delta is the gap. Starting from ``n_steps`` (default 16), the
    steps are doubled until every image's gap is under ``tolerance`` (default
    0.05) of ``|f(x) - f(baseline)|``, up to ``max_steps`` (default 128).
    ``convergence`` records, per batch, the steps used, the worst relative
    gap and whether the cap was hit.
    """

    name = "integrated_gradients"
    needs_baseline = True

    def __init__(self, model: nn.Module, batch_size: int = 16, **options: Any) -> None:
        super().__init__(model, batch_size, **options)
        self.convergence: list[dict[str, float | int | bool]] = []

    def _attribute(self, inputs, target, baseline):
        steps = self.options.get("n_steps", 16)
        cap = max(steps, self.options.get("max_steps", 128))
        tolerance = self.options.get("tolerance", 0.05)
        with torch.no_grad():
            logits = self.model(torch.cat([inputs, baseline[:1]]))  # [B + 1, C]
        rows = torch.arange(len(inputs), device=inputs.device)
        span = (logits[:-1][rows, target] - logits[-1, target]).abs().clamp_min(1e-6)  # [B] |f(x) - f(baseline)|
        while True:
            attributions, delta = IntegratedGradients(self.model).attribute(
                inputs, baselines=baseline, target=target, n_steps=steps, method="gausslegendre",
                internal_batch_size=self.options.get("internal_batch_size", 64), return_convergence_delta=True)
            relative = float((delta.abs() / span).max())
            if relative <= tolerance or steps >= cap:
                break
            steps = min(cap, steps * 2)
        self.convergence.append({"n_steps": steps, "relative_delta": relative, "cap_hit": relative > tolerance})
        return attributions.abs().sum(1)


class SaliencyMethod(AttributionMethod):
    """Captum ``Saliency``: ``|d logit / d pixel|``, max-free (summed over channels)."""

    name = "saliency"

    def _attribute(self, inputs, target, baseline):
        return Saliency(self.model).attribute(inputs, target=target, abs=True).sum(1)


class SmoothGradMethod(AttributionMethod):
    """Captum ``NoiseTunnel(Saliency)`` with ``nt_type='smoothgrad'`` (noise sd 0.15 of the input range)."""

    name = "smoothgrad"

    def _attribute(self, inputs, target, baseline):
        spread = float(inputs.detach().max() - inputs.detach().min())
        attributions = NoiseTunnel(Saliency(self.model)).attribute(
            inputs, nt_type="smoothgrad", nt_samples=self.options.get("nt_samples", 8),
            nt_samples_batch_size=self.options.get("nt_samples_batch_size", 8),
            stdevs=self.options.get("stdev_fraction", 0.15) * spread, target=target, abs=True,
        )
        return attributions.sum(1)


class OcclusionMethod(AttributionMethod):
    """Captum ``Occlusion``: patches (1/8 of the side, non-overlapping by default) replaced by the blank canvas."""

    name = "occlusion"
    needs_baseline = True

    def _attribute(self, inputs, target, baseline):
        side = self.options.get("window") or max(2, inputs.shape[-1] // 8)
        stride = self.options.get("stride") or side  # non-overlapping: 64 forwards per image
        attributions = Occlusion(self.model).attribute(
            inputs, sliding_window_shapes=(3, side, side), strides=(3, stride, stride),
            baselines=baseline, target=target, perturbations_per_eval=self.options.get("perturbations_per_eval", 32),
        )
        return attributions.abs().sum(1)


class GradCamMethod(AttributionMethod):
    """Captum ``LayerGradCam`` on the last conv stage, ``relu_attributions=True``, upsampled bilinearly."""

    name = "gradcam"

    def _attribute(self, inputs, target, baseline):
        layer = self.options.get("layer") or last_conv_stage(self.model)  # callers pass gradcam_layer()
        cam = LayerGradCam(self.model, layer).attribute(inputs, target=target, relu_attributions=True)  # [B, 1, h, w]
        cam = F.interpolate(cam, size=inputs.shape[-2:], mode="bilinear", align_corners=False)
        return cam[:, 0].clamp_min(0)  # bilinear upsampling of a non-negative map stays >= 0 up to rounding


METHODS: dict[str, type[AttributionMethod]] = {
    cls.name: cls
    for cls in (IntegratedGradientsMethod, SaliencyMethod, SmoothGradMethod, OcclusionMethod, GradCamMethod)
}


def available() -> list[str]:
    """Registered attribution method names."""
    return sorted(METHODS)


def create(name: str, model: nn.Module, batch_size: int = 16, **options: Any) -> AttributionMethod:
    """Build a registered attribution method around a (prepared) model.

    Args:
        name: one of ``available()``.
        model: from ``prepare_model``.
        batch_size: images per Captum call.
        options: method options (``n_steps``, ``internal_batch_size``,
            ``nt_samples``, ``window``, ``stride``, ``layer``).

    Raises:
        ValueError: unknown name, listing the known ones.
    """
    if name not in METHODS:
        raise ValueError(f"attribution method: unknown {name!r}; valid: {', '.join(available())}")
    return METHODS[name](model, batch_size=batch_size, **options)
