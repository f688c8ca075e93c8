"""The reference's cDR-RS feature net: ResNet34_extract (UBCDingXin/cGAN-KD,
`CIFAR-100/make_fake_datasets/models/ResNet_extract.py` and its ImageNet-100 twin).

A ResNet-34 trunk (`main`: 3x3 conv-BN-ReLU stem, four stages of basic blocks, 4x4 average
pool), then `classifier_1`, one Linear(512, C*H*W) whose output is the feature vector cDR-RS
works in, then `classifier_2`, an MLP (BN1d-ReLU-Dropout blocks down to 1024, 256, K classes)
giving the logits. The 128 px version adds a 2x2 max-pool after the first and the second stage,
so the trunk ends at 4x4 as at 32 px. Module names follow the reference, so the keys of its
`{'net_state_dict': ...}` files (after the DataParallel `module.` prefix) are ours.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from .reference_checkpoints import load_checked, read_net_state_dict
from .resnetv2 import BasicBlock

RESNET34_BLOCKS = (3, 4, 6, 3)
SIZES = (32, 128)


def _stage(in_planes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    layers = [BasicBlock(in_planes, planes, stride)]
    layers += [BasicBlock(planes, planes, 1) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def _mlp_block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.BatchNorm1d(cin), nn.ReLU(), nn.Dropout(0.5), nn.Linear(cin, cout)]


class ResNetExtract(nn.Module):
    """`forward(x) -> (logits, features)`, as the reference's; features are (N, C*H*W)."""

    def __init__(self, num_blocks: tuple[int, ...] = RESNET34_BLOCKS, *, num_classes: int = 100,
                 img_size: int = 32, in_channels: int = 3):
        super().__init__()
        if img_size not in SIZES:
            raise ValueError(f"ResNet_extract exists for {SIZES} px, not {img_size}")
        pool = [nn.MaxPool2d(kernel_size=2, stride=2)] if img_size == 128 else []
        widths, strides = (64, 128, 256, 512), (1, 2, 2, 2)
        stages, cin = [], 64
        for planes, n, stride in zip(widths, num_blocks, strides):
            stages.append(_stage(cin, planes, n, stride))
            cin = planes
        self.main = nn.Sequential(
            nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            stages[0], *pool, stages[1], *pool, stages[2], stages[3], nn.AvgPool2d(kernel_size=4))
        self.dim = in_channels * img_size * img_size
        self.img_size, self.in_channels, self.num_classes = img_size, in_channels, num_classes
        self.classifier_1 = nn.Sequential(nn.Linear(512 * BasicBlock.expansion, self.dim))
        layers = _mlp_block(self.dim, 1024) + _mlp_block(1024, 256) + _mlp_block(256, num_classes)
        self.classifier_2 = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.classifier_1(self.main(x).flatten(1))
        return self.classifier_2(features), features


def resnet34_extract(num_classes: int = 100, img_size: int = 32, in_channels: int = 3) -> ResNetExtract:
    return ResNetExtract(RESNET34_BLOCKS, num_classes=num_classes, img_size=img_size, in_channels=in_channels)


def load_resnet34_extract(path: str | os.PathLike, *, num_classes: int = 100, img_size: int = 32,
                          device: str | torch.device = "cpu") -> ResNetExtract:
    """A reference `{'net_state_dict': ...}` file of ResNet34_extract (saved inside nn.DataParallel,
    as `make_fake_datasets/main.py` does), strictly checked, in eval mode on `device`."""
    net = resnet34_extract(num_classes, img_size)
    load_checked(net, read_net_state_dict(path),
                 f"{path}: does not fit the reference's ResNet34_extract ({num_classes} classes, {img_size} px)")
    return net.to(device).eval()
