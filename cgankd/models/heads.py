"""The one place that decides what sits on top of the pooled feature vector.

Classification: a single Linear(D, K) giving logits (RepDistiller's CIFAR heads).
Regression: the MLP of the reference's SteeringAngle/UTKFace nets,
Linear(D,512)-BN-ReLU-Linear(512,512)-BN-ReLU-Linear(512,1)-ReLU, giving (B, 1) >= 0
(labels are normalised to [0, 1]). Layer indices match the reference, so its
`fc.0.weight ... fc.6.bias` keys line up.
"""

from __future__ import annotations

from torch import nn

TASKS = ("classification", "regression")
REGRESSION_HIDDEN = 512


def regression_head(feat_dim: int) -> nn.Sequential:
    h = REGRESSION_HIDDEN
    return nn.Sequential(
        nn.Linear(feat_dim, h), nn.BatchNorm1d(h), nn.ReLU(),
        nn.Linear(h, h), nn.BatchNorm1d(h), nn.ReLU(),
        nn.Linear(h, 1), nn.ReLU(),
    )


def make_head(feat_dim: int, num_classes: int | None, task: str) -> nn.Module:
    if task == "regression":
        return regression_head(feat_dim)
    if task == "classification":
        return nn.Linear(feat_dim, num_classes)
    raise ValueError(f"task must be one of {TASKS}, got {task!r}")
