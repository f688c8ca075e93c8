"""The reference's cDR-RS feature extractor: its trained ResNet34_extract as a `FeatureExtractor`.

In the reference (UBCDingXin/cGAN-KD, `make_fake_datasets/main.py` and `train_cdre.py`) the density
ratio is fitted on `ResNet34_extract(x)[1]`, the C*H*W-d output of `classifier_1`, with x the GAN's
own scale, [-1, 1] (real images through Normalize(0.5, 0.5)), although the net was trained on
images normalised with the training set's channel means and stds. The extractor here does the
same: uint8 -> x / 255 * 2 - 1 -> features.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from ..common.errors import UserError
from ..models.resnet_extract import (
    ResNetExtract,
    load_resnet34_extract,
    resnet34_extract,
)
from .features import as_uint8_images


class ReferenceResNetFeatures:
    """`classifier_1` features of the reference's ResNet34_extract on uint8 images."""

    kind = "reference_resnet34_extract"

    def __init__(self, net: ResNetExtract, device: str | torch.device = "cpu", batch_size: int = 500):
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self.batch_size = batch_size
        self.dim = net.dim

    def _features(self, batch: torch.Tensor) -> torch.Tensor:
        x = batch.to(self.device, non_blocking=True).float().div_(127.5).sub_(1.0)
        return self.net(x)[1]

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        images = as_uint8_images(images)
        expected = (self.net.in_channels, self.net.img_size, self.net.img_size)
        if tuple(images.shape[1:]) != expected:
            raise UserError(f"ResNet34_extract takes C x H x W = {expected} images, got {tuple(images.shape[1:])}")
        chunks = [self._features(images[i:i + self.batch_size]) for i in range(0, len(images), self.batch_size)]
        return torch.cat(chunks).float() if chunks else torch.empty(0, self.dim, device=self.device)

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "num_classes": self.net.num_classes, "img_size": self.net.img_size,
                "state_dict": {k: v.detach().cpu() for k, v in self.net.state_dict().items()}}

    @classmethod
    def from_state(cls, state: dict, device: str | torch.device = "cpu") -> ReferenceResNetFeatures:
        net = resnet34_extract(state["num_classes"], state["img_size"])
        net.load_state_dict(state["state_dict"])
        return cls(net, device)


def load_reference_feature_extractor(path: str | os.PathLike, *, num_classes: int = 100, img_size: int = 32,
                                     device: str | torch.device = "cpu") -> ReferenceResNetFeatures:
    """The reference's ResNet34_extract `{'net_state_dict': ...}` file (keys `module.`-prefixed,
    as nn.DataParallel saves them) as a cDR-RS feature extractor (32 px CIFAR-100 or 128 px
    ImageNet-100 layout)."""
    return ReferenceResNetFeatures(load_resnet34_extract(path, num_classes=num_classes, img_size=img_size,
                                                         device=device), device)
