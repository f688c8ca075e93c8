"""DKD (Zhao et al., "Decoupled Knowledge Distillation", CVPR 2022).

The temperature KL is split in two. TCKD, target-class KD, matches the binary split
(p_target, 1 - p_target). NCKD, non-target-class KD, matches the softmax over the other classes
alone. Each is a T^2-scaled KL(teacher || student), averaged over the batch:

    loss = r * CE + warm * (alpha * TCKD + beta * NCKD)

The KD part warms up as in mdistiller: min(epoch / 20, 1), where epoch counts from 1 over a
240-epoch run, so the first epoch already has weight 1/20. Here a run of any length is mapped
onto those `ref_epochs` (240): a step at fractional epoch e of an E-epoch run counts as
reference epoch floor(e * 240 / E) + 1. An E = 240 run thus warms up exactly as mdistiller's,
and shorter runs (a cGAN-KD finetune, a real-only control) warm up over the same share of
their steps. With `logit_std`, both nets' logits are z-scored first (Sun et al. 2024).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._logit import prepared, refuse_unused_weights
from .base import Distiller, register_distiller


def warmup_factor(epoch: float, run_epochs: float, warmup: float, ref_epochs: float) -> float:
    """mdistiller's min(epoch / warmup, 1) on a 1-based reference epoch counter."""
    if warmup <= 0:
        return 1.0
    ref_epoch = math.floor(epoch * ref_epochs / run_epochs) + 1
    return min(ref_epoch / warmup, 1.0)


def tckd_nckd(s_logits: torch.Tensor, t_logits: torch.Tensor, target: torch.Tensor, T: float
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """(TCKD, NCKD), each T^2 * KL(teacher || student) averaged over the batch; float32 logits."""
    log_p_s, log_p_t = F.log_softmax(s_logits / T, dim=1), F.log_softmax(t_logits / T, dim=1)
    is_target = F.one_hot(target, s_logits.shape[1]).bool()
    b, c = s_logits.shape

    def binary(log_p: torch.Tensor) -> torch.Tensor:
        # log p_target and log(1 - p_target) = logsumexp of the other classes' log-probabilities.
        others = log_p[~is_target].view(b, c - 1)
        return torch.stack([log_p[is_target], torch.logsumexp(others, dim=1)], dim=1)

    def kl(log_q_t: torch.Tensor, log_q_s: torch.Tensor) -> torch.Tensor:
        return (log_q_t.exp() * (log_q_t - log_q_s)).sum(1).mean() * T * T

    tckd = kl(binary(log_p_t), binary(log_p_s))
    # The softmax over the non-target classes alone.
    others_s = F.log_softmax(s_logits[~is_target].view(b, c - 1) / T, dim=1)
    others_t = F.log_softmax(t_logits[~is_target].view(b, c - 1) / T, dim=1)
    return tckd, kl(others_t, others_s)


@register_distiller("dkd", "DKD")
class DKD(Distiller):
    needs_teacher = True
    classification_only = True

    def __init__(self, student, teacher, task, cfg=None):
        super().__init__(student, teacher, task, cfg)
        refuse_unused_weights(self, ("a", "b"), "alpha (TCKD) and beta (NCKD)")

    def warm(self) -> float:
        o = self.opts
        return warmup_factor(self.epoch, self.cfg.get("epochs", o["ref_epochs"]), o["warmup"], o["ref_epochs"])

    def forward_train(self, x, y, index=None):
        o = self.opts
        s_out = self.student(x)
        _, t_out = self.teacher_forward(x, features=False)
        with torch.autocast(x.device.type, enabled=False):
            tckd, nckd = tckd_nckd(*prepared(s_out, t_out, o["logit_std"]), y, o["T"])
        warm = self.warm()
        return s_out, {"ce": o["r"] * self.task.loss(s_out, y, self.sample_weight(index)),
                       "tckd": warm * o["alpha"] * tckd, "nckd": warm * o["beta"] * nckd}
