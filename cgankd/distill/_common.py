"""Pieces the KD methods share: temperature KL, spatial matching, connectors, embeddings,
feature probing and the short training loop of a method's own stage."""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import trange

from ..common.optim import backward_step, set_lr, step_lr


def soft_kl(s_logits: torch.Tensor, t_logits: torch.Tensor, T: float) -> torch.Tensor:
    """T^2 * KL(softmax(t/T) || softmax(s/T)), averaged over the batch (Hinton et al.)."""
    log_p_s = F.log_softmax(s_logits.float() / T, dim=1)
    p_t = F.softmax(t_logits.float() / T, dim=1)
    return F.kl_div(log_p_s, p_t, reduction="batchmean") * T * T


def match_spatial(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Average-pool the larger of two feature maps down to the other's height and width."""
    (ha, wa), (hb, wb) = a.shape[2:], b.shape[2:]
    if (ha, wa) == (hb, wb):
        return a, b
    size = (min(ha, hb), min(wa, wb))
    return (F.adaptive_avg_pool2d(a, size) if (ha, wa) != size else a,
            F.adaptive_avg_pool2d(b, size) if (hb, wb) != size else b)


def as_map(f: torch.Tensor) -> torch.Tensor:
    """(B, D) pooled vectors as (B, D, 1, 1) maps; maps unchanged."""
    return f[:, :, None, None] if f.dim() == 2 else f


def stage_maps(feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The stage outputs of a feature list: everything between the stem and the pooled vector."""
    return list(feats[1:-1])


class ConvReg(nn.Module):
    """Maps a student feature map onto a teacher's channels and size (FitNet regressor, AB connector).

    Sizes (RepDistiller's rules): student twice the teacher's → 3x3 conv stride 2; half → 4x4
    transposed conv stride 2; larger → a valid conv whose kernel takes the student's size down
    to the teacher's (1x1 when equal); any other smaller size → bilinear resize and a 1x1 conv.
    """

    def __init__(self, s_shape: Sequence[int], t_shape: Sequence[int], relu: bool = True):
        super().__init__()
        (s_c, s_h, s_w), (t_c, t_h, t_w) = s_shape[1:4], t_shape[1:4]
        if s_h == 2 * t_h and s_w == 2 * t_w:
            conv = nn.Conv2d(s_c, t_c, 3, stride=2, padding=1)
        elif 2 * s_h == t_h and 2 * s_w == t_w:
            conv = nn.ConvTranspose2d(s_c, t_c, 4, stride=2, padding=1)
        elif s_h >= t_h and s_w >= t_w:
            conv = nn.Conv2d(s_c, t_c, (1 + s_h - t_h, 1 + s_w - t_w))
        else:  # other upsamplings (odd sizes at 28 px): resize, then a 1x1 conv
            conv = nn.Sequential(nn.Upsample(size=(t_h, t_w), mode="bilinear", align_corners=False),
                                 nn.Conv2d(s_c, t_c, 1))
        self.body = nn.Sequential(conv, nn.BatchNorm2d(t_c), *([nn.ReLU(inplace=True)] if relu else []))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Embed(nn.Module):
    """Linear projection of flattened features, optionally L2-normalised (CC, CRD)."""

    def __init__(self, dim_in: int, dim_out: int, normalize: bool = True):
        super().__init__()
        self.linear = nn.Linear(dim_in, dim_out)
        self.normalize = normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.linear(x.flatten(1))
        return F.normalize(x, dim=1) if self.normalize else x


@torch.no_grad()
def probe_features(model: nn.Module, img_shape: Sequence[int], preact: bool = False
                   ) -> tuple[list[tuple[int, ...]], tuple[int, ...]]:
    """Shapes of a model's feature list and output, from a dummy batch of 2 in eval mode."""
    param = next(model.parameters())
    was_training = model.training
    model.eval()
    try:
        feats, out = model(torch.zeros(2, *img_shape, device=param.device, dtype=param.dtype),
                           is_feat=True, preact=preact)
    finally:
        model.train(was_training)
    return [tuple(f.shape) for f in feats], tuple(out.shape)


def run_stage(name: str, params: Iterable[nn.Parameter], loss_fn: Callable, batches: Callable, *,
              epochs: int, lr: float, weight_decay: float, milestones: Sequence[int] = (),
              momentum: float = 0.9, quiet: bool = False) -> list[dict[str, float]]:
    """SGD over `params` for `epochs` passes of `batches()`, lr x0.1 at each milestone.

    `loss_fn(x, y, index)` returns the stage loss of one batch. Returns one log record per epoch.
    """
    params = [p for p in params if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    records = []
    for epoch in trange(epochs, desc=f"{name} stage", disable=quiet, leave=False, dynamic_ncols=True):
        lr_now = step_lr(lr, epoch, milestones)
        set_lr(optimizer, lr_now)
        total, count = None, 0
        for x, y, index in batches():
            loss = loss_fn(x, y, index)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{name} stage: loss became {loss.item()} at epoch {epoch + 1}")
            backward_step(optimizer, loss)
            step = loss.detach() * len(x)
            total = step if total is None else total + step
            count += len(x)
        records.append({"method": name, "stage_epoch": epoch + 1, "lr": lr_now,
                        "loss": float(total) / count if count else float("nan")})
    return records
