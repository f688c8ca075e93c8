"""FT (Kim et al. 2018): a paraphraser (conv auto-encoder) is first trained to reconstruct the
teacher's last stage output; then a translator maps the student's last stage output to the
paraphraser's factor space and the loss is the L1 distance of their normalised attention
maps (RepDistiller's FactorTransfer, p1 = 2, p2 = 1). The paraphraser is frozen afterwards.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._common import match_spatial, run_stage
from .attention import attention_map
from .base import Distiller, register_distiller

RATE = 0.5  # factor channels = RATE * teacher channels


def _conv_block(c_in: int, c_out: int, bn: bool, transpose: bool = False) -> list[nn.Module]:
    conv = (nn.ConvTranspose2d if transpose else nn.Conv2d)(c_in, c_out, 3, 1, 1)
    return [conv, *([nn.BatchNorm2d(c_out)] if bn else []), nn.LeakyReLU(0.1, inplace=True)]


def _encoder(c_in: int, c_mid: int, c_out: int, bn: bool) -> nn.Sequential:
    return nn.Sequential(*_conv_block(c_in, c_mid, bn), *_conv_block(c_mid, c_out, bn), *_conv_block(c_out, c_out, bn))


class Paraphraser(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        factor = int(channels * RATE)
        self.encoder = _encoder(channels, channels, factor, bn=False)
        self.decoder = nn.Sequential(*_conv_block(factor, factor, False, True),
                                     *_conv_block(factor, channels, False, True),
                                     *_conv_block(channels, channels, False, True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


@register_distiller("factor", "FT")
class FT(Distiller):
    needs_teacher = True
    uses_features = True
    loss_name = "ft"
    has_stage = True

    def __init__(self, student, teacher, task, cfg=None):
        super().__init__(student, teacher, task, cfg)
        s_c, t_c = self.probe(student)[-2][1], self.probe(teacher)[-2][1]
        self.paraphraser = Paraphraser(t_c)
        self.translator = _encoder(s_c, s_c, int(t_c * RATE), bn=True)

    def frozen_modules(self):
        return [self.paraphraser]

    def method_loss(self, s_feats, t_feats, y, index):
        with torch.no_grad():
            factor_t = self.paraphraser.encoder(t_feats[-2])
        factor_s, factor_t = match_spatial(self.translator(s_feats[-2]), factor_t)
        return (attention_map(factor_s, 2) - attention_map(factor_t, 2)).abs().mean()

    def stage(self, batches, device):
        self.paraphraser.train()

        def loss_fn(x, y, index):
            t_feats, _ = self.teacher_forward(x, features=True)
            return F.mse_loss(self.paraphraser(t_feats[-2]), t_feats[-2])

        return run_stage("factor", self.paraphraser.parameters(), loss_fn, batches, **self.stage_settings())
