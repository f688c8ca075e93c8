"""SP (Tung & Mori 2019): match the row-normalised batch similarity (Gram) matrices of the
last stage output: ||G_t - G_s||_F^2 / B^2."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Distiller, register_distiller


def similarity_matrix(f: torch.Tensor) -> torch.Tensor:
    f = f.flatten(1)
    return F.normalize(f @ f.t(), dim=1)


@register_distiller("similarity", "SP")
class SP(Distiller):
    needs_teacher = True
    uses_features = True
    loss_name = "sp"

    def method_loss(self, s_feats, t_feats, y, index):
        batch = s_feats[-2].shape[0]
        diff = similarity_matrix(t_feats[-2]) - similarity_matrix(s_feats[-2])
        return diff.pow(2).sum() / batch ** 2
