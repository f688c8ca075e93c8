"""Class-conditional BigGAN (Brock et al. 2019), the paper's CIFAR-100 / ImageNet-100 generator.

G: z (optionally split hierarchically) -> linear -> residual up-blocks with conditional batch-norm
   (gain/bias from the class embedding, concatenated with the block's z chunk when hierarchical)
   -> BN, ReLU, conv, tanh. Spectral norm on every conv / linear.
D: residual down-blocks -> ReLU -> global sum pooling -> linear + projection <embed(y), h>.
Channel widths are multiples of `ch`, one per resolution, from the tables below.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import SelfAttention, UpBlock, init_weights, sn_conv, sn_embedding, sn_linear

# Generator: start resolution and width multipliers (block i maps widths[i] -> widths[i+1], x2 up).
G_ARCH = {
    28: {"bottom": 7, "widths": [4, 4, 4]},
    32: {"bottom": 4, "widths": [4, 4, 4, 4]},
    64: {"bottom": 4, "widths": [16, 16, 8, 4, 2]},
    128: {"bottom": 4, "widths": [16, 16, 8, 4, 2, 1]},
}
# Discriminator: width multipliers per block and whether the block halves the resolution.
D_ARCH = {
    28: {"widths": [4, 4, 4], "down": [True, True, False]},
    32: {"widths": [4, 4, 4, 4], "down": [True, True, False, False]},
    64: {"widths": [1, 2, 4, 8, 16], "down": [True, True, True, True, True]},
    128: {"widths": [1, 2, 4, 8, 16, 16], "down": [True, True, True, True, True, False]},
}


def supported_sizes() -> list[int]:
    return sorted(G_ARCH)


class DBlock(nn.Module):
    """Pre-activation residual block; the first block skips the leading ReLU (it sees pixels)."""

    def __init__(self, cin: int, cout: int, *, down: bool, preact: bool):
        super().__init__()
        self.conv1 = sn_conv(cin, cout)
        self.conv2 = sn_conv(cout, cout)
        self.down, self.preact = down, preact
        self.shortcut = sn_conv(cin, cout, 1) if (cin != cout or down) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x) if self.preact else x
        h = self.conv2(F.relu(self.conv1(h)))
        if self.down:
            h = F.avg_pool2d(h, 2)
        sc = x
        if self.preact:
            sc = self.shortcut(sc) if self.shortcut is not None else sc
            sc = F.avg_pool2d(sc, 2) if self.down else sc
        else:
            sc = F.avg_pool2d(sc, 2) if self.down else sc
            sc = self.shortcut(sc) if self.shortcut is not None else sc
        return h + sc


class BigGANGenerator(nn.Module):
    def __init__(self, *, img_size: int, channels: int, num_classes: int, ch: int = 64, dim_z: int = 128,
                 shared_dim: int = 0, hier: bool = False, attn_res: int = 0, init: str = "ortho",
                 widths: Sequence[int] | None = None, bn_eps: float = 1e-5):
        super().__init__()
        arch = G_ARCH[img_size]
        widths = list(widths or arch["widths"])
        self.bottom, self.num_classes = arch["bottom"], num_classes
        self.hier, self.shared_dim = hier, shared_dim
        n_blocks = len(widths) - 1
        if self.bottom * 2 ** n_blocks != img_size:
            raise ValueError(f"{n_blocks} up-blocks from {self.bottom}px do not reach {img_size}px")
        # Hierarchical z: one chunk for the input linear and one per block.
        self.z_chunk = dim_z // (n_blocks + 1) if hier else 0
        self.dim_z = self.z_chunk * (n_blocks + 1) if hier else dim_z
        self.shared = nn.Embedding(num_classes, shared_dim) if shared_dim else None
        cond_dim = (shared_dim or num_classes) + self.z_chunk
        self.c0 = widths[0] * ch
        self.linear = sn_linear(self.dim_z - n_blocks * self.z_chunk, self.c0 * self.bottom ** 2)
        self.blocks = nn.ModuleList()
        self.attn = nn.ModuleDict()
        res = self.bottom
        for i in range(n_blocks):
            # Per-layer gain/bias: spectral-normed linears of the shared vector, plain linears of a
            # one-hot (an embedding lookup) when there is no shared embedding.
            self.blocks.append(UpBlock(widths[i] * ch, widths[i + 1] * ch, cond_dim,
                                       sn=bool(shared_dim), eps=bn_eps))
            res *= 2
            if res == attn_res:
                self.attn[str(i)] = SelfAttention(widths[i + 1] * ch)
        self.out_bn = nn.BatchNorm2d(widths[-1] * ch, eps=bn_eps)
        self.out_conv = sn_conv(widths[-1] * ch, channels)
        init_weights(self, init)

    def class_vector(self, y: torch.Tensor) -> torch.Tensor:
        if self.shared is not None:
            return self.shared(y)
        return F.one_hot(y, self.num_classes).float()

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        yv = self.class_vector(y)
        n_blocks = len(self.blocks)
        if self.hier:
            chunks = z.split(self.z_chunk, dim=1)
            z0, conds = chunks[0], [torch.cat([yv, c], dim=1) for c in chunks[1:]]
        else:
            z0, conds = z, [yv] * n_blocks
        h = self.linear(z0).view(z.shape[0], self.c0, self.bottom, self.bottom)
        for i, (block, cond) in enumerate(zip(self.blocks, conds)):
            h = block(h, cond)
            if str(i) in self.attn:
                h = self.attn[str(i)](h)
        return torch.tanh(self.out_conv(F.relu(self.out_bn(h))))


class ResidualDiscriminator(nn.Module):
    """The trunk both GANs' projection discriminators share: DBlocks (optional self-attention
    after the first block at `attn_res`) ending in a ReLU; each subclass adds its own head."""

    def build_trunk(self, arch: dict, channels: int, img_size: int, ch: int, attn_res: int,
                    widths: Sequence[int] | None, down: Sequence[bool] | None) -> tuple[int, int]:
        """Create self.blocks / self.attn; returns (channels, resolution) of the trunk's output."""
        widths = list(widths or arch["widths"])
        down = list(down or arch["down"])[:len(widths)]
        if len(down) != len(widths):
            raise ValueError("discriminator widths and down flags differ in length")
        self.blocks = nn.ModuleList()
        self.attn = nn.ModuleDict()
        cin, res = channels, img_size
        for i, (w, d) in enumerate(zip(widths, down)):
            self.blocks.append(DBlock(cin, w * ch, down=d, preact=i > 0))
            cin, res = w * ch, res // 2 if d else res
            if res == attn_res and not self.attn:
                self.attn[str(i)] = SelfAttention(cin)
        return cin, res

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.blocks):
            x = block(x)
            if str(i) in self.attn:
                x = self.attn[str(i)](x)
        return F.relu(x)


