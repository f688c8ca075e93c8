"""Exponential moving average of the generator's weights, and "standing" batch-norm statistics.

Before `start` the average is a copy of G; from then on ema = decay * ema + (1 - decay) * G.
Buffers (batch-norm running stats, spectral-norm vectors) are copied from G. Because the running
stats then belong to G, not to the averaged weights, samplers recompute them for the EMA weights
with `standing_stats` before drawing samples.
"""

from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn as nn


class EMA:
    def __init__(self, source: nn.Module, target: nn.Module, *, decay: float, start: int):
        self.source, self.target = source, target
        self.decay, self.start = float(decay), int(start)
        self.target.load_state_dict(source.state_dict())
        self.target.requires_grad_(False)

    @torch.no_grad()
    def update(self, iteration: int) -> None:
        """Call after the generator step of `iteration` (0-based count of finished G steps - 1)."""
        decay = self.decay if iteration >= self.start else 0.0
        src = dict(self.source.named_parameters())
        for name, p in self.target.named_parameters():
            p.mul_(decay).add_(src[name].detach(), alpha=1.0 - decay)
        src_buffers = dict(self.source.named_buffers())
        for name, b in self.target.named_buffers():
            b.copy_(src_buffers[name])


@torch.no_grad()
def standing_stats(generator: nn.Module, draw: Callable[[int, torch.Generator], tuple], *, n_batches: int,
                   batch_size: int, seed: int = 0) -> nn.Module:
    """A copy of `generator` whose batch-norm running stats are the plain average over `n_batches`
    forward passes of its own samples (`draw(batch_size, rng) -> (z, cond)`), in eval mode."""
    g = copy.deepcopy(generator)
    if n_batches <= 0:
        return g.eval()
    norms = [m for m in g.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    g.eval()                       # spectral norm keeps its vectors; only batch-norm accumulates
    for m in norms:
        m.reset_running_stats()
        m.momentum = None          # cumulative average
        m.train()
    rng = torch.Generator(device=next(g.parameters()).device).manual_seed(seed)
    for _ in range(n_batches):
        g(*draw(batch_size, rng))
    return g.eval()
