"""PKT (Passalis & Tefas 2018): match the conditional probability distributions that cosine
similarities (mapped to [0, 1]) induce over the batch, on the pooled features."""

from __future__ import annotations

import torch

from .base import Distiller, register_distiller

EPS = 1e-7


def cosine_distribution(f: torch.Tensor) -> torch.Tensor:
    f = f / (f.norm(dim=1, keepdim=True) + EPS)
    sim = (f @ f.t() + 1.0) / 2.0
    return sim / sim.sum(dim=1, keepdim=True)


@register_distiller("pkt", "PKT")
class PKT(Distiller):
    needs_teacher = True
    uses_features = True
    loss_name = "pkt"

    def method_loss(self, s_feats, t_feats, y, index):
        p_s, p_t = cosine_distribution(s_feats[-1]), cosine_distribution(t_feats[-1])
        return (p_t * torch.log((p_t + EPS) / (p_s + EPS))).mean()
