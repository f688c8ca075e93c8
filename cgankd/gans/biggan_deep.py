"""BigGAN-deep generator (Brock et al. 2019, appendix B): the reference's ImageNet-100 generator.

z and the shared class embedding are concatenated once, [embed(y), z], and that vector feeds the
input linear and every conditional batch-norm (BigGAN-deep's "hierarchical" latent: the whole z,
not chunks). Each resolution has `depth` bottleneck blocks; only the last one changes the width
and doubles the resolution:
    BN-ReLU-1x1 conv (to width/4) - BN-ReLU - [2x nearest up] - 3x3 conv - BN-ReLU - 3x3 conv
    - BN-ReLU - 1x1 conv (to the output width), plus the input, its channels cut to the output
    width and upsampled alike (no shortcut conv).
Self-attention follows the stage whose output has `attn_res` px. Output: BN, ReLU, 3x3 conv, tanh.
Widths are multiples of `ch` per stage; the 128 px table is the reference's.
Generator only: enough for sampling a trained checkpoint (see reference.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import (
    ConditionalBatchNorm2d,
    SelfAttention,
    init_weights,
    sn_conv,
    sn_linear,
)

# Width multipliers at the stage boundaries: stage i maps widths[i] -> widths[i + 1], from 4 px.
DEEP_WIDTHS = {
    32: [4, 4, 4, 4],
    64: [16, 16, 8, 4, 2],
    128: [16, 16, 8, 4, 2, 1],
    256: [16, 16, 8, 8, 4, 2, 1],
}
BOTTOM = 4
CHANNEL_RATIO = 4


class BottleneckUpBlock(nn.Module):
    def __init__(self, cin: int, cout: int, cond_dim: int, *, upsample: bool, sn: bool, eps: float):
        super().__init__()
        hidden = cin // CHANNEL_RATIO
        self.cout, self.upsample = cout, upsample
        self.bn1 = ConditionalBatchNorm2d(cin, cond_dim, sn=sn, eps=eps)
        self.conv1 = sn_conv(cin, hidden, 1, sn=sn)
        self.bn2 = ConditionalBatchNorm2d(hidden, cond_dim, sn=sn, eps=eps)
        self.conv2 = sn_conv(hidden, hidden, sn=sn)
        self.bn3 = ConditionalBatchNorm2d(hidden, cond_dim, sn=sn, eps=eps)
        self.conv3 = sn_conv(hidden, hidden, sn=sn)
        self.bn4 = ConditionalBatchNorm2d(hidden, cond_dim, sn=sn, eps=eps)
        self.conv4 = sn_conv(hidden, cout, 1, sn=sn)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn2(self.conv1(F.relu(self.bn1(x, cond))), cond))
        x = x[:, :self.cout]
        if self.upsample:
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        h = self.conv3(F.relu(self.bn3(self.conv2(h), cond)))
        return self.conv4(F.relu(self.bn4(h, cond))) + x


class BigGANDeepGenerator(nn.Module):
    """`forward(z, y)` with z (N, dim_z) and class ids y (N,); images in [-1, 1].

    sn=False builds plain layers, for weights already divided by their spectral norm (a
    reference checkpoint); init=None leaves PyTorch's initialisation (weights loaded next)."""

    def __init__(self, *, img_size: int = 128, channels: int = 3, num_classes: int, ch: int = 128, dim_z: int = 128,
                 shared_dim: int = 128, depth: int = 2, attn_res: int = 64, sn: bool = True,
                 init: str | None = "ortho", bn_eps: float = 1e-5):
        super().__init__()
        if img_size not in DEEP_WIDTHS:
            raise ValueError(f"BigGAN-deep has configs for {sorted(DEEP_WIDTHS)} px, not {img_size}")
        widths = [w * ch for w in DEEP_WIDTHS[img_size]]
        self.num_classes, self.dim_z, self.c0 = num_classes, dim_z, widths[0]
        cond_dim = shared_dim + dim_z
        self.shared = nn.Embedding(num_classes, shared_dim)
        self.linear = sn_linear(cond_dim, self.c0 * BOTTOM ** 2, sn=sn)
        self.blocks = nn.ModuleList()
        self.attn = nn.ModuleDict()
        res = BOTTOM
        for stage in range(len(widths) - 1):
            for j in range(depth):
                last = j == depth - 1
                cout = widths[stage + 1] if last else widths[stage]
                self.blocks.append(BottleneckUpBlock(widths[stage], cout, cond_dim, upsample=last, sn=sn, eps=bn_eps))
            res *= 2
            if res == attn_res:
                self.attn[str(len(self.blocks) - 1)] = SelfAttention(widths[stage + 1], sn=sn)
        self.out_bn = nn.BatchNorm2d(widths[-1], eps=bn_eps)
        self.out_conv = sn_conv(widths[-1], channels, sn=sn)
        if init is not None:
            init_weights(self, init)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        cond = torch.cat([self.shared(y), z], dim=1)
        h = self.linear(cond).view(z.shape[0], self.c0, BOTTOM, BOTTOM)
        for i, block in enumerate(self.blocks):
            h = block(h, cond)
            if str(i) in self.attn:
                h = self.attn[str(i)](h)
        return torch.tanh(self.out_conv(F.relu(self.out_bn(h))))