class BigGANDiscriminator(ResidualDiscriminator):
    def __init__(self, *, img_size: int, channels: int, num_classes: int, ch: int = 64, attn_res: int = 0,
                 init: str = "ortho", widths: Sequence[int] | None = None, down: Sequence[bool] | None = None):
        super().__init__()
        cin, _ = self.build_trunk(D_ARCH[img_size], channels, img_size, ch, attn_res, widths, down)
        self.linear = sn_linear(cin, 1)
        self.embed = sn_embedding(num_classes, cin)
        init_weights(self, init)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.trunk(x).sum(dim=(2, 3))
        return self.linear(h).squeeze(1) + (self.embed(y) * h).sum(dim=1)


def build_biggan(cfg: dict, *, img_size: int, channels: int, num_classes: int
                 ) -> tuple[BigGANGenerator, BigGANDiscriminator]:
    if img_size not in G_ARCH:
        raise ValueError(f"BigGAN has configs for {supported_sizes()} px, not {img_size}")
    g = BigGANGenerator(img_size=img_size, channels=channels, num_classes=num_classes, ch=cfg["g_ch"],
                        dim_z=cfg["dim_z"], shared_dim=cfg["shared_dim"], hier=cfg["hier"],
                        attn_res=cfg["g_attn"], init=cfg["init"], widths=cfg.get("g_widths"),
                        bn_eps=cfg.get("bn_eps", 1e-5))
    d = BigGANDiscriminator(img_size=img_size, channels=channels, num_classes=num_classes, ch=cfg["d_ch"],
                            attn_res=cfg["d_attn"], init=cfg["init"], widths=cfg.get("d_widths"),
                            down=cfg.get("d_down"))
    return g, d
