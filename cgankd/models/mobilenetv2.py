"""MobileNetV2 as in RepDistiller ("MobileNetV2" = its mobile_half: expansion 6, width 0.5).

A stride-2 3x3 conv-BN-ReLU stem, seven groups of inverted residual blocks
(t, c, n, s) = (1,16,1,1) (6,24,2,1) (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2) (6,320,1,1)
with channels scaled by 0.5, a 1x1 conv-BN-ReLU to 1280 channels, global pooling and a linear
layer. Each block keeps its expansion 1x1 conv even when t = 1, as RepDistiller does. The KD
stages end after groups 1, 2, 4 and 6; their outputs are linear (no ReLU), so their
pre-activation features are the outputs themselves.
128 px: the second group gets stride 2 (reference ImageNet-100/TAKD/models/mobilenetv2.py);
64 px keeps the CIFAR strides, which RepDistiller's own pooling rule (H = size // 16) covers.
"""

from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import nn

from .base import KDNet, Stage, check_img_size, init_fan_out
from .registry import register

# (expansion, channels, blocks, stride); the expansion of groups 2-7 is the net's T.
_SETTING = [(1, 16, 1, 1), (None, 24, 2, 1), (None, 32, 3, 2), (None, 64, 4, 2),
            (None, 96, 3, 1), (None, 160, 3, 2), (None, 320, 1, 1)]
_STAGE_ENDS = (1, 2, 4, 6)   # the groups after which RepDistiller taps a feature


def conv_bn_relu(inp: int, oup: int, kernel_size: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inp, oup, kernel_size, stride, kernel_size // 2, bias=False),
                         nn.BatchNorm2d(oup), nn.ReLU(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = inp * expand_ratio
        self.use_res_connect = stride == 1 and inp == oup
        self.conv = nn.Sequential(
            nn.Conv2d(inp, hidden, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(KDNet):
    head_attr = "classifier"

    def __init__(self, expansion: int = 6, width_mult: float = 0.5, *, num_classes: int | None,
                 in_channels: int = 3, img_size: int = 32, task: str = "classification"):
        super().__init__()
        check_img_size(img_size)
        channels = int(32 * width_mult)
        self.conv1 = conv_bn_relu(in_channels, channels, 3, 2)
        self.blocks = nn.ModuleList()
        for i, (t, c, n, s) in enumerate(_SETTING):
            if i == 1 and img_size == 128:
                s = 2
            out = int(c * width_mult)
            group = []
            for j in range(n):
                group.append(InvertedResidual(channels, out, s if j == 0 else 1, t or expansion))
                channels = out
            self.blocks.append(nn.Sequential(*group))
        self.last_channel = int(1280 * width_mult) if width_mult > 1.0 else 1280
        self.conv2 = conv_bn_relu(channels, self.last_channel, 1, 1)
        self.build_head(self.last_channel, num_classes, task)

        init_fan_out(self, linear_std=0.01)

    def build_head(self, feat_dim: int, num_classes: int | None, task: str) -> None:
        # RepDistiller wraps its linear layer in a Sequential: keys `classifier.0.*`.
        super().build_head(feat_dim, num_classes, task)
        if task == "classification":
            self.classifier = nn.Sequential(self.classifier)

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1(x)

    def forward_stages(self, x: torch.Tensor, preact: bool) -> list[Stage]:
        stages = []
        for i, group in enumerate(self.blocks):
            x = group(x)
            if i in _STAGE_ENDS:
                stages.append((x, x))
        return stages

    def forward_pool(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(F.adaptive_avg_pool2d(self.conv2(x), 1), 1)

    def get_feat_modules(self) -> nn.ModuleList:
        return nn.ModuleList([self.conv1, self.blocks])

    def get_bn_before_relu(self) -> list[nn.BatchNorm2d]:
        return [self.blocks[i][-1].conv[-1] for i in _STAGE_ENDS]


@register("MobileNetV2")
def mobilenetv2_half(**kwargs) -> MobileNetV2:
    return MobileNetV2(6, 0.5, **kwargs)
