"""Regression label normalisation, done in exactly one place.

Training sees labels in [0, 1]; every reported error is de-normalised to raw units
(degrees, years) with `LabelNorm.denormalize`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class LabelNorm:
    """y_norm = (y - low) / (high - low). SteeringAngle: train min/max; UTKFace: low 0, high 60."""

    low: float
    high: float

    def __post_init__(self):
        if not self.high > self.low:
            raise ValueError(f"label range must have high > low, got [{self.low}, {self.high}]")

    @property
    def span(self) -> float:
        return self.high - self.low

    def normalize(self, y):
        return (y - self.low) / self.span

    def denormalize(self, y):
        return y * self.span + self.low

    @classmethod
    def from_labels(cls, labels: np.ndarray | torch.Tensor) -> "LabelNorm":
        return cls(float(labels.min()), float(labels.max()))

    @classmethod
    def from_spec(cls, spec: str | dict, train_labels: np.ndarray | torch.Tensor) -> "LabelNorm":
        """A preset's "label_norm": "minmax" (over the training labels) or {"low", "high"}."""
        return cls.from_labels(train_labels) if spec == "minmax" else cls.from_dict(spec)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LabelNorm":
        return cls(float(d["low"]), float(d["high"]))
