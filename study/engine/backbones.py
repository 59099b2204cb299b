"""timm bodies that every head, Grad-CAM and the probes can use: ``[B, 3, H, W] -> [B, F, h, w]``.

``timm_body("vit_tiny_patch16_224", pretrained=False, image_size=64)`` builds
the network at the study's image size (ViTs and MLP-Mixers fix their patch
grid at creation) and returns a body whose output is a spatial map:

* convolutional networks (``resnet10t``, ``convnext_atto``...) keep timm's
  own module tree; their features are already ``[B, F, h, w]``;
* token models (the ``VisionTransformer`` family: ``vit_*``, ``deit_*``; the
  ``MlpMixer`` family: ``mixer_*``, ``resmlp_*``, ``gmlp_*``) become a
  ``TokenMapBody``: the patch tokens ``[B, N, D]`` are reshaped onto their
  patch grid ``[B, D, gh, gw]`` and the prefix (class, distillation,
  register) tokens are dropped from the output.

A ``timm:`` architecture is ``timm:<name>`` or ``timm:<name>@patch<P>``: the
suffix overrides the patch size of a token model (``vit_tiny_patch16_224@patch8``
at 64 px has an 8 x 8 grid instead of 4 x 4). With pretrained weights, timm
resamples the patch embedding and the position embedding to the new patch
size and grid when it loads them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import numpy as np
import torch
import torch.nn as nn

from study.config.names import parse_timm_name, timm_names
from study.errors import ConfigError, WeightsUnavailableError

__all__ = ["PatchMap", "TokenMapBody", "check_timm_name", "check_timm_names", "parse_timm_name", "timm_body"]

STAGES = 4  # probe/Grad-CAM taps along a token model's depth, like a ResNet's layer1..layer4
TOKEN_FAMILIES = "VisionTransformer (vit_*, deit_*) or MlpMixer (mixer_*, resmlp_*, gmlp_*)"


def timm_body(name: str, pretrained: bool, image_size: int) -> tuple[nn.Module, int, int]:
    """A timm network without pooling and classifier, as a body ``[B, 3, S, S] -> [B, F, h, w]``.

    Args:
        name: ``<timm model name>[@patch<P>]`` (without the ``timm:`` prefix).
        pretrained: load timm's default pretrained weights (from the Hugging
            Face cache, downloading when online).
        image_size: side S of the square input in px; passed to timm as
            ``img_size`` for models that fix their input size at creation.

    Returns:
        ``(body, num_features F, split)``: ``split`` is the index of the first
        body child in the second of the two body layer groups.

    Raises:
        ConfigError: unknown model name (with close matches), options the model
            does not take, a body whose output is not a feature map, or
            pretrained weights that timm does not have or that do not fit.
        WeightsUnavailableError: pretrained weights not cached and not downloadable.
    """
    import timm

    model_name, overrides = parse_timm_name(name)
    _check_known(model_name)
    config = timm.get_pretrained_cfg(model_name)
    kwargs: dict = {"num_classes": 0, "global_pool": "", **overrides}
    if config is not None and config.fixed_input_size:
        kwargs["img_size"] = image_size  # ViT/Mixer position embedding and token mixing are sized by it
    if pretrained and config is not None and not (config.hf_hub_id or config.url or config.file):
        raise ConfigError(
            f"weights=imagenet: timm has no pretrained weights for {model_name!r}; use weights=none, or a model "
            f"from timm.list_models(pretrained=True)"
        )
    network = _create(name, model_name, pretrained, kwargs)
    if _is_token_model(network):
        body = TokenMapBody(network)
        return body, int(network.num_features), body.split
    _check_feature_map(network, name, image_size)
    return network, int(network.num_features), max(1, len(list(network.children())) // 2)


def cached_weights(name: str) -> str | None:
    """Where timm's pretrained weights for ``<model>[@patch<P>]`` are cached, or None (not cached, or none exist).

    Looks in the Hugging Face cache only; never touches the network (analysis uses it to skip an
    ImageNet comparison offline instead of waiting through the hub's retries).
    """
    import huggingface_hub
    import timm

    model_name, _ = parse_timm_name(name)
    config = timm.get_pretrained_cfg(model_name) if timm.is_model(model_name) else None
    if config is None or not config.hf_hub_id:
        return None
    for file_name in ("model.safetensors", "pytorch_model.bin"):
        path = huggingface_hub.try_to_load_from_cache(config.hf_hub_id, file_name)
        if isinstance(path, str):
            return path
    return None


def check_timm_name(name: str) -> None:
    """Refuse, before anything trains, a ``<model>[@patch<P>]`` that timm cannot build.

    Raises:
        ConfigError: a malformed suffix or an unknown model name (with close matches).
    """
    _check_known(parse_timm_name(name)[0])


def check_timm_names(archs: Iterable[str]) -> None:
    """``check_timm_name`` for every distinct ``timm:`` arch among ``archs`` (the cells of a sweep).

    Raises:
        ConfigError: the first unknown or malformed name.
    """
    for name in timm_names(archs):
        check_timm_name(name)


def _check_known(model_name: str) -> None:
    import timm

    if not timm.is_model(model_name):
        close = difflib.get_close_matches(model_name, timm.list_models(), n=3, cutoff=0.6)
        hint = f"; close: {', '.join(close)}" if close else ""
        raise ConfigError(f"arch: unknown timm model {model_name!r} (see timm.list_models()){hint}")


def _create(name: str, model_name: str, pretrained: bool, kwargs: dict) -> nn.Module:
    """``timm.create_model`` with its failures turned into one-line errors.

    The architecture is built with random weights first, so a bad option is
    reported as such and only a failure to fetch or fit the weights is blamed
    on the weights.
    """
    import timm

    try:
        try:
            network = timm.create_model(model_name, pretrained=False, **kwargs)
        except AssertionError:  # a head that insists on its pooling (DeiT distilled); token bodies skip the head
            kwargs = {key: value for key, value in kwargs.items() if key != "global_pool"}
            network = timm.create_model(model_name, pretrained=False, **kwargs)
    except TypeError as error:  # e.g. img_size/patch_size given to a model without them
        options = ", ".join(f"{key}={value}" for key, value in kwargs.items() if key in ("img_size", "patch_size"))
        raise ConfigError(f"arch: timm:{name} does not take {options or 'these options'} ({error})") from None
    if not pretrained:
        return network
    try:
        return timm.create_model(model_name, pretrained=True, **kwargs)
    except OSError as error:  # offline, not cached, HTTP errors (urllib and huggingface_hub raise OSErrors)
        raise WeightsUnavailableError(
            f"weights=imagenet: cannot load pretrained timm:{model_name} ({type(error).__name__}: {error}); "
            f"offline? put its files in the Hugging Face cache (HF_HOME, default ~/.cache/huggingface), "
            f"or pass weights=<path to a state dict> or weights=none"
        ) from None
    except RuntimeError as error:  # the weights exist but cannot be fitted (e.g. Mixer token mixing at another size)
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        size = f" at {kwargs['img_size']} px" if "img_size" in kwargs else ""
        raise ConfigError(
            f"weights=imagenet: timm's pretrained weights do not fit timm:{name}{size} ({first_line}); "
            f"MLP-Mixer/ResMLP token mixing is tied to the pretrained patch grid; use weights=none or that size"
        ) from None


def _is_token_model(network: nn.Module) -> bool:
    from timm.models.mlp_mixer import MlpMixer
    from timm.models.vision_transformer import VisionTransformer

    return isinstance(network, (VisionTransformer, MlpMixer))


@torch.no_grad()
def _check_feature_map(network: nn.Module, name: str, image_size: int) -> None:
    """One forward of a blank image: the features must be ``[1, num_features, h, w]``."""
    was_training = network.training
    network.eval()
    try:
        features = network(torch.zeros(1, 3, image_size, image_size))
    finally:
        network.train(was_training)
    shape = tuple(features.shape)
    if len(shape) != 4 or shape[1] != network.num_features:
        raise ConfigError(
            f"arch: timm:{name} returns features of shape {list(shape)}, not [B, {network.num_features}, h, w]; "
            f"use a convolutional network or a token model of the {TOKEN_FAMILIES} family"
        )


class PatchMap(nn.Identity):
    """Marks a stage's patch map ``[B, D, gh, gw]``: the output that probes and Grad-CAM hook."""


class TokenMapBody(nn.Module):
    """A timm ViT/MLP-Mixer as a body: ``[B, 3, H, W] -> [B, D, gh, gw]`` (the final normed patch tokens).

    Children, in order (``K = min(4, depth)`` stages):
    ``embed`` (patch embedding, prefix tokens, position embedding), then per
    stage ``blocks<k>`` (a run of transformer/mixer blocks, tokens -> tokens)
    and ``layer<k>`` (a ``PatchMap``: the stage's patch tokens as a map), with
    the final ``norm`` before ``layer<K>``. The ``layer<k>`` children are on
    the forward path (the map is turned back into tokens for the next stage),
    so a hook on any of them sees a real feature map with real gradients, as
    a ResNet's ``layer1``..``layer4`` do; ``layer<K>`` is the last child
    (Grad-CAM's layer) and its output is the body's output.

    Attributes:
        split: index of the first child of the second layer group (the
            ``blocks`` of stage ``K // 2 + 1``; for 4 stages: ``blocks3``,
            like a ResNet split before ``layer3``).
        num_prefix_tokens: tokens before the patch tokens (class, registers).
    """

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        blocks = list(network.blocks)
        final_norm = network.norm
        # The network keeps only its embedding; its own forward_features then embeds (blocks and norm are ours).
        network.blocks = nn.Sequential()
        network.norm = nn.Identity()
        self.num_prefix_tokens = int(getattr(network, "num_prefix_tokens", 0))
        self._patch_embed_name = "patch_embed" if hasattr(network, "patch_embed") else "stem"
        self.embed = _Embed(network)
        stage_ranges = np.array_split(np.arange(len(blocks)), min(STAGES, len(blocks)))
        for index, block_indices in enumerate(stage_ranges, 1):
            self.add_module(f"blocks{index}", nn.Sequential(*(blocks[i] for i in block_indices)))
            if index == len(stage_ranges):
                self.norm = final_norm
            self.add_module(f"layer{index}", PatchMap())
        self.stages = len(stage_ranges)
        self.split = 1 + 2 * (self.stages // 2) if self.stages > 1 else 1

    def patch_grid(self, height: int, width: int) -> tuple[int, int]:
        """The patch grid ``(gh, gw)`` of an ``height x width`` input."""
        patch_embed = getattr(self.embed.network, self._patch_embed_name)
        return tuple(patch_embed.dynamic_feat_size((height, width)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W] -> [B, D, gh, gw]``."""
        grid = self.patch_grid(images.shape[-2], images.shape[-1])
        tokens = self.embed(images)  # [B, P + gh*gw, D]
        patch_map = None
        for index in range(1, self.stages + 1):
            tokens = getattr(self, f"blocks{index}")(tokens)
            if index == self.stages:
                tokens = self.norm(tokens)
            patch_map = getattr(self, f"layer{index}")(self._to_map(tokens, grid))
            if index < self.stages:  # the next stage attends over the (possibly hooked) map and the prefix
                tokens = self._to_tokens(tokens[:, : self.num_prefix_tokens], patch_map)
        return patch_map

    def _to_map(self, tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """Patch tokens ``[B, P + gh*gw, D]`` (row-major patches) -> ``[B, D, gh, gw]``."""
        patches = tokens[:, self.num_prefix_tokens :]
        if patches.shape[1] != grid[0] * grid[1]:
            raise RuntimeError(f"token body: {patches.shape[1]} patch tokens do not fill a {grid[0]}x{grid[1]} grid")
        return patches.transpose(1, 2).reshape(patches.shape[0], patches.shape[2], *grid)

    @staticmethod
    def _to_tokens(prefix: torch.Tensor, patch_map: torch.Tensor) -> torch.Tensor:
        """Prefix tokens ``[B, P, D]`` and a map ``[B, D, gh, gw]`` -> tokens ``[B, P + gh*gw, D]``."""
        return torch.cat([prefix, patch_map.flatten(2).transpose(1, 2)], dim=1)


class _Embed(nn.Module):
    """The token model stripped of blocks and final norm: ``[B, 3, H, W] -> tokens [B, P + N, D]``."""

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network.forward_features(images)
