"""ImageNet-style ResNets on CIFAR as in RepDistiller: ResNet18, ResNet34, ResNet50.

A 3x3 conv-BN-ReLU stem with 64 channels, four stages (64, 128, 256, 512 planes; strides
1, 2, 2, 2) of basic blocks (18, 34) or bottlenecks with expansion 4 (50), global pooling and
a linear layer.
64 px: the first stage gets stride 2 (reference UTKFace/models/resnetv2.py).
128 px: a 4x4 stride-2 stem conv and a 3x3 stride-2 max-pool (reference ImageNet-100 resnetv2.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import KDNet, PreactBlock, Stage, check_img_size, init_fan_out, run_stages, stem_conv, stem_pool
from .registry import register


def projection(in_planes: int, out_planes: int, stride: int) -> nn.Sequential:
    """Identity (an empty Sequential, as in RepDistiller) or a 1x1 conv + BN shortcut."""
    if stride == 1 and in_planes == out_planes:
        return nn.Sequential()
    return nn.Sequential(nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False),
                         nn.BatchNorm2d(out_planes))


class BasicBlock(PreactBlock):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = projection(in_planes, planes, stride)

    @property
    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn2

    def forward_with_preact(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = F.relu(self.bn1(self.conv1(x)))
        pre = self.bn2(self.conv2(out)) + self.shortcut(x)
        return F.relu(pre), pre


class Bottleneck(PreactBlock):
    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        out_planes = self.expansion * planes
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = projection(in_planes, out_planes, stride)

    @property
    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn3

    def forward_with_preact(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        pre = self.bn3(self.conv3(out)) + self.shortcut(x)
        return F.relu(pre), pre


class ResNet(KDNet):
    head_attr = "linear"

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], num_blocks: tuple[int, ...], *,
                 num_classes: int | None, in_channels: int = 3, img_size: int = 32,
                 task: str = "classification"):
        super().__init__()
        check_img_size(img_size)
        self.in_planes = 64
        self.conv1 = stem_conv(in_channels, 64, downsample=img_size == 128)
        self.bn1 = nn.BatchNorm2d(64)
        self.stem_pool = stem_pool(img_size)
        first_stride = 2 if img_size == 64 else 1
        self.layer1 = self._make_layer(block, 64, num_blocks[0], first_stride)
        self.layer2 = self._make_layer(block, 128, num_blocks[1], 2)
        self.layer3 = self._make_layer(block, 256, num_blocks[2], 2)
        self.layer4 = self._make_layer(block, 512, num_blocks[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.build_head(512 * block.expansion, num_classes, task)

        init_fan_out(self, linear_std=None, zero_linear_bias=False)

    @property
    def stages(self) -> tuple[nn.Sequential, ...]:
        return self.layer1, self.layer2, self.layer3, self.layer4

    def _make_layer(self, block, planes: int, num_blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (num_blocks - 1):
            layers.append(block(self.in_planes, planes, s))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.stem_pool(F.relu(self.bn1(self.conv1(x))))

    def forward_stages(self, x: torch.Tensor, preact: bool) -> list[Stage]:
        return run_stages(self.stages, x)

    def forward_pool(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.avgpool(x), 1)

    def get_feat_modules(self) -> nn.ModuleList:
        return nn.ModuleList([self.conv1, self.bn1, *self.stages])

    def get_bn_before_relu(self) -> list[nn.BatchNorm2d]:
        return [layer[-1].last_bn for layer in self.stages]


@register("ResNet18")
def resnet18(**kwargs) -> ResNet:
    return ResNet(BasicBlock, (2, 2, 2, 2), **kwargs)


@register("ResNet34")
def resnet34(**kwargs) -> ResNet:
    return ResNet(BasicBlock, (3, 4, 6, 3), **kwargs)


@register("ResNet50")
def resnet50(**kwargs) -> ResNet:
    return ResNet(Bottleneck, (3, 4, 6, 3), **kwargs)
