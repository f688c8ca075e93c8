"""Classification vs regression: the loss, the prediction and the reported metric.

Classification: cross-entropy on logits (B, K); metric top-1 accuracy in %.
Regression: MSE on normalised labels with outputs of shape (B, 1); metric MAE in raw
units via the task's LabelNorm. Plain data + tensor maths, so every layer may use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from .data.labels import LabelNorm

TaskKind = Literal["classification", "regression"]


@dataclass(frozen=True)
class Task:
    kind: TaskKind
    num_classes: int | None = None        # classification
    label_norm: LabelNorm | None = None    # regression

    def __post_init__(self):
        if self.kind == "classification" and not self.num_classes:
            raise ValueError("a classification task needs num_classes")
        if self.kind == "regression" and self.label_norm is None:
            raise ValueError("a regression task needs a label_norm")

    @property
    def is_regression(self) -> bool:
        return self.kind == "regression"

    @property
    def out_dim(self) -> int:
        return 1 if self.is_regression else self.num_classes

    @property
    def metric_name(self) -> str:
        return "mae" if self.is_regression else "acc"

    @property
    def higher_is_better(self) -> bool:
        return not self.is_regression

    def loss(self, out: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """Mean loss; `y` is a class index (long) or a normalised label (float). With `weight`
        (B,), the mean of the per-sample losses times their weights."""
        reduction = "mean" if weight is None else "none"
        if self.is_regression:
            losses = F.mse_loss(out.float().view(-1), y.float().view(-1), reduction=reduction)
        else:
            losses = F.cross_entropy(out.float(), y, reduction=reduction)
        return losses if weight is None else (losses * weight).mean()

    def predict(self, out: torch.Tensor) -> torch.Tensor:
        """Class ids, or normalised predictions (B,)."""
        return out.float().view(-1) if self.is_regression else out.argmax(dim=1)

    def metric_sum(self, out: torch.Tensor, y: torch.Tensor) -> float:
        """Sum over the batch of the per-sample metric (correct count, or abs error in raw units)."""
        return self.metric_sum_tensor(out, y).item()

    def metric_sum_tensor(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """`metric_sum` as a float64 scalar on the outputs' device, for loops that read it back
        only now and then (no host sync per batch)."""
        pred = self.predict(out)
        if self.is_regression:
            err = self.label_norm.denormalize(pred) - self.label_norm.denormalize(y.float().view(-1))
            return err.abs().sum().double()
        return (pred == y).sum().double()

    def finish_metric(self, total: float, count: int) -> float:
        """Turn a summed metric into the reported one (% for accuracy)."""
        return 100.0 * total / count if not self.is_regression else total / count

    def to_dict(self) -> dict:
        return {"kind": self.kind, "num_classes": self.num_classes,
                "label_norm": self.label_norm.to_dict() if self.label_norm else None}

    @classmethod
    def from_dict(cls, d: dict) -> "Task":
        norm = LabelNorm.from_dict(d["label_norm"]) if d.get("label_norm") else None
        return cls(d["kind"], d.get("num_classes"), norm)
