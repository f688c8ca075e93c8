"""CIFAR ResNets (He et al.) as in RepDistiller: resnet8 ... resnet110, resnet8x4, resnet32x4.

Depth 6n+2 with basic blocks; three stages of n blocks with widths (w1, w2, w3), the last two
starting with stride 2; a 1x1 conv + BN shortcut wherever the shape changes.
64 px: the stem stays and the first stage gets stride 2 (reference SteeringAngle/models/resnet.py).
128 px: a 4x4 stride-2 stem conv and a 3x3 stride-2 max-pool (reference ImageNet-100 resnet.py).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from .base import PreactBlock, StemThreeStageNet, check_img_size, init_fan_out, stem_conv, stem_pool
from .registry import register


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(PreactBlock):
    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward_with_preact(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        pre = out + (x if self.downsample is None else self.downsample(x))
        return F.relu(pre), pre


class CifarResNet(StemThreeStageNet):
    head_attr = "fc"

    def __init__(self, depth: int, widths: tuple[int, int, int, int], *, num_classes: int | None,
                 in_channels: int = 3, img_size: int = 32, task: str = "classification"):
        super().__init__()
        assert (depth - 2) % 6 == 0, "basic-block CIFAR ResNets have depth 6n+2"
        n = (depth - 2) // 6
        check_img_size(img_size)
        self.inplanes = widths[0]
        self.conv1 = stem_conv(in_channels, widths[0], downsample=img_size == 128)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.stem_pool = stem_pool(img_size)
        self.layer1 = self._make_layer(widths[1], n, stride=2 if img_size == 64 else 1)
        self.layer2 = self._make_layer(widths[2], n, stride=2)
        self.layer3 = self._make_layer(widths[3], n, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.build_head(widths[3], num_classes, task)

        init_fan_out(self, linear_std=None, zero_linear_bias=False)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = [BasicBlock(self.inplanes, planes, stride)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward_pool(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.avgpool(x), 1)

    def get_feat_modules(self) -> nn.ModuleList:
        return nn.ModuleList([self.conv1, self.bn1, self.relu, self.layer1, self.layer2, self.layer3])

    def get_bn_before_relu(self) -> list[nn.BatchNorm2d]:
        return [layer[-1].bn2 for layer in (self.layer1, self.layer2, self.layer3)]


_CONFIGS = {
    "resnet8": (8, (16, 16, 32, 64)),
    "resnet14": (14, (16, 16, 32, 64)),
    "resnet20": (20, (16, 16, 32, 64)),
    "resnet32": (32, (16, 16, 32, 64)),
    "resnet44": (44, (16, 16, 32, 64)),
    "resnet56": (56, (16, 16, 32, 64)),
    "resnet110": (110, (16, 16, 32, 64)),
    "resnet8x4": (8, (32, 64, 128, 256)),
    "resnet32x4": (32, (32, 64, 128, 256)),
}
for _name, (_depth, _widths) in _CONFIGS.items():
    register(_name)(functools.partial(CifarResNet, _depth, _widths))
