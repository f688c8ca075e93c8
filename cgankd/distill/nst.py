"""NST (Huang & Wang 2017): squared MMD with the polynomial kernel (x . y)^2 between the
distributions of L2-normalised per-channel activation maps, for every stage output."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._common import match_spatial, stage_maps
from .base import Distiller, register_distiller


def poly_kernel_mean(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a @ b.transpose(1, 2)).pow(2).mean()


def nst_loss(s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    s, t = match_spatial(s, t)
    s, t = F.normalize(s.flatten(2), dim=2), F.normalize(t.flatten(2), dim=2)
    return poly_kernel_mean(t, t) + poly_kernel_mean(s, s) - 2 * poly_kernel_mean(s, t)


@register_distiller("nst", "NST")
class NST(Distiller):
    needs_teacher = True
    uses_features = True
    loss_name = "nst"

    def method_loss(self, s_feats, t_feats, y, index):
        return sum(nst_loss(s, t) for s, t in zip(stage_maps(s_feats), stage_maps(t_feats)))
