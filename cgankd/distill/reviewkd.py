"""ReviewKD (Chen et al. 2021): knowledge review.

The student's stage outputs and pooled vector (as a 1x1 map) are fused from the deepest level
upwards by attention-based fusion (ABF) modules: each level's 1x1-projected feature is blended,
with two learned spatial attention maps, with the fused result of the level below it, then a
3x3 conv maps it to the teacher's channels and size. Each fused map is compared with the
teacher's pre-ReLU feature at the same level by the hierarchical context loss (HCL: MSE at
full size plus MSE of 4x4, 2x2 and 1x1 average pools, weights halving). Weight b (5.0) is
warmed up linearly over the first `warmup_frac` of the run (ReviewKD's 20 of 240 epochs, so
that runs of any length, on real or real + fake data, warm up alike); no KL term (a = 0). When
the two nets have feature lists of different lengths, the deepest levels are paired.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._common import as_map
from .base import Distiller, register_distiller

REFERENCE_EPOCHS = 240   # the run length assumed when the trainer does not pass cfg["epochs"]


class ABF(nn.Module):
    def __init__(self, c_in: int, c_mid: int, c_out: int, fuse: bool):
        super().__init__()
        self.reduce = nn.Sequential(nn.Conv2d(c_in, c_mid, 1, bias=False), nn.BatchNorm2d(c_mid))
        self.out = nn.Sequential(nn.Conv2d(c_mid, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out))
        self.attention = nn.Sequential(nn.Conv2d(2 * c_mid, 2, 1), nn.Sigmoid()) if fuse else None
        nn.init.kaiming_uniform_(self.reduce[0].weight, a=1)
        nn.init.kaiming_uniform_(self.out[0].weight, a=1)

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None, out_size: tuple[int, int]):
        x = self.reduce(x)
        if self.attention is not None:
            residual = F.interpolate(residual, size=x.shape[2:], mode="nearest")
            w = self.attention(torch.cat([x, residual], dim=1))
            x = x * w[:, :1] + residual * w[:, 1:]
        if tuple(x.shape[2:]) != tuple(out_size):
            x = F.interpolate(x, size=out_size, mode="nearest")
        return self.out(x), x


def hcl(s_maps, t_maps) -> torch.Tensor:
    total = 0.0
    for s, t in zip(s_maps, t_maps):
        loss, weight, norm = F.mse_loss(s, t), 1.0, 1.0
        for size in (4, 2, 1):
            if size >= s.shape[2]:
                continue
            weight /= 2.0
            loss = loss + weight * F.mse_loss(F.adaptive_avg_pool2d(s, size), F.adaptive_avg_pool2d(t, size))
            norm += weight
        total = total + loss / norm
    return total


@register_distiller("reviewkd", "ReviewKD")
class ReviewKD(Distiller):
    needs_teacher = True
    loss_name = "review"

    def __init__(self, student, teacher, task, cfg=None):
        super().__init__(student, teacher, task, cfg)
        s_shapes = [as_shape(s) for s in self.probe(student)[1:]]
        t_shapes = [as_shape(t) for t in self.probe(teacher, preact=True)[1:]]
        self.levels = n = min(len(s_shapes), len(t_shapes))
        s_shapes, t_shapes = s_shapes[-n:], t_shapes[-n:]
        mid = min(512, s_shapes[-1][1])
        # abfs[0] serves the deepest level (no fusion); the others fuse the level below.
        self.abfs = nn.ModuleList(
            ABF(s[1], mid, t[1], fuse=i > 0) for i, (s, t) in enumerate(zip(s_shapes[::-1], t_shapes[::-1])))
        self.out_sizes = [tuple(t[2:4]) for t in t_shapes[::-1]]

    def forward_train(self, x, y, index=None):
        s_feats, s_out = self.student(x, is_feat=True)
        t_feats, t_out = self.teacher_forward(x, features=True, preact=True)
        s_maps = [as_map(f) for f in s_feats[1:]][-self.levels:][::-1]
        t_maps = [as_map(f).float() for f in t_feats[1:]][-self.levels:][::-1]
        fused, residual = [], None
        for f, abf, size in zip(s_maps, self.abfs, self.out_sizes):
            out, residual = abf(f, residual, size)
            fused.append(out)
        with torch.autocast(x.device.type, enabled=False):
            review = hcl([f.float() for f in fused], t_maps)
        warmup_epochs = self.opts["warmup_frac"] * self.cfg.get("epochs", REFERENCE_EPOCHS)
        warm = min(1.0, self.epoch / warmup_epochs) if warmup_epochs > 0 else 1.0
        losses = {self.task_loss_name(): self.opts["r"] * self.task.loss(s_out, y, self.sample_weight(index)),
                  self.loss_name: self.opts["b"] * warm * review}
        if self.opts["a"]:
            losses["kd"] = self.opts["a"] * self.kd_loss(s_out, t_out)
        return s_out, losses


def as_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Shape of a feature as a map: (B, D) → (B, D, 1, 1)."""
    return tuple(shape) + (1, 1) if len(shape) == 2 else tuple(shape)
