"""CRD (Tian et al. 2020): contrastive representation distillation with memory banks.

Student and teacher pooled features are embedded (linear, L2-normalised, feat_dim 128). Two
momentum-updated banks over the whole training set (n_data rows, real + fake) hold past
embeddings: the teacher's embedding is contrasted against the student bank and vice versa,
with the item itself as positive and nce_k negatives (temperature nce_t, NCE with a uniform
noise distribution and normalisation constants fixed on the first batch).

Negatives ("exact" mode): uniform over the items of other classes when cfg["train_labels"]
(the class of every training item, in index order) is given for a classification task;
otherwise uniform over all other items (regression).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._common import Embed
from .base import Distiller, register_distiller

EPS = 1e-7


def nce_loss(scores: torch.Tensor, n_data: int) -> torch.Tensor:
    """scores (B, 1 + K): column 0 the positive. -[log h(pos) + sum log(1 - h(neg))] per item."""
    k = scores.shape[1] - 1
    noise = k / n_data
    log_pos = torch.log(scores[:, 0] / (scores[:, 0] + noise + EPS))
    log_neg = torch.log(noise / (scores[:, 1:] + noise + EPS))
    return -(log_pos.sum() + log_neg.sum()) / scores.shape[0]


class NegativeSampler(nn.Module):
    """Draws negatives uniformly from the items of other classes (or from all other items)."""

    def __init__(self, n_data: int, labels: torch.Tensor | None):
        super().__init__()
        self.n_data = n_data
        if labels is None:
            self.order = None
            return
        labels = torch.as_tensor(labels).long().view(-1)
        counts = torch.bincount(labels)
        self.register_buffer("order", torch.argsort(labels, stable=True), persistent=False)
        self.register_buffer("start", torch.cumsum(counts, 0) - counts, persistent=False)
        self.register_buffer("count", counts, persistent=False)

    def forward(self, index: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
        shape = (len(index), k)
        if self.order is None:  # any item but the anchor
            u = torch.randint(0, self.n_data - 1, shape, device=index.device)
            return u + (u >= index[:, None]).long()
        start, count = self.start[y][:, None], self.count[y][:, None]
        u = (torch.rand(shape, device=index.device) * (self.n_data - count)).long()
        u = torch.minimum(u, self.n_data - count - 1)
        return self.order[u + (u >= start).long() * count]


@register_distiller("crd", "CRD")
class CRD(Distiller):
    needs_teacher = True
    uses_features = True
    loss_name = "crd"

    def __init__(self, student, teacher, task, cfg=None):
        super().__init__(student, teacher, task, cfg)
        if "n_data" not in self.cfg:
            raise ValueError("distiller 'crd' needs cfg['n_data'] (size of the training set)")
        self.n_data, dim = int(self.cfg["n_data"]), self.opts["feat_dim"]
        self.nce_k = min(self.opts["nce_k"], self.n_data - 1)
        labels = None if task.is_regression else self.cfg.get("train_labels")
        self.sampler = NegativeSampler(self.n_data, labels)
        self.embed_s = Embed(self.probe(student)[-1][1], dim)
        self.embed_t = Embed(self.probe(teacher)[-1][1], dim)
        bound = 1.0 / math.sqrt(dim / 3)
        self.register_buffer("memory_s", torch.rand(self.n_data, dim) * 2 * bound - bound)
        self.register_buffer("memory_t", torch.rand(self.n_data, dim) * 2 * bound - bound)
        self.register_buffer("z", torch.full((2,), -1.0))  # normalisation constants (student, teacher anchor)

    def method_loss(self, s_feats, t_feats, y, index):
        if index is None:
            raise ValueError("crd needs the dataset index of every item in the batch")
        v_s, v_t = self.embed_s(s_feats[-1]), self.embed_t(t_feats[-1])
        idx = torch.cat([index[:, None], self.sampler(index, y, self.nce_k)], dim=1)
        t_temp = self.opts["nce_t"]
        # Each anchor scored against the other side's bank: positive + negatives.
        out_s = torch.exp(torch.bmm(self.memory_t[idx].detach(), v_s[:, :, None]).squeeze(2) / t_temp)
        out_t = torch.exp(torch.bmm(self.memory_s[idx].detach(), v_t[:, :, None]).squeeze(2) / t_temp)
        with torch.no_grad():
            if self.z[0] < 0:
                self.z.copy_(torch.stack([out_s.mean(), out_t.mean()]) * self.n_data)
        loss = nce_loss(out_s / self.z[0], self.n_data) + nce_loss(out_t / self.z[1], self.n_data)
        self._update_memory(index, v_s.detach(), v_t.detach())
        return loss

    @torch.no_grad()
    def _update_memory(self, index: torch.Tensor, v_s: torch.Tensor, v_t: torch.Tensor) -> None:
        m = self.opts["nce_m"]
        for bank, v in ((self.memory_s, v_s), (self.memory_t, v_t)):
            mixed = bank[index] * m + v * (1 - m)
            bank.index_copy_(0, index, mixed / mixed.norm(dim=1, keepdim=True))
