"""ShuffleNet V2 (Ma et al.) as in RepDistiller: "ShuffleV2", net size 1 (116/232/464, 1024).

A 1x1 conv-BN-ReLU stem to 24 channels, three stages (a two-branch stride-2 down block, then
3/7/3 split blocks), a 1x1 conv-BN-ReLU to 1024 channels, global pooling and a linear layer.
A split block keeps half of its channels and transforms the other half; its pre-activation
output is [kept half, bn3 output] before the ReLU and the channel shuffle, as in RepDistiller.
RepDistiller defines no "BN before ReLU" here; it is taken as the last split block's bn3.
64 / 128 px: a 4x4 stride-2 stem conv, plus a 3x3 stride-2 max-pool at 128 px (reference
UTKFace/models/shufflenetv2.py and ImageNet-100/TAKD/models/ShuffleNetv2.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import PreactBlock, StemThreeStageNet, check_img_size, stem_conv, stem_pool
from .registry import register
from .shufflenetv1 import STEM_CHANNELS, channel_shuffle

_CONFIGS = {  # net size -> (stage widths + final width, split blocks per stage)
    0.5: ((48, 96, 192, 1024), (3, 7, 3)),
    1: ((116, 232, 464, 1024), (3, 7, 3)),
    1.5: ((176, 352, 704, 1024), (3, 7, 3)),
    2: ((224, 488, 976, 2048), (3, 7, 3)),
}


def conv_bn(inp: int, oup: int, kernel_size: int, stride: int = 1, groups: int = 1) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    conv = nn.Conv2d(inp, oup, kernel_size, stride=stride, padding=kernel_size // 2, groups=groups, bias=False)
    return conv, nn.BatchNorm2d(oup)


class SplitBlock(PreactBlock):
    def __init__(self, channels: int):
        super().__init__()
        half = channels // 2
        self.conv1, self.bn1 = conv_bn(half, half, 1)
        self.conv2, self.bn2 = conv_bn(half, half, 3, groups=half)
        self.conv3, self.bn3 = conv_bn(half, half, 1)

    def forward_with_preact(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = x.shape[1] // 2
        kept, x2 = x[:, :c], x[:, c:]
        out = F.relu(self.bn1(self.conv1(x2)))
        out = self.bn2(self.conv2(out))
        pre = self.bn3(self.conv3(out))
        out = channel_shuffle(torch.cat([kept, F.relu(pre)], 1), 2)
        return out, torch.cat([kept, pre], 1)


class DownBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        mid = out_channels // 2
        # left: depthwise stride-2 conv, then 1x1
        self.conv1, self.bn1 = conv_bn(in_channels, in_channels, 3, stride=2, groups=in_channels)
        self.conv2, self.bn2 = conv_bn(in_channels, mid, 1)
        # right: 1x1, depthwise stride-2 conv, 1x1
        self.conv3, self.bn3 = conv_bn(in_channels, mid, 1)
        self.conv4, self.bn4 = conv_bn(mid, mid, 3, stride=2, groups=mid)
        self.conv5, self.bn5 = conv_bn(mid, mid, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left = F.relu(self.bn2(self.conv2(self.bn1(self.conv1(x)))))
        right = F.relu(self.bn3(self.conv3(x)))
        right = F.relu(self.bn5(self.conv5(self.bn4(self.conv4(right)))))
        return channel_shuffle(torch.cat([left, right], 1), 2)


class ShuffleNetV2(StemThreeStageNet):
    head_attr = "linear"

    def __init__(self, net_size: float = 1, *, num_classes: int | None, in_channels: int = 3,
                 img_size: int = 32, task: str = "classification"):
        super().__init__()
        check_img_size(img_size)
        widths, num_blocks = _CONFIGS[net_size]
        self.conv1 = stem_conv(in_channels, STEM_CHANNELS, downsample=img_size >= 64, kernel_size=1)
        self.bn1 = nn.BatchNorm2d(STEM_CHANNELS)
        self.stem_pool = stem_pool(img_size)
        self._planes = STEM_CHANNELS
        self.layer1, self.layer2, self.layer3 = (
            self._make_layer(w, n) for w, n in zip(widths[:3], num_blocks))
        self.conv2, self.bn2 = conv_bn(widths[2], widths[3], 1)
        self.build_head(widths[3], num_classes, task)

    def _make_layer(self, out_channels: int, num_blocks: int) -> nn.Sequential:
        layers = [DownBlock(self._planes, out_channels)] + [SplitBlock(out_channels) for _ in range(num_blocks)]
        self._planes = out_channels
        return nn.Sequential(*layers)

    def forward_pool(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(F.adaptive_avg_pool2d(F.relu(self.bn2(self.conv2(x))), 1), 1)

    def get_feat_modules(self) -> nn.ModuleList:
        return nn.ModuleList([self.conv1, self.bn1, self.layer1, self.layer2, self.layer3])

    def get_bn_before_relu(self) -> list[nn.BatchNorm2d]:
        return [layer[-1].bn3 for layer in (self.layer1, self.layer2, self.layer3)]


@register("ShuffleV2")
def shufflev2(**kwargs) -> ShuffleNetV2:
    return ShuffleNetV2(1, **kwargs)
