"""The improved CcGAN label input: an embedding h(y) learned from the data.

1. x2y: a CNN regresses the normalised label from real images through a bottleneck
   x -> h (Linear, BN, ReLU) -> y (Linear, ReLU); MSE, SGD with step decay.
2. y2h: an MLP maps a label to that bottleneck: trained so that h2y(y2h(y')) = y' on noisy
   labels y' = clip(y + N(0, 0.2^2), 0, 1), with h2y frozen.
G and D then see y2h(y). Both loops are short and local to the GAN stage.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..common.optim import backward_step, set_lr, step_lr
from ..models import build_model

Progress = Callable[[str, int, int, float], None]


class EmbedRegressor(nn.Module):
    """A zoo backbone's pooled features -> h (the embedding) -> y."""

    def __init__(self, arch: str, *, in_channels: int, img_size: int, dim_embed: int):
        super().__init__()
        self.backbone = build_model(arch, num_classes=None, in_channels=in_channels, img_size=img_size,
                                    task="regression")
        self.x2h = nn.Sequential(nn.Linear(self.backbone.feat_dim, dim_embed), nn.BatchNorm1d(dim_embed), nn.ReLU())
        self.h2y = nn.Sequential(nn.Linear(dim_embed, 1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats, _ = self.backbone(x, is_feat=True)
        h = self.x2h(feats[-1])
        return self.h2y(h), h


class LabelToEmbedding(nn.Module):
    """y2h: five linear layers with GroupNorm(8) and ReLU (the last one ReLU only)."""

    def __init__(self, dim_embed: int = 128):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 1
        for _ in range(4):
            layers += [nn.Linear(cin, dim_embed), nn.GroupNorm(8, dim_embed), nn.ReLU()]
            cin = dim_embed
        layers += [nn.Linear(dim_embed, dim_embed), nn.ReLU()]
        self.main = nn.Sequential(*layers)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.main(y.view(-1, 1).float())


def to_minus_one_one(images_u8: torch.Tensor) -> torch.Tensor:
    return images_u8.float() / 127.5 - 1.0


def train_x2y(images: torch.Tensor, labels: torch.Tensor, cfg: dict, *, device: torch.device,
              progress: Progress | None = None) -> EmbedRegressor:
    """Train the x -> h -> y regressor on real images (uint8, on `device`) and labels in [0, 1]."""
    _, c, s, _ = images.shape
    net = EmbedRegressor(cfg["embed_arch"], in_channels=c, img_size=s, dim_embed=cfg["dim_embed"]).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=cfg["embed_lr"], momentum=0.9, weight_decay=1e-4)
    bs = min(cfg["embed_batch_size"], len(images))
    # An "epoch" is len // batch steps of batches drawn with replacement (as the reference does);
    # embed_subset > 0 shortens it to that many images for CPU-sized runs.
    seen = min(len(images), cfg.get("embed_subset") or len(images))
    steps = max(1, seen // bs)
    net.train()
    for epoch in range(cfg["embed_epochs"]):
        set_lr(opt, step_lr(cfg["embed_lr"], epoch, cfg["embed_milestones"]))
        total = 0.0
        for _ in range(steps):
            idx = torch.randint(len(images), (bs,), device=device)
            pred, _ = net(to_minus_one_one(images[idx]))
            loss = F.mse_loss(pred.view(-1), labels[idx].float())
            backward_step(opt, loss)
            total += loss.item()
        if progress:
            progress("x2y", epoch + 1, cfg["embed_epochs"], total / steps)
    return net.eval()


def train_y2h(h2y: nn.Module, unique_labels: torch.Tensor, cfg: dict, *, device: torch.device,
              progress: Progress | None = None) -> LabelToEmbedding:
    """Train y2h so that the frozen h2y maps y2h(y') back to y' for noisy labels y'."""
    y2h = LabelToEmbedding(cfg["dim_embed"]).to(device)
    h2y.eval().requires_grad_(False)
    opt = torch.optim.SGD(y2h.parameters(), lr=cfg["y2h_lr"], momentum=0.9, weight_decay=1e-4)
    bs = cfg["y2h_batch_size"]
    labels = unique_labels.float().to(device)
    for epoch in range(cfg["y2h_epochs"]):
        set_lr(opt, step_lr(cfg["y2h_lr"], epoch, cfg["y2h_milestones"]))
        perm = torch.randperm(len(labels), device=device)
        total, n_batches = 0.0, math.ceil(len(labels) / bs)
        for b in range(n_batches):
            y = labels[perm[b * bs:(b + 1) * bs]]
            y_noisy = (y + 0.2 * torch.randn_like(y)).clamp(0.0, 1.0)
            loss = F.mse_loss(h2y(y2h(y_noisy)).view(-1), y_noisy)
            backward_step(opt, loss)
            total += loss.item()
        if progress:
            progress("y2h", epoch + 1, cfg["y2h_epochs"], total / n_batches)
    return y2h.eval().requires_grad_(False)


@torch.inference_mode()
def x2y_mae(net: EmbedRegressor, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500) -> float:
    """Mean |prediction - label| in normalised units (a check that the embedding learned the label)."""
    net.eval()
    errs = []
    for i in range(0, len(images), batch_size):
        pred, _ = net(to_minus_one_one(images[i:i + batch_size]))
        errs.append((pred.view(-1).clamp(0, 1) - labels[i:i + batch_size].float()).abs())
    return float(torch.cat(errs).mean()) if errs else float("nan")


@torch.inference_mode()
def y2h_roundtrip_error(y2h: nn.Module, h2y: nn.Module, grid: int = 101) -> float:
    """Mean |h2y(y2h(y)) - y| over an even grid of labels in [0, 1]."""
    ys = torch.linspace(0, 1, grid, device=next(y2h.parameters()).device)
    return float((h2y(y2h(ys)).view(-1) - ys).abs().mean())

