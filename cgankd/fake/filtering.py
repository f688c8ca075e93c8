"""Filtering cut-offs: drop the fakes the teacher finds hardest.

Classification: per class, the rho-quantile of teacher cross-entropy on burn-in fakes of that
class. Regression: one global rho-quantile of |teacher prediction - assigned label|. A fake is
kept when its score is at or below its cut-off, so rho = 1 keeps every fake of the burn-in range.
"""

from __future__ import annotations

import torch


def global_cutoff(scores: torch.Tensor, rho: float) -> float:
    if not 0.0 < rho <= 1.0:
        raise ValueError(f"rho must be in (0, 1], got {rho}")
    return float(torch.quantile(scores.double(), rho)) if rho < 1.0 else float("inf")


def class_cutoffs(scores: torch.Tensor, labels: torch.Tensor, rho: float, num_classes: int) -> torch.Tensor:
    """Per-class rho-quantiles (num_classes,); a class without burn-in scores keeps everything."""
    cutoffs = torch.full((num_classes,), float("inf"), dtype=torch.float64)
    for c in range(num_classes):
        in_class = scores[labels == c]
        if len(in_class):
            cutoffs[c] = global_cutoff(in_class, rho)
    return cutoffs
