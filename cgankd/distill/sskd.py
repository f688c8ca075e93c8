"""SSKD (Xu et al. 2020): knowledge distillation meets self-supervision.

Every image is seen in 4 rotations (0, 90, 180, 270 degrees, made on the device). A projection
head on each net's pooled feature gives a representation; for each rotated copy, the cosine
similarities to the B upright images form a B-way "which image am I" distribution. The
teacher's head is trained first (teacher frozen; CE on those similarities, t_epochs 60,
t_lr 0.05, x0.1 at 30 and 45); the student's head trains with the student.

loss = r * CE(upright) + a * KD_T(upright) + b * KD_tf_T(rotated logits, dropping the rotated
copies whose true class ranks worst in the teacher, all but ratio_tf of the wrong ones)
+ c * KD_ss_T(similarities, likewise with ratio_ss).
Classification only: the rotated-logit term and its error-level ranking need class labels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._common import run_stage, soft_kl
from .base import Distiller, register_distiller

ROTATIONS = 4


def rotations(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) → (4B, C, H, W): each image followed by its 3 rotations."""
    return torch.stack([torch.rot90(x, k, dims=(2, 3)) for k in range(ROTATIONS)], dim=1).flatten(0, 1)


def projection_head(dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, dim))


def rotation_similarity(rep: torch.Tensor) -> torch.Tensor:
    """(4B, D) → (3B, B) cosine similarity of every rotated copy to every upright image."""
    rep = rep.view(-1, ROTATIONS, rep.shape[1])
    upright, rotated = rep[:, 0], rep[:, 1:].flatten(0, 1)
    return F.normalize(rotated, dim=1) @ F.normalize(upright, dim=1).t()


def keep_by_rank(t_scores: torch.Tensor, target: torch.Tensor, ratio: float) -> torch.Tensor:
    """Rows to distil: all where the target ranks first in the teacher's scores, plus the
    `ratio` share of the others whose target ranks best."""
    rank = (t_scores > t_scores.gather(1, target[:, None])).sum(1)
    wrong = int((rank > 0).sum())
    keep = len(rank) - wrong + int(wrong * ratio)
    return torch.sort(torch.argsort(rank, stable=True)[:keep]).values


@register_distiller("sskd", "SSKD")
class SSKD(Distiller):
    needs_teacher = True
    classification_only = True
    has_stage = True

    def __init__(self, student, teacher, task, cfg=None):
        super().__init__(student, teacher, task, cfg)
        self.head_s = projection_head(self.probe(student)[-1][1])
        self.head_t = projection_head(self.probe(teacher)[-1][1])

    def frozen_modules(self):
        return [self.head_t]

    def teacher_rep(self, x4: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t_feats, t_out = self.teacher_forward(x4, features=True)
        return t_out, self.head_t(t_feats[-1].flatten(1))

    def forward_train(self, x, y, index=None):
        o = self.opts
        batch = len(x)
        x4 = rotations(x)
        s_feats, s_out = self.student(x4, is_feat=True)
        with torch.no_grad():
            t_out, t_rep = self.teacher_rep(x4)
        s_out4, t_out4 = s_out.float().view(batch, ROTATIONS, -1), t_out.float().view(batch, ROTATIONS, -1)
        with torch.autocast(x.device.type, enabled=False):
            s_simi = rotation_similarity(self.head_s(s_feats[-1].float().flatten(1)))
            t_simi = rotation_similarity(t_rep.float())
        s_rot, t_rot = s_out4[:, 1:].flatten(0, 1), t_out4[:, 1:].flatten(0, 1)
        keep_tf = keep_by_rank(t_rot, y.repeat_interleave(ROTATIONS - 1), o["ratio_tf"])
        keep_ss = keep_by_rank(t_simi, torch.arange(batch, device=x.device).repeat_interleave(ROTATIONS - 1),
                               o["ratio_ss"])
        upright = s_out4[:, 0]
        losses = {
            "ce": o["r"] * self.task.loss(upright, y, self.sample_weight(index)),
            "kd": o["a"] * soft_kl(upright, t_out4[:, 0], o["T"]),
            "tf": o["b"] * soft_kl(s_rot[keep_tf], t_rot[keep_tf], o["tf_T"]),
            "ss": o["c"] * soft_kl(s_simi[keep_ss], t_simi[keep_ss], o["ss_T"]),
        }
        return s_out.view(batch, ROTATIONS, -1)[:, 0], losses

    def stage(self, batches, device):
        """Train the teacher's projection head to tell which upright image a rotated copy came from."""
        o = self.opts
        self.head_t.train()

        def loss_fn(x, y, index):
            _, rep = self.teacher_rep(rotations(x))
            simi = rotation_similarity(rep)
            target = torch.arange(len(x), device=x.device).repeat_interleave(ROTATIONS - 1)
            return F.cross_entropy(simi, target)

        settings = {**self.stage_settings(), "epochs": o["t_epochs"], "lr": o["t_lr"]}
        return run_stage("sskd", self.head_t.parameters(), loss_fn, batches,
                         milestones=o["t_milestones"], **settings)
