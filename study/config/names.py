"""The names a spec chooses code by: augmentation policies and architectures.

Configuration checks a spec against these names without importing the code
they name (torch, timm): the registries themselves are
``study.data.augment.POLICIES`` and ``study.engine.models`` (which builds
``ARCHITECTURES`` and any ``timm:<name>``); tests/study/test_config.py checks
that they and these names agree. Whether timm knows a ``timm:<name>`` needs
timm, so it is checked where cells are about to run
(``study.engine.backbones.check_timm_name``, called by ``python -m study.train``
and by the sweep before it runs or estimates its cells).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from study.errors import ConfigError

__all__ = ["AUG_POLICIES", "ARCHITECTURES", "TIMM_PREFIX", "architecture_names", "check_arch", "check_aug",
           "parse_timm_name", "timm_names"]

AUG_POLICIES = ("fastai", "none", "sensible")  # study.data.augment.POLICIES, sorted
ARCHITECTURES = ("resnet18", "resnet34", "resnet50")  # torchvision ResNets study.engine.models builds
TIMM_PREFIX = "timm:"
PATCH_SUFFIX = re.compile(r"^(?P<name>[^@]+)@patch(?P<patch>\d+)$")


def architecture_names() -> list[str]:
    """The valid ``arch`` values as an error message lists them."""
    return [*ARCHITECTURES, f"{TIMM_PREFIX}<name>"]


def parse_timm_name(name: str) -> tuple[str, dict[str, int]]:
    """Split ``<model>[@patch<P>]`` (a ``timm:`` arch without its prefix) into timm's model name and overrides.

    Returns:
        ``(model_name, overrides)``; overrides is ``{}`` or ``{"patch_size": P}``.

    Raises:
        ConfigError: a malformed ``@`` suffix or a patch size < 1.
    """
    if "@" not in name:
        return name, {}
    match = PATCH_SUFFIX.match(name)
    if not match or int(match["patch"]) < 1:
        raise ConfigError(
            f"arch: bad timm suffix in 'timm:{name}'; expected timm:<name> or timm:<name>@patch<P> with P >= 1 "
            f"(e.g. timm:vit_tiny_patch16_224@patch8)"
        )
    return match["name"], {"patch_size": int(match["patch"])}


def check_arch(arch: str) -> None:
    """A known architecture, or ``timm:<name>[@patch<P>]`` well formed (timm itself is not asked).

    Raises:
        ConfigError: naming the value and the valid choices.
    """
    if arch.startswith(TIMM_PREFIX) and len(arch) > len(TIMM_PREFIX):
        parse_timm_name(arch[len(TIMM_PREFIX):])
    elif arch not in ARCHITECTURES:
        raise ConfigError(f"arch: unknown value {arch!r}; valid: {', '.join(architecture_names())}")


def check_aug(aug: str) -> None:
    """A registered augmentation policy. Raises ConfigError naming the valid ones."""
    if aug not in AUG_POLICIES:
        raise ConfigError(f"aug: unknown value {aug!r}; valid: {', '.join(AUG_POLICIES)}")


def timm_names(archs: Iterable[str]) -> list[str]:
    """The distinct timm model names (``<name>[@patch<P>]``) among ``archs``, sorted."""
    return sorted({arch[len(TIMM_PREFIX):] for arch in archs
                   if arch.startswith(TIMM_PREFIX) and len(arch) > len(TIMM_PREFIX)})
