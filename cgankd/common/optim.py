"""Learning-rate schedules as a function of the (fractional) epoch."""

from __future__ import annotations

import math


def lr_at(epoch: float, *, base_lr: float, epochs: int, schedule: str, milestones: list[int] | tuple = (),
          gamma: float = 0.1) -> float:
    """Step: ×gamma once `epoch` (0-based, whole epochs done) reaches each milestone — the
    reference's `epoch > milestone` with 1-based epochs. Cosine: annealed to 0 per iteration."""
    if schedule == "step":
        return base_lr * gamma ** sum(int(epoch) >= m for m in milestones)
    if schedule == "cosine":
        return 0.5 * base_lr * (1 + math.cos(math.pi * min(epoch / epochs, 1.0)))
    raise ValueError(f"unknown schedule {schedule!r}")
