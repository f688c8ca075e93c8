"""What differs between the two GANs in a training step: how labels are drawn and how they enter G
and D. Class labels (BigGAN) enter as ids; regression labels in [0, 1] (CcGAN) enter as y2h(y)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .vicinal import VicinalSampler


@dataclass
class DBatch:
    real_index: torch.Tensor
    d_label_real: torch.Tensor   # D's condition on the real half
    g_label: torch.Tensor        # labels the fakes are generated with
    d_label_fake: torch.Tensor   # D's condition on the fake half
    w_real: torch.Tensor | None = None
    w_fake: torch.Tensor | None = None


class ClassConditioner:
    """BigGAN: real images with their classes; fakes with classes drawn uniformly."""

    def __init__(self, labels: torch.Tensor, num_classes: int):
        self.labels, self.num_classes = labels, num_classes

    def embed(self, y: torch.Tensor) -> torch.Tensor:
        return y

    def random_labels(self, n: int, rng: torch.Generator | None = None) -> torch.Tensor:
        return torch.randint(self.num_classes, (n,), device=self.labels.device, generator=rng)

    def d_batch(self, n: int) -> DBatch:
        idx = torch.randint(len(self.labels), (n,), device=self.labels.device)
        fake = self.random_labels(n)
        return DBatch(idx, self.labels[idx], fake, fake)

    def g_labels(self, n: int) -> torch.Tensor:
        return self.random_labels(n)


class LabelConditioner:
    """CcGAN: vicinal batches for D; G steps at noisy targets around the training labels."""

    def __init__(self, labels: torch.Tensor, sampler: VicinalSampler, y2h: nn.Module):
        self.labels, self.sampler, self.y2h = labels, sampler, y2h

    @torch.no_grad()
    def embed(self, y: torch.Tensor) -> torch.Tensor:
        return self.y2h(y.float())

    def random_labels(self, n: int, rng: torch.Generator | None = None) -> torch.Tensor:
        return torch.rand(n, device=self.labels.device, generator=rng)

    def d_batch(self, n: int) -> DBatch:
        b = self.sampler.batch(n)
        return DBatch(b.real_index, b.target, b.fake_label, b.target, b.w_real, b.w_fake)

    def g_labels(self, n: int) -> torch.Tensor:
        return self.sampler.targets(n)
