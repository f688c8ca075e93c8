"""RKD (Park et al. 2019): match the mean-normalised pairwise distances (weight 25) and the
angles of every triplet (weight 50) of the pooled features, with the smooth-L1 loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Distiller, register_distiller


def pairwise_distances(e: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    sq = e.pow(2).sum(1)
    d = (sq[:, None] + sq[None, :] - 2 * e @ e.t()).clamp(min=eps).sqrt()
    return d * (1 - torch.eye(len(e), device=e.device, dtype=e.dtype))


def normalised_distances(e: torch.Tensor) -> torch.Tensor:
    d = pairwise_distances(e)
    return d / d[d > 0].mean()


def triplet_angles(e: torch.Tensor) -> torch.Tensor:
    """cos of the angle at i between j and k, for all (i, j, k)."""
    diff = F.normalize(e[None, :, :] - e[:, None, :], p=2, dim=2)
    return torch.bmm(diff, diff.transpose(1, 2)).flatten()


@register_distiller("rkd", "RKD")
class RKD(Distiller):
    needs_teacher = True
    uses_features = True
    loss_name = "rkd"

    def method_loss(self, s_feats, t_feats, y, index):
        s, t = s_feats[-1].flatten(1), t_feats[-1].flatten(1)
        dist = F.smooth_l1_loss(normalised_distances(s), normalised_distances(t))
        angle = F.smooth_l1_loss(triplet_angles(s), triplet_angles(t))
        return self.opts["w_dist"] * dist + self.opts["w_angle"] * angle
