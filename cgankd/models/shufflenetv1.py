"""ShuffleNet V1 (Zhang et al.) as in RepDistiller: "ShuffleV1", 3 groups, widths 240/480/960.

A 1x1 conv-BN-ReLU stem to 24 channels, three stages of 4/8/4 bottlenecks; each stage opens
with a stride-2 block whose output is concatenated with a 3x3 average-pooled shortcut. The
first 1x1 conv of the whole net is not grouped (its input has only 24 channels).
RepDistiller defines no "BN before ReLU" for this net; here it is the last block's bn3 of each
stage, the BN whose output (plus the shortcut) the stage's closing ReLU reads.
64 / 128 px: a 4x4 stride-2 stem conv, plus a 3x3 stride-2 max-pool at 128 px (reference
UTKFace/models/shufflenetv1.py and ImageNet-100/SSKD/models/ShuffleNetv1.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import PreactBlock, StemThreeStageNet, check_img_size, stem_conv, stem_pool
from .registry import register

STEM_CHANNELS = 24


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """[N, g*c, H, W] -> [N, c*g, H, W]: interleave the channels of the g groups."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class Bottleneck(PreactBlock):
    def __init__(self, in_planes: int, out_planes: int, stride: int, groups: int):
        super().__init__()
        self.stride = stride
        mid = out_planes // 4
        self.first_groups = 1 if in_planes == STEM_CHANNELS else groups
        self.conv1 = nn.Conv2d(in_planes, mid, kernel_size=1, groups=self.first_groups, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, kernel_size=3, stride=stride, padding=1, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, out_planes, kernel_size=1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = nn.AvgPool2d(3, stride=2, padding=1) if stride == 2 else nn.Identity()

    def forward_with_preact(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = F.relu(self.bn1(self.conv1(x)))
        out = channel_shuffle(out, self.first_groups)
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        res = self.shortcut(x)
        pre = torch.cat([out, res], 1) if self.stride == 2 else out + res
        return F.relu(pre), pre


class ShuffleNetV1(StemThreeStageNet):
    head_attr = "linear"

    def __init__(self, out_planes=(240, 480, 960), num_blocks=(4, 8, 4), groups: int = 3, *,
                 num_classes: int | None, in_channels: int = 3, img_size: int = 32,
                 task: str = "classification"):
        super().__init__()
        check_img_size(img_size)
        self.conv1 = stem_conv(in_channels, STEM_CHANNELS, downsample=img_size >= 64, kernel_size=1)
        self.bn1 = nn.BatchNorm2d(STEM_CHANNELS)
        self.stem_pool = stem_pool(img_size)
        self.in_planes = STEM_CHANNELS
        self.layer1, self.layer2, self.layer3 = (
            self._make_layer(p, n, groups) for p, n in zip(out_planes, num_blocks))
        self.build_head(out_planes[-1], num_classes, task)

    def _make_layer(self, out_planes: int, num_blocks: int, groups: int) -> nn.Sequential:
        # The stride-2 block concatenates its input, so it only produces the missing channels.
        layers = [Bottleneck(self.in_planes, out_planes - self.in_planes, stride=2, groups=groups)]
        layers += [Bottleneck(out_planes, out_planes, stride=1, groups=groups) for _ in range(1, num_blocks)]
        self.in_planes = out_planes
        return nn.Sequential(*layers)

    def forward_pool(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def get_feat_modules(self) -> nn.ModuleList:
        return nn.ModuleList([self.conv1, self.bn1, self.layer1, self.layer2, self.layer3])

    def get_bn_before_relu(self) -> list[nn.BatchNorm2d]:
        return [layer[-1].bn3 for layer in (self.layer1, self.layer2, self.layer3)]


@register("ShuffleV1")
def shufflev1(**kwargs) -> ShuffleNetV1:
    return ShuffleNetV1(**kwargs)
