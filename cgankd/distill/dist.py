"""DIST (Huang et al., "Knowledge Distillation from A Stronger Teacher", NeurIPS 2022).

Exact matching of probabilities is relaxed to matching their relations. With Y = softmax(z / T)
(B x C) for each net and rho the Pearson correlation:

    inter = 1 - mean over samples i of rho(Y_s[i, :], Y_t[i, :])   (inter-class relation)
    intra = 1 - mean over classes j of rho(Y_s[:, j], Y_t[:, j])   (intra-class relation)
    loss  = r * CE + b * T^2 * (beta * inter + gamma * intra)

as in the authors' loss (hunto/image_classification_sota, lib/models/losses/dist_kd.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ._logit import refuse_unused_weights
from .base import Distiller, register_distiller

EPS = 1e-8   # the authors' cosine-similarity epsilon


def mean_pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each row of `a` with the same row of `b`, averaged over the rows."""
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return ((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + EPS)).mean()


def inter_intra(s_logits: torch.Tensor, t_logits: torch.Tensor, T: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(inter, intra) relation losses of the softened outputs, T^2-scaled."""
    y_s, y_t = F.softmax(s_logits.float() / T, dim=1), F.softmax(t_logits.float() / T, dim=1)
    inter = 1 - mean_pearson(y_s, y_t)
    intra = 1 - mean_pearson(y_s.t(), y_t.t())
    return T * T * inter, T * T * intra


@register_distiller("dist", "DIST")
class DIST(Distiller):
    needs_teacher = True
    classification_only = True

    def __init__(self, student, teacher, task, cfg=None):
        super().__init__(student, teacher, task, cfg)
        refuse_unused_weights(self, ("a",), "b (the whole term), beta (inter) and gamma (intra)")

    def forward_train(self, x, y, index=None):
        o = self.opts
        s_out = self.student(x)
        _, t_out = self.teacher_forward(x, features=False)
        with torch.autocast(x.device.type, enabled=False):
            inter, intra = inter_intra(s_out, t_out, o["T"])
        return s_out, {"ce": o["r"] * self.task.loss(s_out, y, self.sample_weight(index)),
                       "inter": o["b"] * o["beta"] * inter, "intra": o["b"] * o["gamma"] * intra}
