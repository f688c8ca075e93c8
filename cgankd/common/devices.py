"""Device choice and the speed settings that go with it (AMP dtype, channels_last)."""

from __future__ import annotations

import contextlib

import torch

from .errors import UserError


def pick_device(name: str | None = None) -> torch.device:
    """`None`/'auto' → cuda when present, else cpu. A named device that is absent is a user error."""
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name}: CUDA is not available on this machine (use --device cpu)")
    return device


def amp_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def autocast(device: torch.device, enabled: bool):
    """Mixed precision on GPUs only; on CPU it is a no-op (CPU autocast is slower for convs here)."""
    if not enabled or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=amp_dtype(device))


def memory_format(device: torch.device) -> torch.memory_format:
    """channels_last for conv nets on every device: +24 % (2 threads) to +34 % (1 thread) for a
    resnet20 training step on the 2-core CPU (docs/benchmarks.md), and the fast path on GPUs."""
    del device  # the same choice everywhere; kept in the signature so callers say where they run
    return torch.channels_last
