"""Batch-norm treatments for students that train on real and fake images.

- `attach_aux_bn`: every BatchNorm2d of a net gets a twin that fake rows pass through while
  training (the auxiliary batch-norm of synthetic-data training: the convolutions are shared,
  the normalisation statistics and affine parameters are not); `detach_aux_bn` puts the real ones
  back, so the saved student is the plain architecture.
- `recalibrate_bn`: re-estimate every BatchNorm's running statistics from given batches (e.g. the
  real training images after training on real + fake), as a plain average over them.
"""

from __future__ import annotations

import copy
from typing import Iterable

import torch
from torch import nn


class DualBatchNorm(nn.Module):
    """A BatchNorm2d for real rows and a twin for fake rows. `fake_mask` (B,), set before a training
    forward, says which rows are fakes; in eval mode, or without a mask, every row uses the real one."""

    def __init__(self, real: nn.BatchNorm2d):
        super().__init__()
        self.real, self.fake = real, copy.deepcopy(real)
        self.fake_mask: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = self.fake_mask
        if not self.training or mask is None or len(mask) != len(x) or not bool(mask.any()):
            return self.real(x)
        if bool(mask.all()):
            return self.fake(x)
        out = torch.empty_like(x)
        out[~mask] = self.real(x[~mask])
        out[mask] = self.fake(x[mask])
        return out

    # Pre-activation features of KD methods read the (real) layer's parameters directly.
    def __getattr__(self, name: str):
        if name in ("running_mean", "running_var", "weight", "bias", "eps", "momentum", "num_features"):
            return getattr(self._modules["real"], name)
        return super().__getattr__(name)


def _replace(model: nn.Module, swap) -> list[nn.Module]:
    made = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            new = swap(child)
            if new is not None:
                setattr(parent, name, new)
                made.append(new)
    return made


def attach_aux_bn(model: nn.Module) -> list[DualBatchNorm]:
    """Give every BatchNorm2d of `model` a twin for fakes (in place); returns the dual layers."""
    return _replace(model, lambda m: DualBatchNorm(m) if type(m) is nn.BatchNorm2d else None)


def detach_aux_bn(model: nn.Module) -> None:
    """Put the real batch-norm layers back in place of the dual ones."""
    _replace(model, lambda m: m.real if isinstance(m, DualBatchNorm) else None)


def set_fake_rows(layers: Iterable[DualBatchNorm], mask: torch.Tensor | None) -> None:
    for layer in layers:
        layer.fake_mask = mask


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Reset every BatchNorm's running statistics and re-estimate them as the plain average over
    `batches` (train-mode forwards, no gradient); returns the number of images seen."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None                       # cumulative average
    was_training = model.training
    model.train()
    seen = 0
    for x in batches:
        model(x)
        seen += len(x)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.train(was_training)
    return seen
