"""What every network of the zoo shares: the KD forward contract and the stem rules.

`forward(x, is_feat=False, preact=False)` returns the head's output; with is_feat=True it
returns `(feats, out)` where feats = [stem output, each stage's output, pooled vector (B, D)]
and, with preact=True, the stage outputs are taken before their closing ReLU (RepDistiller's
contract, which FitNet, AT, AB, VID, ... read). A family only writes `forward_stem`,
`forward_stages` and `forward_pool`, names its head attribute, and lists its feature
modules and stage-closing BN layers.

Image sizes: 28 and 32 px use the CIFAR layout unchanged. For 64 and 128 px the reference
(UBCDingXin/cGAN-KD, SteeringAngle/UTKFace and ImageNet-100 model folders) shrinks the
input early so that the stages see about 32x32; each family says which of its rules it
follows. Global pooling is adaptive everywhere, so any of these sizes works.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .heads import make_head

IMG_SIZES = (28, 32, 64, 128)
Stage = tuple[torch.Tensor, torch.Tensor | None]   # (output, pre-ReLU output or None)


class KDNet(nn.Module):
    """Base class of the zoo. Subclasses set `head_attr` to RepDistiller's name for the
    classifier (`fc`, `linear`, `classifier`) so that state dicts keep the reference keys."""

    head_attr: ClassVar[str] = "fc"
    feat_dim: int

    def build_head(self, feat_dim: int, num_classes: int | None, task: str) -> None:
        self.feat_dim = feat_dim
        self.task_kind = task
        setattr(self, self.head_attr, make_head(feat_dim, num_classes, task))

    @property
    def head(self) -> nn.Module:
        return getattr(self, self.head_attr)

    # --- written by each family -------------------------------------------------------
    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_stages(self, x: torch.Tensor, preact: bool) -> list[Stage]:
        """Run the stages in turn; return (output, pre-ReLU output) per stage. The second
        item may be None when `preact` is False."""
        raise NotImplementedError

    def forward_pool(self, x: torch.Tensor) -> torch.Tensor:
        """Last stage output -> pooled vector (B, feat_dim)."""
        raise NotImplementedError

    def get_feat_modules(self) -> nn.ModuleList:
        raise NotImplementedError

    def get_bn_before_relu(self) -> list[nn.BatchNorm2d]:
        raise NotImplementedError

    # --- shared -----------------------------------------------------------------------
    def forward(self, x: torch.Tensor, is_feat: bool = False, preact: bool = False):
        want_pre = is_feat and preact
        stem = self.forward_stem(x)
        stages = self.forward_stages(stem, preact=want_pre)
        pooled = self.forward_pool(stages[-1][0])
        out = self.head(pooled)
        if not is_feat:
            return out
        feats = [stem] + [pre if want_pre else o for o, pre in stages] + [pooled]
        return feats, out


class StemThreeStageNet(KDNet):
    """A net with a conv1 -> bn1 -> ReLU (-> stem_pool) stem and three stages layer1..layer3
    (the CIFAR ResNets and the ShuffleNets)."""

    def forward_stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.stem_pool(F.relu(self.bn1(self.conv1(x))))

    def forward_stages(self, x: torch.Tensor, preact: bool) -> list[Stage]:
        return run_stages((self.layer1, self.layer2, self.layer3), x)


class PreactBlock(nn.Module):
    """A block that can also hand out its output before the closing ReLU."""

    def forward_with_preact(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_preact(x)[0]


def run_stage(blocks: nn.Sequential, x: torch.Tensor) -> Stage:
    """All blocks of a stage; the last one also yields its pre-ReLU output."""
    for block in list(blocks)[:-1]:
        x = block(x)
    return blocks[-1].forward_with_preact(x)


def run_stages(stages, x: torch.Tensor) -> list[Stage]:
    """Each stage in turn (see `run_stage`), feeding each one's output to the next."""
    out = []
    for blocks in stages:
        out.append(run_stage(blocks, x))
        x = out[-1][0]
    return out


def bn_feature(bn: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """`bn(x)` in the layer's current mode, but without touching its running statistics:
    reading a pre-activation feature must not count as a second batch."""
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias,
                        training=bn.training, momentum=0.0, eps=bn.eps)


def stem_conv(in_channels: int, out_channels: int, downsample: bool, kernel_size: int = 3) -> nn.Conv2d:
    """The first convolution: the CIFAR one, or the reference's 4x4 stride-2 one (h -> h/2)
    for its 64 px (UTKFace/SteeringAngle) and 128 px (ImageNet-100) versions."""
    if downsample:
        return nn.Conv2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1, bias=False)
    return nn.Conv2d(in_channels, out_channels, kernel_size=kernel_size, padding=kernel_size // 2, bias=False)


def stem_pool(img_size: int) -> nn.Module:
    """The extra 3x3 stride-2 max-pool after the stem of the reference's 128 px nets."""
    return nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if img_size == 128 else nn.Identity()


def init_fan_out(model: nn.Module, linear_std: float | None, zero_linear_bias: bool = True) -> None:
    """RepDistiller's init: convs N(0, sqrt(2 / fan_out)), BN 1/0, zero conv biases; linear
    weights N(0, linear_std) when given, else PyTorch's default; linear biases zero unless the
    reference keeps PyTorch's default (its ResNets)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            if linear_std is not None:
                nn.init.normal_(m.weight, 0.0, linear_std)
            if zero_linear_bias:
                nn.init.zeros_(m.bias)


def check_img_size(img_size: int) -> int:
    if img_size not in IMG_SIZES:
        raise ValueError(f"img_size must be one of {IMG_SIZES}, got {img_size}")
    return img_size
