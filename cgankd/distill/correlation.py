"""CC (Peng et al. 2019): correlation congruence of linear embeddings (feat_dim 128) of the
pooled features; both embeddings are trained with the student.

cc_kernel "repdistiller" (default; what the upstream weight b = 0.02 was tuned for):
mean_i sum_d |e_s - e_t|_i,d * |e_s - e_t|_{i+1},d over consecutive batch items.
cc_kernel "rbf": the paper's Gaussian RBF correlation exp(-gamma ||x - y||^2) of L2-normalised
embeddings, by its order-P Taylor expansion; MSE between the two B x B matrices.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..common.errors import UserError
from ._common import Embed
from .base import Distiller, register_distiller

KERNELS = ("repdistiller", "rbf")


def rbf_correlation(e: torch.Tensor, gamma: float, order: int) -> torch.Tensor:
    """exp(-gamma ||x - y||^2) = exp(-2 gamma) exp(2 gamma x.y) for unit x, y; Taylor in x.y."""
    sim = F.normalize(e, dim=1) @ F.normalize(e, dim=1).t()
    terms = [(2 * gamma) ** p / math.factorial(p) * sim.pow(p) for p in range(order + 1)]
    return math.exp(-2 * gamma) * sum(terms)


@register_distiller("correlation", "CC")
class CC(Distiller):
    needs_teacher = True
    uses_features = True
    loss_name = "cc"

    def __init__(self, student, teacher, task, cfg=None):
        super().__init__(student, teacher, task, cfg)
        if self.opts["cc_kernel"] not in KERNELS:
            raise UserError(f"--distill correlation: cc_kernel must be one of {KERNELS}, "
                            f"got {self.opts['cc_kernel']!r}")
        s_dim, t_dim = self.probe(student)[-1][1], self.probe(teacher)[-1][1]
        self.embed_s = Embed(s_dim, self.opts["feat_dim"], normalize=False)
        self.embed_t = Embed(t_dim, self.opts["feat_dim"], normalize=False)

    def method_loss(self, s_feats, t_feats, y, index):
        e_s, e_t = self.embed_s(s_feats[-1]), self.embed_t(t_feats[-1])
        if self.opts["cc_kernel"] == "rbf":
            gamma, order = self.opts["gamma"], self.opts["order"]
            return F.mse_loss(rbf_correlation(e_s, gamma, order), rbf_correlation(e_t, gamma, order))
        delta = (e_s - e_t).abs()
        return (delta[:-1] * delta[1:]).sum(1).mean()
