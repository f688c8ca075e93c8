"""FSP (Yim et al. 2017): match the flow matrices (channel Gram matrices between consecutive
feature maps, the larger pooled to the smaller) of stem and stages. As upstream, this is a
stage before the student's training (the student's feature layers on the FSP loss); there is
no main-stage term. Needs equal channel counts in student and teacher at every level.
"""

from __future__ import annotations

import torch

from ..common.errors import UserError
from ._common import match_spatial, run_stage
from .base import Distiller, register_distiller


def flow_matrices(feats) -> list[torch.Tensor]:
    """(B, C_top, C_bottom) = top . bottom^T / (H W) for each consecutive pair."""
    out = []
    for bottom, top in zip(feats[:-1], feats[1:]):
        bottom, top = match_spatial(bottom, top)
        out.append(top.flatten(2) @ bottom.flatten(2).transpose(1, 2) / bottom[0, 0].numel())
    return out


@register_distiller("fsp", "FSP")
class FSP(Distiller):
    needs_teacher = True
    has_stage = True

    def __init__(self, student, teacher, task, cfg=None):
        super().__init__(student, teacher, task, cfg)
        s_c = [s[1] for s in self.probe(student)[:-1]]
        t_c = [t[1] for t in self.probe(teacher)[:-1]]
        if s_c != t_c:
            raise UserError(f"--distill fsp needs the same channels in student and teacher at every level; "
                            f"got student {s_c}, teacher {t_c}")

    def fsp_loss(self, s_feats, t_feats) -> torch.Tensor:
        pairs = zip(flow_matrices(s_feats[:-1]), flow_matrices(t_feats[:-1]))
        return sum((s - t).pow(2).mean() for s, t in pairs)

    def stage(self, batches, device):
        self.student.train()

        def loss_fn(x, y, index):
            s_feats, _ = self.student(x, is_feat=True)
            t_feats, _ = self.teacher_forward(x, features=True)
            return self.fsp_loss(s_feats, t_feats)

        return run_stage("fsp", self.student.get_feat_modules().parameters(), loss_fn, batches,
                         **self.stage_settings())
