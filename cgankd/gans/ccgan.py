"""CcGAN (Ding et al. 2021), the paper's SteeringAngle / UTKFace generator, with the improved label
input: a regression label y in [0, 1] enters both networks as h = y2h(y), a learned embedding.

G (SNGAN / SAGAN style): z -> linear -> residual up-blocks with conditional batch-norm on h
   (optional self-attention) -> BN, ReLU, conv, tanh.
D: residual down-blocks (optional self-attention) -> ReLU -> flatten -> linear + projection
   <W h, features>.
The label embedding is trained before the GAN (see `label_embed.py`).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .biggan import ResidualDiscriminator
from .layers import SelfAttention, UpBlock, init_weights, sn_conv, sn_linear

CC_G_ARCH = {
    28: {"bottom": 7, "widths": [4, 2, 1]},
    32: {"bottom": 4, "widths": [8, 4, 2, 1]},
    64: {"bottom": 4, "widths": [16, 8, 4, 2, 1]},
}
CC_D_ARCH = {
    28: {"widths": [1, 2, 4], "down": [True, True, False]},
    32: {"widths": [1, 2, 4, 8], "down": [True, True, True, False]},
    64: {"widths": [1, 2, 4, 8, 16], "down": [True, True, True, True, False]},
}


def supported_sizes() -> list[int]:
    return sorted(CC_G_ARCH)


class CcGANGenerator(nn.Module):
    def __init__(self, *, img_size: int, channels: int, ch: int = 64, dim_z: int = 256, dim_embed: int = 128,
                 attn_res: int = 0, init: str = "xavier", widths: Sequence[int] | None = None,
                 bn_momentum: float = 0.1):
        super().__init__()
        arch = CC_G_ARCH[img_size]
        widths = list(widths or arch["widths"])
        self.bottom, self.c0, self.dim_z = arch["bottom"], widths[0] * ch, dim_z
        if self.bottom * 2 ** (len(widths) - 1) != img_size:
            raise ValueError(f"{len(widths) - 1} up-blocks from {self.bottom}px do not reach {img_size}px")
        self.linear = sn_linear(dim_z, self.c0 * self.bottom ** 2)
        self.blocks = nn.ModuleList()
        self.attn = nn.ModuleDict()
        res = self.bottom
        for i in range(len(widths) - 1):
            self.blocks.append(UpBlock(widths[i] * ch, widths[i + 1] * ch, dim_embed, momentum=bn_momentum))
            res *= 2
            # SAGAN places attention before the last up-block: on the input of the block at attn_res.
            if res == attn_res and i + 1 < len(widths) - 1:
                self.attn[str(i)] = SelfAttention(widths[i + 1] * ch)
        self.out_bn = nn.BatchNorm2d(widths[-1] * ch)
        self.out_conv = sn_conv(widths[-1] * ch, channels)
        init_weights(self, init)

    def forward(self, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        out = self.linear(z).view(z.shape[0], self.c0, self.bottom, self.bottom)
        for i, block in enumerate(self.blocks):
            out = block(out, h)
            if str(i) in self.attn:
                out = self.attn[str(i)](out)
        return torch.tanh(self.out_conv(F.relu(self.out_bn(out))))


class CcGANDiscriminator(ResidualDiscriminator):
    def __init__(self, *, img_size: int, channels: int, ch: int = 64, dim_embed: int = 128, attn_res: int = 0,
                 init: str = "xavier", widths: Sequence[int] | None = None, down: Sequence[bool] | None = None):
        super().__init__()
        cin, res = self.build_trunk(CC_D_ARCH[img_size], channels, img_size, ch, attn_res, widths, down)
        self.feat_dim = cin * res * res
        self.linear = sn_linear(self.feat_dim, 1)
        self.embed = sn_linear(dim_embed, self.feat_dim, bias=False)
        init_weights(self, init)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        out = self.trunk(x).flatten(1)
        return self.linear(out).squeeze(1) + (self.embed(h) * out).sum(dim=1)


def build_ccgan(cfg: dict, *, img_size: int, channels: int) -> tuple[CcGANGenerator, CcGANDiscriminator]:
    if img_size not in CC_G_ARCH:
        raise ValueError(f"CcGAN has configs for {supported_sizes()} px, not {img_size}")
    g = CcGANGenerator(img_size=img_size, channels=channels, ch=cfg["g_ch"], dim_z=cfg["dim_z"],
                       dim_embed=cfg["dim_embed"], attn_res=cfg["g_attn"], init=cfg["init"],
                       widths=cfg.get("g_widths"), bn_momentum=cfg.get("bn_momentum", 0.1))
    d = CcGANDiscriminator(img_size=img_size, channels=channels, ch=cfg["d_ch"], dim_embed=cfg["dim_embed"],
                           attn_res=cfg["d_attn"], init=cfg["init"], widths=cfg.get("d_widths"),
                           down=cfg.get("d_down"))
    return g, d
