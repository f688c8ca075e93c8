"""VID (Ahn et al. 2019): for every stage, a 1x1-conv regressor predicts the teacher's map
from the student's as the mean of a Gaussian with a learned per-channel variance; the loss is
the negative log-likelihood (up to a constant)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._common import match_spatial, stage_maps
from .base import Distiller, register_distiller

EPS = 1e-5


class VariationalRegressor(nn.Module):
    def __init__(self, s_channels: int, t_channels: int, init_var: float):
        super().__init__()
        mid = t_channels
        self.mean = nn.Sequential(
            nn.Conv2d(s_channels, mid, 1, bias=False), nn.ReLU(),
            nn.Conv2d(mid, mid, 1, bias=False), nn.ReLU(),
            nn.Conv2d(mid, t_channels, 1, bias=False))
        # softplus(log_scale) + EPS = init_var at the start
        self.log_scale = nn.Parameter(torch.full((t_channels,), math.log(math.expm1(init_var - EPS))))

    def forward(self, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        s, t = match_spatial(s, t)
        var = (F.softplus(self.log_scale) + EPS).view(1, -1, 1, 1)
        return (0.5 * ((self.mean(s) - t).pow(2) / var + var.log())).mean()


@register_distiller("vid", "VID")
class VID(Distiller):
    needs_teacher = True
    uses_features = True
    loss_name = "vid"

    def __init__(self, student, teacher, task, cfg=None):
        super().__init__(student, teacher, task, cfg)
        pairs = zip(stage_maps(self.probe(student)), stage_maps(self.probe(teacher)))
        self.regressors = nn.ModuleList(
            VariationalRegressor(s[1], t[1], self.opts["init_pred_var"]) for s, t in pairs)

    def method_loss(self, s_feats, t_feats, y, index):
        pairs = zip(stage_maps(s_feats), stage_maps(t_feats), self.regressors)
        return sum(reg(s, t) for s, t, reg in pairs)
