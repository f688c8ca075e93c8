"""Conditional density ratio r(x|y) = p_real(x|y) / p_fake(x|y) in a feature space.

Model (the reference's "MLP5"): [label embedding, feature] -> per hidden width
Linear, GroupNorm(8), ReLU, Dropout -> Linear -> ReLU, so r >= 0. Classes get a learned
embedding; a continuous label (normalised to [0, 1]) goes through a given embedding, e.g.
CcGAN's y2h net, or a small learned MLP when none is given.

Loss (cSP): the Bregman divergence of the Softplus function between the true and the
modelled ratio, written with expectations over real and fake features of the same label:
    L = E_fake[sigmoid(r) r - softplus(r)] - E_real[sigmoid(r)] + lambda (E_fake[r] - 1)^2.
Its derivative in r(x) is sigmoid'(r) (q(x) r - p(x)), so the minimiser is r = p / q; the
penalty (lambda 0.01) pins the mean ratio over fakes to one and keeps r from collapsing.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..common.errors import UserError
from ..common.optim import backward_step, set_lr, step_lr

TASK_KINDS = ("classification", "regression")
DEFAULT_WIDTHS = {"classification": (2048, 1024, 512, 256, 128), "regression": (1024, 512, 256, 128, 64)}
LabelEmbed = Callable[[torch.Tensor], torch.Tensor]


def check_task_kind(task_kind: str) -> str:
    if task_kind not in TASK_KINDS:
        raise UserError(f"unknown task kind {task_kind!r}; expected one of: {', '.join(TASK_KINDS)}")
    return task_kind


def csp_loss(r_real: torch.Tensor, r_fake: torch.Tensor, lam: float = 0.01) -> torch.Tensor:
    """The cSP density-ratio loss on ratios of real and fake samples that share labels."""
    divergence = (torch.sigmoid(r_fake) * r_fake).mean() - F.softplus(r_fake).mean() - torch.sigmoid(r_real).mean()
    return divergence + lam * (r_fake.mean() - 1.0) ** 2


def _groups(width: int) -> int:
    return 8 if width % 8 == 0 else 1


class DensityRatioModel(nn.Module):
    """r(x | y) >= 0 for feature vectors x (B, D) and labels y (B,): class ids or normalised values."""

    def __init__(self, feat_dim: int, task_kind: str, *, num_classes: int | None = None,
                 widths: Sequence[int] | None = None, dropout: float = 0.5, embed_dim: int | None = None,
                 label_embed: LabelEmbed | None = None):
        super().__init__()
        check_task_kind(task_kind)
        if task_kind == "classification" and (num_classes is None or num_classes < 1):
            raise UserError(f"a classification density-ratio model needs num_classes >= 1, got {num_classes!r}")
        widths = tuple(DEFAULT_WIDTHS[task_kind] if widths is None else widths)
        if not widths or min(widths) < 1:
            raise UserError(f"density-ratio widths must be positive, got {list(widths)}")
        if task_kind == "classification" and label_embed is not None:
            raise UserError("a given label embedding is for regression; classes get a learned embedding")
        if isinstance(label_embed, nn.Module):
            label_embed.eval()                                              # frozen, as the reference's y2h
        self.task_kind, self.num_classes = task_kind, num_classes
        self._external = [label_embed] if label_embed is not None else []   # kept out of params and state
        if task_kind == "classification":
            embed_dim = embed_dim or num_classes
            self.embed = nn.Embedding(num_classes, embed_dim)
        elif label_embed is not None:
            with torch.no_grad():
                embed_dim = label_embed(torch.zeros(2, 1, device=_module_device(label_embed))).shape[-1]
            self.embed = None
        else:
            embed_dim = embed_dim or 128
            self.embed = nn.Sequential(nn.Linear(1, embed_dim), nn.GroupNorm(_groups(embed_dim), embed_dim),
                                       nn.ReLU(), nn.Linear(embed_dim, embed_dim), nn.ReLU())
        self.config = {"feat_dim": int(feat_dim), "task_kind": task_kind, "num_classes": num_classes,
                       "widths": list(widths), "dropout": float(dropout), "embed_dim": int(embed_dim),
                       "external_label_embed": label_embed is not None}
        layers: list[nn.Module] = []
        cin = feat_dim + embed_dim
        for w in widths:
            layers += [nn.Linear(cin, w), nn.GroupNorm(_groups(w), w), nn.ReLU(), nn.Dropout(dropout)]
            cin = w
        self.mlp = nn.Sequential(*layers, nn.Linear(cin, 1), nn.ReLU())

    def embed_labels(self, labels: torch.Tensor) -> torch.Tensor:
        if self.task_kind == "classification":
            return self.embed(labels.long())
        y = labels.float().view(-1, 1)
        if self._external:
            embed = self._external[0]
            with torch.no_grad():
                return embed(y.to(_module_device(embed))).float().to(y.device)
        return self.embed(y)

    def forward(self, feats: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.mlp(torch.cat([self.embed_labels(labels), feats.float()], dim=1)).view(-1)

    @torch.inference_mode()
    def ratio(self, feats: torch.Tensor, labels: torch.Tensor, batch_size: int = 8192) -> torch.Tensor:
        """Density ratios (N,) in eval mode, on the device of `feats`."""
        check_features(feats, labels, "density ratio input")
        self.eval()
        device = next(self.parameters()).device
        out = [self(feats[i:i + batch_size].to(device), labels[i:i + batch_size].to(device))
               for i in range(0, len(feats), batch_size)]
        return torch.cat(out).to(feats.device) if out else feats.new_empty(0)

    def state(self) -> dict[str, Any]:
        return {"config": dict(self.config),
                "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()}}

    @classmethod
    def from_state(cls, state: dict, label_embed: LabelEmbed | None = None,
                   device: str | torch.device = "cpu") -> "DensityRatioModel":
        cfg = state["config"]
        if cfg["external_label_embed"] and label_embed is None:
            raise UserError("this density-ratio model was fitted with an external label embedding "
                            "(e.g. the CcGAN's y2h net); pass the same embedding when loading it")
        model = cls(cfg["feat_dim"], cfg["task_kind"], num_classes=cfg["num_classes"], widths=cfg["widths"],
                    dropout=cfg["dropout"], embed_dim=cfg["embed_dim"],
                    label_embed=label_embed if cfg["external_label_embed"] else None)
        model.load_state_dict(state["state_dict"])
        return model.to(device).eval()


def _module_device(fn: Callable) -> torch.device:
    params = list(fn.parameters()) if isinstance(fn, nn.Module) else []
    return params[0].device if params else torch.device("cpu")


# ---------------------------------------------------------------- checks and pairing

def check_features(feats: torch.Tensor, labels: torch.Tensor, what: str) -> None:
    if feats.dim() != 2:
        raise UserError(f"{what}: features must be N x D, got shape {tuple(feats.shape)}")
    if labels.dim() != 1 or len(labels) != len(feats):
        raise UserError(f"{what}: {len(feats)} feature vectors but labels of shape {tuple(labels.shape)}")


def _check_labels(labels: torch.Tensor, task_kind: str, num_classes: int | None, what: str) -> torch.Tensor:
    if task_kind == "classification":
        if labels.is_floating_point() and not torch.equal(labels, labels.round()):
            raise UserError(f"{what}: classification labels must be integer class ids")
        labels = labels.long()
        if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
            raise UserError(f"{what}: class ids must lie in [0, {num_classes}), got "
                            f"[{labels.min().item()}, {labels.max().item()}]")
        return labels
    labels = labels.float()
    if not torch.isfinite(labels).all():
        raise UserError(f"{what}: regression labels contain NaN or inf")
    return labels


class LabelPool:
    """Indices of a sample pool grouped by label value, to draw partners for given labels:
    the same class (classification) or the nearest pool label value (regression)."""

    def __init__(self, labels: torch.Tensor):
        self.values, inverse, self.counts = torch.unique(labels, sorted=True, return_inverse=True,
                                                         return_counts=True)
        self.order = torch.argsort(inverse, stable=True)
        self.offsets = torch.cumsum(self.counts, 0) - self.counts

    def group_of(self, labels: torch.Tensor, exact: bool) -> torch.Tensor:
        labels = labels.to(self.values.dtype)
        pos = torch.searchsorted(self.values, labels).clamp_(max=len(self.values) - 1)
        if exact:
            missing = self.values[pos] != labels
            if missing.any():
                raise UserError(f"the fake pool has no sample of class {labels[missing][0].item()}")
            return pos
        below = (pos - 1).clamp_(min=0)
        closer_below = (labels - self.values[below]).abs() < (self.values[pos] - labels).abs()
        return torch.where(closer_below, below, pos)

    def draw(self, groups: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        u = torch.rand(len(groups), generator=generator, device=groups.device)
        counts = self.counts[groups]
        k = torch.minimum((u * counts).long(), counts - 1)
        return self.order[self.offsets[groups] + k]


# ---------------------------------------------------------------- fakes for the fit

# (labels of a batch of real features, generator) -> features of fakes at those labels.
FakeFeatures = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


class FakePool:
    """Fakes drawn from one fixed pool (a `FakeFeatures`): for each real label, a random fake of the
    same class (classification) or of the nearest pool label value (regression)."""

    def __init__(self, fake_feats: torch.Tensor, fake_labels: torch.Tensor, task_kind: str,
                 num_classes: int | None = None):
        fake_feats, fake_labels = torch.as_tensor(fake_feats), torch.as_tensor(fake_labels)
        check_features(fake_feats, fake_labels, "fake pool")
        if len(fake_feats) == 0:
            raise UserError("density ratio needs fake samples, got an empty fake pool")
        if not torch.isfinite(fake_feats).all():
            raise UserError("fake features contain NaN or inf")
        self.feats = fake_feats.float()
        self.labels = _check_labels(fake_labels, task_kind, num_classes, "fake labels")
        self.exact = task_kind == "classification"
        self.pool = LabelPool(self.labels)

    def __call__(self, labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if self.feats.device != labels.device:      # follow the training device, once
            self.feats, self.labels = self.feats.to(labels.device), self.labels.to(labels.device)
            self.pool = LabelPool(self.labels)
        return self.feats[self.pool.draw(self.pool.group_of(labels, self.exact), gen)]


# ---------------------------------------------------------------- training

def train_density_ratio(real_feats: torch.Tensor, real_labels: torch.Tensor, fakes: FakeFeatures, task_kind: str,
                        epochs: int = 200, batch_size: int = 256, lr: float = 1e-4,
                        device: str | torch.device = "cpu", seed: int = 0, num_classes: int | None = None, *,
                        widths: Sequence[int] | None = None, dropout: float = 0.5, embed_dim: int | None = None,
                        label_embed: LabelEmbed | None = None, lam: float = 0.01, weight_decay: float = 1e-4,
                        betas: tuple[float, float] = (0.5, 0.999), milestones: Sequence[int] | None = None,
                        gamma: float = 0.1, progress: bool = False) -> DensityRatioModel:
    """Fit r(x|y) with the cSP loss. Each step takes a batch of real features and, at the same
    labels, a batch of fakes from `fakes` (fresh GAN samples, as the reference does, or a fixed
    pool via `pool_fakes`); both are scored at the real labels. An epoch is len(real) // batch_size
    steps. Adam with step decay at `milestones` (default 40% and 75% of the epochs: 80 and 150 of
    200, as the reference)."""
    check_task_kind(task_kind)
    real_feats, real_labels = torch.as_tensor(real_feats), torch.as_tensor(real_labels)
    check_features(real_feats, real_labels, "real set")
    if len(real_feats) == 0:
        raise UserError("density ratio needs real samples, got none")
    if not torch.isfinite(real_feats).all():
        raise UserError("real features contain NaN or inf")
    if task_kind == "classification" and num_classes is None:
        raise UserError("a classification density-ratio model needs num_classes")
    real_labels = _check_labels(real_labels, task_kind, num_classes, "real labels")

    device = torch.device(device)
    real_feats, real_labels = real_feats.to(device).float(), real_labels.to(device)
    milestones = [round(0.4 * epochs), round(0.75 * epochs)] if milestones is None else list(milestones)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        model = DensityRatioModel(real_feats.shape[1], task_kind, num_classes=num_classes, widths=widths,
                                  dropout=dropout, embed_dim=embed_dim, label_embed=label_embed).to(device)
        gen = torch.Generator(device=device).manual_seed(seed)
        opt = torch.optim.Adam(model.parameters(), lr=lr, betas=betas, weight_decay=weight_decay)
        bs = min(batch_size, len(real_feats))
        steps = max(1, len(real_feats) // bs)
        model.train_log = []
        bar = tqdm(range(epochs), desc="cDR-RS density ratio", disable=not progress, dynamic_ncols=True)
        for epoch in bar:
            set_lr(opt, step_lr(lr, epoch, milestones, gamma))
            model.train()
            order = torch.randperm(len(real_feats), generator=gen, device=device)
            total = torch.zeros((), device=device)
            for step in range(steps):
                idx = order[step * bs:(step + 1) * bs]
                y = real_labels[idx]
                fake = _fake_batch(fakes, y, gen, real_feats.shape[1])
                loss = csp_loss(model(real_feats[idx], y), model(fake.to(device).float(), y), lam)
                backward_step(opt, loss)
                total += loss.detach()
            mean_loss = total.item() / steps
            if not math.isfinite(mean_loss):
                raise UserError(f"density-ratio training diverged at epoch {epoch + 1} (loss {mean_loss}); "
                                "lower the learning rate")
            model.train_log.append({"epoch": epoch + 1, "loss": mean_loss})
            bar.set_postfix(loss=f"{mean_loss:.4f}", steps=(epoch + 1) * steps)
    return model.eval()


def _fake_batch(fakes: FakeFeatures, labels: torch.Tensor, gen: torch.Generator, dim: int) -> torch.Tensor:
    fake = fakes(labels, gen)
    if fake.dim() != 2 or len(fake) != len(labels):
        raise UserError(f"the fake source returned features of shape {tuple(fake.shape)} for {len(labels)} labels")
    if fake.shape[1] != dim:
        raise UserError(f"real features have {dim} dims but fake features {fake.shape[1]}")
    return fake
