"""DenseNet-BC (Huang et al.) as in the reference's CIFAR-100 teacher: densenet121, densenet161.

RepDistiller has no DenseNet; cGAN-KD adds the common CIFAR version (kuangliu's layout):
a 3x3 stem conv with 2k channels, four dense stages of BN-ReLU-1x1(4k)-BN-ReLU-3x3(k)
bottlenecks whose outputs are concatenated, BN-ReLU-1x1 transitions halving the channels
and the resolution (2x2 average pooling), a final BN-ReLU, global pooling and a linear layer.
densenet121: blocks (6, 12, 24, 16), k = 32; densenet161: blocks (6, 12, 36, 24), k = 48.

KD stages: dense1, trans1+dense2, trans2+dense3, trans3+dense4. Like a pre-activation ResNet,
a stage output is read by a BN (the next transition's, or the final one): those are the
"BN before ReLU" and give the pre-activation features.
64 / 128 px: the stem becomes 4x4 stride-2 conv-BN-ReLU, plus a 3x3 stride-2 max-pool at
128 px (reference UTKFace/models/densenet.py and ImageNet-100/RepDistiller/models/densenet.py).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .base import KDNet, Stage, bn_feature, check_img_size, stem_conv, stem_pool
from .registry import register


class Bottleneck(nn.Module):
    def __init__(self, in_planes: int, growth_rate: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, 4 * growth_rate, kernel_size=1, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * growth_rate)
        self.conv2 = nn.Conv2d(4 * growth_rate, growth_rate, kernel_size=3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        return torch.cat([out, x], 1)


class Transition(nn.Module):
    def __init__(self, in_planes: int, out_planes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_planes)
        self.conv = nn.Conv2d(in_planes, out_planes, kernel_size=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), 2)


class DenseNet(KDNet):
    head_attr = "linear"

    def __init__(self, nblocks: tuple[int, int, int, int], growth_rate: int, reduction: float = 0.5, *,
                 num_classes: int | None, in_channels: int = 3, img_size: int = 32,
                 task: str = "classification"):
        super().__init__()
        check_img_size(img_size)
        self.growth_rate = growth_rate
        planes = 2 * growth_rate
        if img_size >= 64:
            self.conv1 = nn.Sequential(stem_conv(in_channels, planes, downsample=True),
                                       nn.BatchNorm2d(planes), nn.ReLU(inplace=True), stem_pool(img_size))
        else:
            self.conv1 = stem_conv(in_channels, planes, downsample=False)
        dense, trans = [], []
        for i, n in enumerate(nblocks):
            dense.append(self._make_dense(planes, n))
            planes += n * growth_rate
            if i < len(nblocks) - 1:
                out_planes = int(math.floor(planes * reduction))
                trans.append(Transition(planes, out_planes))
                planes = out_planes
        self.dense1, self.dense2, self.dense3, self.dense4 = dense
        self.trans1, self.trans2, self.trans3 = trans
        self.bn = nn.BatchNorm2d(planes)
        self.build_head(planes, num_classes, task)

    def _make_dense(self, in_planes: int, nblock: int) -> nn.Sequential:
        return nn.Sequential(*[Bottleneck(in_planes + i * self.growth_rate, self.growth_rate) for i in range(nblock)])

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv1(x)

    def forward_stages(self, x: torch.Tensor, preact: bool) -> list[Stage]:
        stages = []
        steps = ((None, self.dense1), (self.trans1, self.dense2), (self.trans2, self.dense3), (self.trans3, self.dense4))
        for (trans, dense), next_bn in zip(steps, self.get_bn_before_relu()):
            x = dense(x if trans is None else trans(x))
            stages.append((x, bn_feature(next_bn, x) if preact else None))
        return stages

    def forward_pool(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(F.adaptive_avg_pool2d(F.relu(self.bn(x)), 1), 1)

    def get_feat_modules(self) -> nn.ModuleList:
        return nn.ModuleList([self.conv1, self.dense1, self.trans1, self.dense2, self.trans2,
                              self.dense3, self.trans3, self.dense4])

    def get_bn_before_relu(self) -> list[nn.BatchNorm2d]:
        return [self.trans1.bn, self.trans2.bn, self.trans3.bn, self.bn]


@register("densenet121")
def densenet121(**kwargs) -> DenseNet:
    return DenseNet((6, 12, 24, 16), growth_rate=32, **kwargs)


@register("densenet161")
def densenet161(**kwargs) -> DenseNet:
    return DenseNet((6, 12, 36, 24), growth_rate=48, **kwargs)
