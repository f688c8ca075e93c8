"""CcGAN's vicinity: rules of thumb for sigma and kappa / nu, and the batch sampler of the vicinal
discriminator losses (hard: HVDL, soft: SVDL). Labels are normalised to [0, 1].

A discriminator batch: target labels t = y_j + eps, y_j drawn from the distinct training labels and
eps ~ N(0, sigma^2); for each target a real image whose label lies in the vicinity of t
(|y - t| <= kappa, or (y - t)^2 <= -log(threshold) / nu for the soft one) and a fake label drawn
uniformly from that vicinity (clipped to [0, 1]). Soft weights: exp(-nu (y - t)^2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


def kernel_sigma(labels: np.ndarray | torch.Tensor) -> float:
    """Silverman's rule: 1.06 * std(labels) * n^(-1/5) (population std, as numpy's default)."""
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    return float(1.06 * y.std() * len(y) ** (-1 / 5))


def max_gap(labels: np.ndarray | torch.Tensor) -> float:
    """The largest gap between consecutive sorted distinct labels."""
    u = np.unique(np.asarray(labels, dtype=np.float64))
    if len(u) < 2:
        raise ValueError("the vicinity rule needs at least two distinct training labels")
    return float(np.diff(u).max())


def kappa_rule(labels: np.ndarray | torch.Tensor, multiplier: float, vicinity: str) -> float:
    """Hard: kappa = multiplier * max gap. Soft: nu = 1 / (multiplier * max gap)^2."""
    base = abs(multiplier) * max_gap(labels)
    if vicinity == "hard":
        return base
    if vicinity == "soft":
        return 1.0 / base ** 2
    raise ValueError(f"vicinity must be 'hard' or 'soft', got {vicinity!r}")


@dataclass
class VicinalBatch:
    target: torch.Tensor      # conditioning label of D for both halves
    real_index: torch.Tensor  # indices into the training set
    fake_label: torch.Tensor  # labels G is asked to generate
    w_real: torch.Tensor | None
    w_fake: torch.Tensor | None


class VicinalSampler:
    """Draws vicinal discriminator batches from sorted training labels, all on one device."""

    def __init__(self, labels: torch.Tensor, *, sigma: float, kappa: float, vicinity: str,
                 weight_threshold: float = 1e-3):
        if vicinity not in ("hard", "soft"):
            raise ValueError(f"vicinity must be 'hard' or 'soft', got {vicinity!r}")
        self.sorted, self.order = torch.sort(labels.float().view(-1))
        self.unique = torch.unique(self.sorted)
        self.sigma, self.kappa, self.vicinity = float(sigma), float(kappa), vicinity
        # Half-width of the window: kappa (hard), or where the soft weight falls to the threshold.
        self.radius = kappa if vicinity == "hard" else math.sqrt(-math.log(weight_threshold) / kappa)

    def targets(self, n: int) -> torch.Tensor:
        device = self.unique.device
        base = self.unique[torch.randint(len(self.unique), (n,), device=device)]
        return base + self.sigma * torch.randn(n, device=device)

    def _window(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lo = torch.searchsorted(self.sorted, t - self.radius, right=False)
        hi = torch.searchsorted(self.sorted, t + self.radius, right=True)
        return lo, hi - lo

    def weights(self, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor | None:
        return torch.exp(-self.kappa * (y - t) ** 2) if self.vicinity == "soft" else None

    def batch(self, n: int) -> VicinalBatch:
        device = self.unique.device
        base = self.unique[torch.randint(len(self.unique), (n,), device=device)]
        t = base + self.sigma * torch.randn(n, device=device)
        lo, count = self._window(t)
        # A target with no real label in its window gets a fresh noise draw around the same label.
        empty = count == 0
        while bool(empty.any()):
            t[empty] = base[empty] + self.sigma * torch.randn(int(empty.sum()), device=device)
            lo, count = self._window(t)
            empty = count == 0
        pick = lo + (torch.rand(n, device=device) * count).long().clamp_max(count - 1)
        real_index = self.order[pick]
        low = (t - self.radius).clamp(0.0, 1.0)
        high = (t + self.radius).clamp(0.0, 1.0)
        fake = low + (high - low) * torch.rand(n, device=device)
        y_real = self.sorted[pick]
        return VicinalBatch(t, real_index, fake, self.weights(y_real, t), self.weights(fake, t))
