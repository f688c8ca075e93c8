"""AB (Heo et al. 2019): transfer the activation boundaries of every stage (pre-ReLU features).

A stage before the student's training trains the student's feature layers and a connector per
stage on the alternative hinge loss: a student neuron is pushed beyond -margin where the
teacher's is inactive and beyond +margin where it is active; deeper stages weigh more
(2^(i - n + 1)). Upstream has no main-stage term: afterwards the student trains on r * task
(+ a * KD with fakes), the connectors are dropped (frozen here).
"""

from __future__ import annotations

import torch
from torch import nn

from ._common import ConvReg, run_stage, stage_maps
from .base import Distiller, register_distiller


def boundary_loss(s: torch.Tensor, t: torch.Tensor, margin: float) -> torch.Tensor:
    """Summed squared hinge on the wrong side of +-margin, per the teacher's activation sign."""
    active = t > 0
    loss = ((s + margin).pow(2) * ((s > -margin) & ~active) + (s - margin).pow(2) * ((s <= margin) & active))
    return loss.sum()


@register_distiller("abound", "AB")
class AB(Distiller):
    needs_teacher = True
    has_stage = True

    def __init__(self, student, teacher, task, cfg=None):
        super().__init__(student, teacher, task, cfg)
        pairs = list(zip(stage_maps(self.probe(student, preact=True)), stage_maps(self.probe(teacher, preact=True))))
        self.connectors = nn.ModuleList(
            nn.Identity() if s[1:3] == t[1:3] else ConvReg(s, t, relu=False) for s, t in pairs)
        n = len(pairs)
        self.layer_weights = [2.0 ** (i - n + 1) for i in range(n)]

    def frozen_modules(self):
        return [self.connectors]

    def ab_loss(self, s_feats, t_feats) -> torch.Tensor:
        batch, margin = s_feats[0].shape[0], self.opts["margin"]
        pairs = zip(stage_maps(s_feats), stage_maps(t_feats), self.connectors, self.layer_weights)
        # Upstream scale: / batch, then x 3 / 1000.
        return sum(w * boundary_loss(conn(s), t, margin) for s, t, conn, w in pairs) / batch * 3e-3

    def stage(self, batches, device):
        self.student.train()
        self.connectors.train()

        def loss_fn(x, y, index):
            s_feats, _ = self.student(x, is_feat=True, preact=True)
            t_feats, _ = self.teacher_forward(x, features=True, preact=True)
            return self.ab_loss(s_feats, t_feats)

        params = [*self.student.get_feat_modules().parameters(), *self.connectors.parameters()]
        return run_stage("abound", params, loss_fn, batches, **self.stage_settings())
