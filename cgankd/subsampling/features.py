"""Feature extractors for cDR-RS: uint8 images (N, C, H, W) -> feature vectors (N, D).

The density ratio is estimated in a feature space, not on pixels. Two extractors:
- `ClassifierFeatures`: the pooled penultimate vector of a trained classifier of the zoo
  (classification; the reference trains a ResNet-34 for this purpose, apart from the teacher).
- `SparseAE`: the code of a sparse autoencoder (`SparseAENet`) trained with an auxiliary
  regression head (regression; the reference's SteeringAngle/UTKFace setting).
Both are batched, run under `torch.inference_mode()`, and return float32 on their device.
Each can describe itself as plain state (`state()`) and be rebuilt by `extractor_from_state`.
"""

from __future__ import annotations

import math
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..common.errors import UserError
from ..common.optim import backward_step, set_lr, step_lr
from ..models.trained import TrainedNet


@runtime_checkable
class FeatureExtractor(Protocol):
    dim: int

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...

    def state(self) -> dict[str, Any]: ...


def as_uint8_images(images: torch.Tensor | np.ndarray, what: str = "images") -> torch.Tensor:
    """Check the N x C x H x W uint8 contract and return a tensor (no copy when possible)."""
    images = torch.as_tensor(images)
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise UserError(f"{what}: expected a uint8 N x C x H x W array, got {images.dtype} "
                        f"of shape {tuple(images.shape)}")
    return images


def _run_batched(fn, images: torch.Tensor, device: torch.device, batch_size: int) -> torch.Tensor:
    """fn(uint8 batch on device) -> (b, D) for every chunk of `images`, concatenated on `device`."""
    chunks = [fn(images[i:i + batch_size].to(device, non_blocking=True))
              for i in range(0, len(images), batch_size)]
    return torch.cat(chunks).float() if chunks else torch.empty(0, 0, device=device)


# ---------------------------------------------------------------- classifier features

class ClassifierFeatures:
    """Pooled penultimate features `model(x, is_feat=True)[0][-1]` of a trained zoo network."""

    kind = "classifier"

    def __init__(self, net: TrainedNet, batch_size: int = 512):
        self.net, self.batch_size = net, batch_size
        self.device = net.device
        self.dim = int(net.model.feat_dim)

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.net.features_and_outputs(as_uint8_images(images), self.batch_size)[0]

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "net": self.net.state()}

    @classmethod
    def from_state(cls, state: dict, device: str | torch.device = "cpu") -> "ClassifierFeatures":
        return cls(TrainedNet.from_state(state["net"], device))


# ---------------------------------------------------------------- sparse autoencoder

def _conv_bn_relu(cin: int, cout: int, kernel: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]


def _up_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.ConvTranspose2d(cin, cout, 4, 2, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]


