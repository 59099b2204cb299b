"""Numeric precision of training: bf16 autocast + channels_last where the hardware has native bf16.

``precision=auto`` picks bf16 autocast (weights and optimiser state stay
fp32) with channels_last memory format on CUDA devices that support bf16 and
on CPUs with AVX512-BF16 or AMX (oneDNN then runs bf16 convolutions natively);
elsewhere bf16 is emulated and slower than fp32, so auto runs fp32.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import torch

from study.config.spec import TrainSpec

__all__ = ["PRECISIONS", "native_bf16", "resolve_precision"]

PRECISIONS = typing.get_args(typing.get_type_hints(TrainSpec)["precision"])  # auto, fp32, bf16
# /proc/cpuinfo flags of CPUs that compute bf16 natively (AVX512-BF16 dot products, AMX tiles).
_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    """The CPU feature flags the kernel reports (empty where /proc/cpuinfo is missing, e.g. macOS)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def _cpu_has_native_bf16() -> bool:
    # torch reports AVX512 / AMX capability levels; the flags say whether the bf16 instructions exist.
    capability = torch.backends.cpu.get_cpu_capability().upper()
    return "AMX" in capability or bool(_BF16_CPU_FLAGS & _cpu_flags())


def native_bf16(device: str | torch.device) -> bool:
    """Whether ``device`` computes bf16 natively (CUDA: the driver says; CPU: AVX512-BF16 or AMX)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return _cpu_has_native_bf16()
    return False


def resolve_precision(
    choice: Literal["auto", "fp32", "bf16"], device: str | torch.device, log: Callable[[str], None] | None = None
) -> tuple[Literal["fp32", "bf16"], bool]:
    """What actually runs for a ``precision`` setting on a device.

    Args:
        choice: ``auto`` (bf16 where native, else fp32), ``fp32`` or ``bf16``.
        device: the training device.
        log: told when ``bf16`` was asked for but the device has no native bf16.

    Returns:
        ``(dtype name, channels_last)``: ``("bf16", True)`` or ``("fp32", False)``.

    Raises:
        ValueError: an unknown choice (naming the valid ones).
    """
    if choice not in PRECISIONS:
        raise ValueError(f"precision: unknown {choice!r}; valid: {', '.join(PRECISIONS)}")
    if choice == "fp32":
        return "fp32", False
    if native_bf16(device):
        return "bf16", True
    if choice == "bf16" and log is not None:
        log(f"precision=bf16: {torch.device(device)} has no native bf16 (CUDA with bf16, or a CPU with "
            "AVX512-BF16/AMX), where it would be emulated and slower; running fp32")
    return "fp32", False
