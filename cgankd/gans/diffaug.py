"""DiffAugment (Zhao et al. 2020): differentiable augmentations applied to every input of D,
real and fake alike, so gradients reach G through them. Images are in [-1, 1], NCHW.

Policies (comma-separated): color (brightness, saturation, contrast), translation (shift by up
to 1/8 of the side, zero fill), cutout (a zeroed square of half the side).
"""

from __future__ import annotations

import torch


def _rand(x: torch.Tensor) -> torch.Tensor:
    return torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype)


def brightness(x: torch.Tensor) -> torch.Tensor:
    return x + (_rand(x) - 0.5)


def saturation(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_rand(x) * 2) + mean


def contrast(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand(x) + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device)
    dx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1) + dy       # source row of each output pixel
    cols = torch.arange(w, device=x.device).view(1, 1, w) + dx
    # Pad by one zero pixel and send out-of-range sources to it.
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    rows = (rows + 1).clamp(0, h + 1).expand(b, h, w)
    cols = (cols + 1).clamp(0, w + 1).expand(b, h, w)
    flat = (rows * (w + 2) + cols).view(b, 1, h * w).expand(-1, x.shape[1], -1)
    return padded.flatten(2).gather(2, flat).view_as(x)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    # Centre of the square, so it may hang over the border (as the original does).
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    top, left = cy - ch // 2, cx - cw // 2
    inside = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


POLICIES = {"color": (brightness, saturation, contrast), "translation": (translation,), "cutout": (cutout,)}


def parse_policy(policy: str | None) -> list[str]:
    names = [p.strip() for p in (policy or "").split(",") if p.strip()]
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {unknown[0]!r}; known: {', '.join(POLICIES)}")
    return names


def diff_augment(x: torch.Tensor, policy: str | None) -> torch.Tensor:
    for name in parse_policy(policy):
        for fn in POLICIES[name]:
            x = fn(x)
    return x
