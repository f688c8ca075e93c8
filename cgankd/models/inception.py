"""The reference's FID / IS eval net: an InceptionV3 trained on the dataset itself (UBCDingXin/cGAN-KD,
`make_fake_datasets/models/InceptionV3.py`, class Inception3, built with aux_logits=True and
transform_input=False; file `eval_and_gan_ckpts/ckpt_PreCNNForEval_InceptionV3_epoch_200_SEED_2021_Transformation_True.pth`).

That class is torchvision's Inception3 layout, so torchvision's architecture code (no weights)
is the building block here and the keys match after the DataParallel `module.` prefix. As in the
reference's `eval_metrics.py`, images go in scaled to [-1, 1] and resized bilinearly to 299 x 299;
the FID features are the 2048-d global average pool of Mixed_7c, the IS logits the `fc` layer
on them (the auxiliary head is loaded but unused, as there).
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.inception import Inception3

from ..common.errors import UserError
from ..tasks import Task
from .reference_checkpoints import load_checked, read_net_state_dict

INPUT_SIZE = 299
FEATURE_DIM = 2048
_TRUNK = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
          "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
          "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c")


def eval_inception(num_classes: int) -> Inception3:
    """The reference's Inception3(num_classes, aux_logits=True, transform_input=False), untrained."""
    return Inception3(num_classes=num_classes, aux_logits=True, transform_input=False, init_weights=False)


class ReferenceInception:
    """The loaded eval net on uint8 images (N, 3, H, W): `features` for FID, `logits` for IS.

    `__call__` returns (features, predicted classes) as numpy arrays, like the EvalNet of
    `cgankd gan eval`, so `evaluate_generator` can score a generator in this net's feature space."""

    def __init__(self, net: Inception3, *, path: str = "", device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self.num_classes = net.fc.out_features
        self.task = Task("classification", self.num_classes)
        self.path = path

    def _input(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise UserError(f"InceptionV3 eval net: expected uint8 N x 3 x H x W images, got {images.dtype} "
                            f"of shape {tuple(images.shape)}")
        x = images.to(self.device).float().div_(255.0).sub_(0.5).div_(0.5)
        return F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        for name in _TRUNK:
            x = getattr(self.net, name)(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    @torch.inference_mode()
    def features_and_logits(self, images: np.ndarray | torch.Tensor, batch_size: int = 200
                            ) -> tuple[torch.Tensor, torch.Tensor]:
        """(pool features (N, 2048), logits (N, K)), float32 on the net's device."""
        images = torch.as_tensor(images)
        feats, logits = [], []
        for i in range(0, len(images), batch_size):
            f = self._pool(self._input(images[i:i + batch_size]))
            feats.append(f)
            logits.append(self.net.fc(f))    # dropout is the identity in eval mode
        if not feats:
            return torch.empty(0, FEATURE_DIM, device=self.device), torch.empty(0, self.num_classes, device=self.device)
        return torch.cat(feats), torch.cat(logits)

    def features(self, images: np.ndarray | torch.Tensor, batch_size: int = 200) -> torch.Tensor:
        return self.features_and_logits(images, batch_size)[0]

    def logits(self, images: np.ndarray | torch.Tensor, batch_size: int = 200) -> torch.Tensor:
        return self.features_and_logits(images, batch_size)[1]

    def __call__(self, images: np.ndarray, batch_size: int = 200) -> tuple[np.ndarray, np.ndarray]:
        feats, logits = self.features_and_logits(images, batch_size)
        return feats.cpu().numpy(), logits.argmax(dim=1).cpu().numpy()


def load_reference_inception(path: str | os.PathLike, num_classes: int = 100,
                             device: str | torch.device = "cpu") -> ReferenceInception:
    """The reference's InceptionV3 eval net from its `{'net_state_dict': ...}` file (keys with the
    DataParallel `module.` prefix), strictly checked."""
    net: nn.Module = eval_inception(num_classes)
    load_checked(net, read_net_state_dict(path),
                 f"{path}: does not fit the reference's InceptionV3 eval net ({num_classes} classes)")
    return ReferenceInception(net, path=str(path), device=device)
