"""Learning-rate schedules and the optimiser step shared by every training loop here."""

from __future__ import annotations

import math
from typing import Sequence

import torch


def step_lr(base_lr: float, epoch: int, milestones: Sequence[int], gamma: float = 0.1) -> float:
    """×gamma once the 0-based `epoch` reaches each milestone (the reference's `epoch > m`
    with 1-based epochs)."""
    return base_lr * gamma ** sum(int(epoch) >= m for m in milestones)


def lr_at(epoch: float, *, base_lr: float, epochs: int, schedule: str, milestones: Sequence[int] = (),
          gamma: float = 0.1, warmup: float = 0.0) -> float:
    """The rate at a (fractional) epoch: step decay at milestones, or cosine annealed to 0 per
    iteration; during the first `warmup` epochs it also rises linearly from 0."""
    ramp = min(1.0, epoch / warmup) if warmup > 0 else 1.0
    if schedule == "step":
        return ramp * step_lr(base_lr, int(epoch), milestones, gamma)
    if schedule == "cosine":
        return ramp * 0.5 * base_lr * (1 + math.cos(math.pi * min(epoch / epochs, 1.0)))
    raise ValueError(f"unknown schedule {schedule!r}")


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def backward_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """One plain optimiser step on `loss` (the trainer adds AMP's scaler on top of this)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
