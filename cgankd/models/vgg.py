"""VGG with BatchNorm as in RepDistiller (whose names vgg8 ... vgg19 map to its *_bn nets).

Five conv blocks (3x3 conv with bias, BN, ReLU; the last ReLU of each block is applied in
`forward` so that the block ends on its BN), max-pools between blocks 0-3, global average
pooling and one linear layer on 512 features. At 28/32 px the pool between blocks 3 and 4 is
skipped (block 4 runs at 4x4, or 3x3 at 28 px); RepDistiller uses it only for 64 px inputs,
and the reference's ImageNet-100 VGG (TAKD/models/vgg.py) skips it at 128 px as well. That
VGG also swaps the head for a 3-layer MLP on a 4x4 max-pool; here the head stays the shared one.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from .base import KDNet, Stage, check_img_size, init_fan_out
from .registry import register

_CFGS = {
    "vgg8": [[64], [128], [256], [512], [512]],
    "vgg11": [[64], [128], [256, 256], [512, 512], [512, 512]],
    "vgg13": [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]],
    "vgg16": [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]],
    "vgg19": [[64, 64], [128, 128], [256, 256, 256, 256], [512, 512, 512, 512], [512, 512, 512, 512]],
}


def conv_block(widths: list[int], in_channels: int) -> nn.Sequential:
    """(conv-BN-ReLU) x len(widths), without the final ReLU."""
    layers: list[nn.Module] = []
    for w in widths:
        layers += [nn.Conv2d(in_channels, w, kernel_size=3, padding=1), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
        in_channels = w
    return nn.Sequential(*layers[:-1])


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


class VGG(KDNet):
    head_attr = "classifier"

    def __init__(self, cfg: list[list[int]], *, num_classes: int | None, in_channels: int = 3,
                 img_size: int = 32, task: str = "classification"):
        super().__init__()
        check_img_size(img_size)
        ins = [in_channels] + [widths[-1] for widths in cfg[:-1]]
        self.block0, self.block1, self.block2, self.block3, self.block4 = (
            conv_block(widths, c) for widths, c in zip(cfg, ins))
        self.pool0, self.pool1, self.pool2, self.pool3 = (nn.MaxPool2d(kernel_size=2, stride=2) for _ in range(4))
        self.pool4 = nn.AdaptiveAvgPool2d(1)
        self.use_pool3 = img_size == 64
        self.build_head(cfg[-1][-1], num_classes, task)

        init_fan_out(self, linear_std=0.01)

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.block0(x))

    def forward_stages(self, x: torch.Tensor, preact: bool) -> list[Stage]:
        pool3 = self.pool3 if self.use_pool3 else _identity
        stages = []
        for pool, block in ((self.pool0, self.block1), (self.pool1, self.block2),
                            (self.pool2, self.block3), (pool3, self.block4)):
            pre = block(pool(x))
            x = F.relu(pre)
            stages.append((x, pre))
        return stages

    def forward_pool(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool4(x), 1)

    def get_feat_modules(self) -> nn.ModuleList:
        return nn.ModuleList([self.block0, self.pool0, self.block1, self.pool1, self.block2, self.pool2,
                              self.block3, self.pool3, self.block4, self.pool4])

    def get_bn_before_relu(self) -> list[nn.BatchNorm2d]:
        return [self.block1[-1], self.block2[-1], self.block3[-1], self.block4[-1]]


for _name, _cfg in _CFGS.items():
    register(_name)(functools.partial(VGG, _cfg))
