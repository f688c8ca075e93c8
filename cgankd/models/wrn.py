"""Wide ResNets (Zagoruyko & Komodakis) as in RepDistiller: wrn_16_1, wrn_16_2, wrn_40_1, wrn_40_2.

Depth 6n+4: a 3x3 stem conv (no BN), three stages of n pre-activation blocks with widths
16k, 32k, 64k, then BN-ReLU and global pooling. Stage outputs carry no ReLU of their own: the
BN that follows them (the next stage's first bn1, or the final bn1) is their "BN before
ReLU", and their pre-activation feature is that BN's output, as in RepDistiller.
64 / 128 px: a 4x4 stride-2 stem conv followed by BN-ReLU (`bn0`), plus a 3x3 stride-2
max-pool at 128 px (reference UTKFace/models/wrn.py and ImageNet-100/TAKD/models/wrn.py).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from .base import KDNet, Stage, bn_feature, check_img_size, init_fan_out, stem_conv, stem_pool
from .registry import register


class BasicBlock(nn.Module):
    """BN-ReLU-conv-BN-ReLU-conv with an identity or 1x1-conv shortcut."""

    def __init__(self, in_planes: int, out_planes: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_planes, out_planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.equal_in_out = in_planes == out_planes
        self.convShortcut = None if self.equal_in_out else nn.Conv2d(
            in_planes, out_planes, kernel_size=1, stride=stride, padding=0, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = self.relu1(self.bn1(x))
        out = self.conv2(self.relu2(self.bn2(self.conv1(act))))
        # The projection shortcut reads the activated input, the identity one the raw input.
        shortcut = x if self.equal_in_out else self.convShortcut(act)
        return shortcut + out


class NetworkBlock(nn.Module):
    """One stage; the `layer` attribute keeps RepDistiller's state-dict keys."""

    def __init__(self, nb_layers: int, in_planes: int, out_planes: int, stride: int):
        super().__init__()
        self.layer = nn.Sequential(*[
            BasicBlock(in_planes if i == 0 else out_planes, out_planes, stride if i == 0 else 1)
            for i in range(nb_layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class WideResNet(KDNet):
    head_attr = "fc"

    def __init__(self, depth: int, widen_factor: int, *, num_classes: int | None, in_channels: int = 3,
                 img_size: int = 32, task: str = "classification"):
        super().__init__()
        assert (depth - 4) % 6 == 0, "WRN depth should be 6n+4"
        n = (depth - 4) // 6
        check_img_size(img_size)
        widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        downsample = img_size >= 64
        self.conv1 = stem_conv(in_channels, widths[0], downsample=downsample)
        self.bn0 = nn.BatchNorm2d(widths[0]) if downsample else None
        self.stem_pool = stem_pool(img_size)
        self.block1 = NetworkBlock(n, widths[0], widths[1], 1)
        self.block2 = NetworkBlock(n, widths[1], widths[2], 2)
        self.block3 = NetworkBlock(n, widths[2], widths[3], 2)
        self.bn1 = nn.BatchNorm2d(widths[3])
        self.relu = nn.ReLU(inplace=True)
        self.build_head(widths[3], num_classes, task)

        init_fan_out(self, linear_std=None)

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        if self.bn0 is not None:
            x = F.relu(self.bn0(x))
        return self.stem_pool(x)

    def forward_stages(self, x: torch.Tensor, preact: bool) -> list[Stage]:
        stages = []
        for block, next_bn in zip((self.block1, self.block2, self.block3), self.get_bn_before_relu()):
            x = block(x)
            stages.append((x, bn_feature(next_bn, x) if preact else None))
        return stages

    def forward_pool(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(F.adaptive_avg_pool2d(self.relu(self.bn1(x)), 1), 1)

    def get_feat_modules(self) -> nn.ModuleList:
        stem = [self.conv1] + ([self.bn0] if self.bn0 is not None else [])
        return nn.ModuleList(stem + [self.block1, self.block2, self.block3])

    def get_bn_before_relu(self) -> list[nn.BatchNorm2d]:
        return [self.block2.layer[0].bn1, self.block3.layer[0].bn1, self.bn1]


for _depth, _k in ((16, 1), (16, 2), (40, 1), (40, 2)):
    register(f"wrn_{_depth}_{_k}")(functools.partial(WideResNet, _depth, _k))
