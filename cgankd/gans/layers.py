"""Building blocks shared by BigGAN and CcGAN: spectral-normed layers, conditional batch-norm,
self-attention and weight initialisation."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import parametrizations, parametrize

SN_EPS = 1e-6


def spectral(module: nn.Module, enabled: bool = True) -> nn.Module:
    """Wrap a layer in spectral normalisation (one power iteration per training forward)."""
    return parametrizations.spectral_norm(module, eps=SN_EPS) if enabled else module


def sn_conv(cin: int, cout: int, kernel: int = 3, *, sn: bool = True, bias: bool = True) -> nn.Module:
    return spectral(nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=bias), sn)


def sn_linear(cin: int, cout: int, *, sn: bool = True, bias: bool = True) -> nn.Module:
    return spectral(nn.Linear(cin, cout, bias=bias), sn)


def sn_embedding(num: int, dim: int, *, sn: bool = True) -> nn.Module:
    return spectral(nn.Embedding(num, dim), sn)


def is_spectral(module: nn.Module) -> bool:
    return parametrize.is_parametrized(module, "weight")


def raw_weight(module: nn.Module) -> torch.Tensor:
    """The trainable weight tensor: the un-normalised original under spectral norm."""
    return module.parametrizations.weight.original if is_spectral(module) else module.weight


def init_weights(model: nn.Module, style: str) -> None:
    """Initialise conv / linear / embedding weights: 'ortho', 'N02' (normal, std 0.02) or 'xavier'."""
    for module in model.modules():
        if not isinstance(module, (nn.Conv2d, nn.Linear, nn.Embedding)):
            continue
        weight = raw_weight(module)
        with torch.no_grad():
            if style == "ortho":
                nn.init.orthogonal_(weight)
            elif style == "N02":
                nn.init.normal_(weight, 0.0, 0.02)
            elif style == "xavier":
                nn.init.xavier_uniform_(weight)
            else:
                raise ValueError(f"unknown init style {style!r}; expected ortho, N02 or xavier")
            if getattr(module, "bias", None) is not None:
                module.bias.zero_()


class ConditionalBatchNorm2d(nn.Module):
    """Batch-norm without affine, then a per-sample gain and bias predicted from a conditioning
    vector: out = bn(x) * (1 + gain(c)) + bias(c)."""

    def __init__(self, channels: int, cond_dim: int, *, sn: bool = False, eps: float = 1e-5,
                 momentum: float = 0.1):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, eps=eps, momentum=momentum, affine=False)
        self.gain = sn_linear(cond_dim, channels, sn=sn, bias=False)
        self.bias = sn_linear(cond_dim, channels, sn=sn, bias=False)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        gain = 1.0 + self.gain(cond)[:, :, None, None]
        bias = self.bias(cond)[:, :, None, None]
        return self.bn(x) * gain + bias


class SelfAttention(nn.Module):
    """SAGAN self-attention: 1x1 theta/phi/g projections, 2x2 max-pooled keys and values, and a
    learned residual gate that starts at zero."""

    def __init__(self, channels: int, *, sn: bool = True):
        super().__init__()
        key, value = max(1, channels // 8), max(1, channels // 2)
        self.value = value
        self.theta = sn_conv(channels, key, 1, sn=sn, bias=False)
        self.phi = sn_conv(channels, key, 1, sn=sn, bias=False)
        self.g = sn_conv(channels, value, 1, sn=sn, bias=False)
        self.out = sn_conv(value, channels, 1, sn=sn, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        pool = (h % 2 == 0 and w % 2 == 0)
        theta = self.theta(x).flatten(2)                                   # B x C/8 x HW
        phi, g = self.phi(x), self.g(x)
        if pool:
            phi, g = F.max_pool2d(phi, 2), F.max_pool2d(g, 2)
        attn = torch.softmax(theta.transpose(1, 2) @ phi.flatten(2), dim=-1)  # B x HW x HW'
        o = (g.flatten(2) @ attn.transpose(1, 2)).view(b, self.value, h, w)
        return x + self.gamma * self.out(o)


class UpBlock(nn.Module):
    """Generator residual block: conditional BN, ReLU, 2x nearest upsampling, two SN convs, and
    a 1x1 SN shortcut. `cbn` goes to both ConditionalBatchNorm2d layers (BigGAN: sn, eps;
    CcGAN: momentum)."""

    def __init__(self, cin: int, cout: int, cond_dim: int, **cbn):
        super().__init__()
        self.bn1 = ConditionalBatchNorm2d(cin, cond_dim, **cbn)
        self.conv1 = sn_conv(cin, cout)
        self.bn2 = ConditionalBatchNorm2d(cout, cond_dim, **cbn)
        self.conv2 = sn_conv(cout, cout)
        self.shortcut = sn_conv(cin, cout, 1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, cond)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), cond)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))