class SparseAENet(nn.Module):
    """Conv encoder (four stride-2 stages) -> non-negative code -> conv decoder, plus a small
    regression head on the code. Pixels are mapped to [-1, 1] inside; images whose side is not
    a multiple of 16 are zero-padded to one (28 -> 32) and the reconstruction is cropped back.
    With ch=64 on 64 px RGB the code has 64*12 x 4 x 4 = 3*64*64 entries, as in the reference."""

    def __init__(self, in_channels: int = 3, img_size: int = 64, ch: int = 64,
                 head_widths: tuple[int, ...] = (512, 128)):
        super().__init__()
        self.config = {"in_channels": in_channels, "img_size": img_size, "ch": ch,
                       "head_widths": list(head_widths)}
        self.img_size = img_size
        self.padded = 16 * math.ceil(img_size / 16)
        widths = [ch, ch * 2, ch * 4, ch * 8]
        enc: list[nn.Module] = []
        cin = in_channels
        for w in widths:
            enc += _conv_bn_relu(cin, w, 4, 2) + _conv_bn_relu(w, w, 3, 1)
            cin = w
        enc += [nn.Conv2d(cin, ch * 12, 3, 1, padding=1), nn.ReLU()]   # the code: no BN, >= 0
        self.encoder = nn.Sequential(*enc)
        self.code_shape = (ch * 12, self.padded // 16, self.padded // 16)
        self.dim = math.prod(self.code_shape)

        dec: list[nn.Module] = []
        cin = ch * 12
        for w in reversed(widths):
            dec += _up_bn_relu(cin, w) + _conv_bn_relu(w, w, 3, 1)
            cin = w
        dec += [nn.Conv2d(cin, in_channels, 3, 1, padding=1), nn.Tanh()]
        self.decoder = nn.Sequential(*dec)

        head: list[nn.Module] = []
        cin = self.dim
        for w in head_widths:
            head += [nn.Linear(cin, w), nn.BatchNorm1d(w), nn.ReLU()]
            cin = w
        self.head = nn.Sequential(*head, nn.Linear(cin, 1))

    def to_input(self, images_u8: torch.Tensor) -> torch.Tensor:
        """uint8 -> [-1, 1], padded to a multiple of 16."""
        x = images_u8.float() / 127.5 - 1.0
        pad = self.padded - self.img_size
        return F.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2)) if pad else x

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        start = (self.padded - self.img_size) // 2
        return x[..., start:start + self.img_size, start:start + self.img_size]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x).flatten(1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x in [-1, 1] (padded) -> (code, reconstruction cropped to img_size, prediction (B,))."""
        code = self.encode(x)
        recon = self.decoder(code.view(-1, *self.code_shape))
        return code, self.crop(recon), self.head(code).view(-1)

    def losses(self, images_u8: torch.Tensor, labels: torch.Tensor, sparsity: float = 1e-3,
               regression: float = 1.0) -> dict[str, torch.Tensor]:
        """Reconstruction MSE, sparsity (mean |code|), label MSE and their weighted sum."""
        x = self.to_input(images_u8)
        code, recon, pred = self(x)
        terms = {"recon": F.mse_loss(recon, self.crop(x)), "sparsity": code.abs().mean(),
                 "regression": F.mse_loss(pred, labels.float().view(-1))}
        terms["total"] = terms["recon"] + sparsity * terms["sparsity"] + regression * terms["regression"]
        return terms


class SparseAE:
    """A trained `SparseAENet` as a feature extractor: the code is the feature vector."""

    kind = "sparse_ae"

    def __init__(self, net: SparseAENet, device: str | torch.device = "cpu", batch_size: int = 512):
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self.batch_size = batch_size
        self.dim = net.dim

    def _features(self, batch: torch.Tensor) -> torch.Tensor:
        return self.net.encode(self.net.to_input(batch))

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        images = as_uint8_images(images)
        expected = (self.net.config["in_channels"], self.net.img_size, self.net.img_size)
        if tuple(images.shape[1:]) != expected:
            raise UserError(f"sparse autoencoder expects images of shape C x H x W = {expected}, "
                            f"got {tuple(images.shape[1:])}")
        return _run_batched(self._features, images, self.device, self.batch_size)

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "config": self.net.config,
                "state_dict": {k: v.detach().cpu() for k, v in self.net.state_dict().items()}}

    @classmethod
    def from_state(cls, state: dict, device: str | torch.device = "cpu") -> "SparseAE":
        cfg = state["config"]
        net = SparseAENet(cfg["in_channels"], cfg["img_size"], cfg["ch"], tuple(cfg["head_widths"]))
        net.load_state_dict(state["state_dict"])
        return cls(net, device)


def train_sparse_ae(images: torch.Tensor | np.ndarray, labels_normalised: torch.Tensor | np.ndarray,
                    epochs: int = 200, batch_size: int = 128, lr: float = 0.01,
                    device: str | torch.device = "cpu", seed: int = 0, *, ch: int = 64,
                    head_widths: tuple[int, ...] = (512, 128), weight_decay: float = 1e-4,
                    lr_step_every: int = 50, lr_gamma: float = 0.1, sparsity: float = 1e-3,
                    regression: float = 1.0, progress: bool = False) -> SparseAE:
    """Train a `SparseAENet` on real images (uint8) and labels normalised to [0, 1].

    Loss = reconstruction MSE + sparsity * mean|code| + regression * MSE(label). SGD (momentum
    0.9) with the lr multiplied by `lr_gamma` every `lr_step_every` epochs; each epoch is one
    pass over a fresh permutation. Returns the trained net wrapped as a feature extractor.
    """
    images = as_uint8_images(images, "sparse autoencoder images")
    labels = torch.as_tensor(labels_normalised, dtype=torch.float32).view(-1)
    if len(images) != len(labels):
        raise UserError(f"sparse autoencoder: {len(images)} images but {len(labels)} labels")
    if len(images) < 2 or not torch.isfinite(labels).all():
        raise UserError(f"sparse autoencoder: needs at least 2 images and finite labels, got {len(images)} images")
    if images.shape[2] != images.shape[3]:
        raise UserError(f"sparse autoencoder: images must be square, got {tuple(images.shape[2:])}")
    device = torch.device(device)
    images, labels = images.to(device), labels.to(device)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        net = SparseAENet(images.shape[1], images.shape[2], ch, head_widths).to(device)
        gen = torch.Generator(device=device).manual_seed(seed)
        opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
        bs = min(batch_size, len(images))
        bar = tqdm(range(epochs), desc="sparse AE", disable=not progress)
        for epoch in bar:
            set_lr(opt, step_lr(lr, epoch, range(lr_step_every, epochs, lr_step_every) if lr_step_every > 0 else (),
                                lr_gamma))
            net.train()
            order = torch.randperm(len(images), generator=gen, device=device)
            for start in range(0, len(order) - bs + 1, bs):
                idx = order[start:start + bs]
                loss = net.losses(images[idx], labels[idx], sparsity, regression)["total"]
                backward_step(opt, loss)
            bar.set_postfix(loss=f"{loss.item():.4f}")
    return SparseAE(net, device)


# ---------------------------------------------------------------- state

_EXTRACTORS = {ClassifierFeatures.kind: ClassifierFeatures, SparseAE.kind: SparseAE}


def extractor_from_state(state: dict, device: str | torch.device = "cpu") -> FeatureExtractor:
    kind = state.get("kind")
    if kind not in _EXTRACTORS:
        raise UserError(f"unknown feature extractor kind {kind!r}; known: {', '.join(_EXTRACTORS)}")
    return _EXTRACTORS[kind].from_state(state, device)
