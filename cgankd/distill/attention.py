"""AT (Zagoruyko & Komodakis 2017): match the normalised spatial attention maps
mean_c |f|^p of every stage output."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._common import match_spatial, stage_maps
from .base import Distiller, register_distiller


def attention_map(f: torch.Tensor, p: float) -> torch.Tensor:
    return F.normalize(f.pow(p).mean(1).flatten(1), dim=1)


@register_distiller("attention", "AT")
class AT(Distiller):
    needs_teacher = True
    uses_features = True
    loss_name = "at"

    def method_loss(self, s_feats, t_feats, y, index):
        p = self.opts["p"]
        losses = []
        for s, t in zip(stage_maps(s_feats), stage_maps(t_feats)):
            s, t = match_spatial(s, t)
            losses.append((attention_map(s, p) - attention_map(t, p)).pow(2).mean())
        return sum(losses)
