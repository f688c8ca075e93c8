"""Device choice and the speed settings that go with it (AMP dtype, channels_last, fused optimisers,
inference batch sizes). Each CUDA branch is a line or two; on CPUs every choice here is what it was
before these fast paths existed, so CPU results do not change."""

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


def cpu_has_bf16() -> bool:
    """Whether oneDNN runs bfloat16 kernels natively on this CPU (AVX512-BF16 or AMX)."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def amp_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cpu" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def amp_enabled(requested: bool | None, device: torch.device) -> bool:
    """--amp / --no-amp as given; unset: on for CUDA (bf16, or fp16 with a GradScaler), off on CPUs.
    On a CPU, --amp means bf16 autocast and needs native bf16 kernels (emulated bf16 is slower)."""
    if requested and device.type == "cpu" and not cpu_has_bf16():
        raise UserError("--amp on this CPU: it has no native bfloat16 kernels (AVX512-BF16 or AMX); "
                        "train in float32 (drop --amp)")
    return device.type == "cuda" if requested is None else bool(requested)


def autocast(device: torch.device, enabled: bool):
    """Mixed precision when enabled: bf16 (fp16 on GPUs without bf16). On CPUs it is opt-in: in
    bf16 the trainer ran resnet8x4 1.59x as fast on the idle 2-core AVX512-BF16 CPU and resnet20
    1.05x (docs/benchmarks.md), while float32 keeps CPU runs bitwise equal to earlier ones."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=amp_dtype(device))


def memory_format(device: torch.device) -> torch.memory_format:
    """channels_last for conv nets on every device: +24 % (2 threads) to +34 % (1 thread) for a
    resnet20 training step on the 2-core CPU (docs/benchmarks.md), and the fast path on GPUs."""
    del device  # the same choice everywhere; kept in the signature so callers say where they run
    return torch.channels_last


def tune_for(device: torch.device) -> None:
    """Process-wide kernel choices for fixed-shape training on GPUs: cuDNN autotuning, TF32 matmuls."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def optimizer_options(device: torch.device) -> dict:
    """Keyword arguments for SGD / Adam: the fused CUDA kernels on GPUs (one launch for all
    parameters), torch's default implementation elsewhere."""
    return {"fused": True} if device.type == "cuda" else {}


def inference_batch(device: torch.device, at_least: int = 0) -> int:
    """Images per forward pass for evaluation and scoring: 256 on CPUs (as before), 1024 on GPUs."""
    return max(at_least, 1024 if device.type == "cuda" else 256)
