"""FitNet (Romero et al. 2015): a conv regressor maps the student's feature at `hint_layer`
onto the teacher's; the hint loss is their MSE.

Upstream (RepDistiller) trains the regressor jointly with the student (init_epochs 0 here);
init_epochs > 0 adds FitNet's stage 1: the student's feature layers and the regressor trained
on the hint loss alone before the student's training.
"""

from __future__ import annotations

import torch.nn.functional as F

from ..common.errors import UserError
from ._common import ConvReg, run_stage
from .base import Distiller, register_distiller


@register_distiller("hint", "FitNet")
class FitNet(Distiller):
    needs_teacher = True
    uses_features = True
    loss_name = "hint"
    has_stage = True

    def __init__(self, student, teacher, task, cfg=None):
        super().__init__(student, teacher, task, cfg)
        s_shapes, t_shapes = self.probe(student), self.probe(teacher)
        layer = self.opts["hint_layer"]
        n_maps = min(len(s_shapes), len(t_shapes)) - 1  # the last entry is the pooled vector
        if not 0 <= layer < n_maps:
            raise UserError(f"--distill hint: hint_layer must be in 0..{n_maps - 1} for this pair, got {layer}")
        self.regressor = ConvReg(s_shapes[layer], t_shapes[layer])

    def method_loss(self, s_feats, t_feats, y, index):
        layer = self.opts["hint_layer"]
        return F.mse_loss(self.regressor(s_feats[layer]), t_feats[layer])

    def stage(self, batches, device):
        if self.opts["init_epochs"] <= 0:
            return []
        self.student.train()
        self.regressor.train()

        def loss_fn(x, y, index):
            s_feats, _ = self.student(x, is_feat=True)
            t_feats, _ = self.teacher_forward(x, features=True)
            return self.method_loss(s_feats, t_feats, y, index)

        params = [*self.student.get_feat_modules().parameters(), *self.regressor.parameters()]
        return run_stage("hint", params, loss_fn, batches, **self.stage_settings())
