"""The teacher as a judge of fakes: how hard each one is, and what label it would give it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..models.trained import TrainedNet
from ..tasks import Task


@dataclass
class TeacherJudge:
    net: TrainedNet
    batch_size: int = 512

    @property
    def task(self) -> Task:
        return self.net.task

    def outputs(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Logits (N, K), or predictions (N,) normalised and clipped to [0, 1] as the reference does."""
        out = self.net.outputs(images, self.batch_size).cpu()
        return out.view(-1).clamp(0.0, 1.0) if self.task.is_regression else out

    def judge(self, images, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(hardness, teacher label) per fake, labels in raw units (class ids or e.g. degrees).
        Classification: cross-entropy against the assigned class, and the teacher's argmax.
        Regression: |teacher prediction - assigned label| and the teacher's prediction."""
        out = self.outputs(images)
        labels = torch.as_tensor(labels)
        if self.task.is_regression:
            prediction = self.task.label_norm.denormalize(out)
            return (prediction - labels.float()).abs(), prediction
        return F.cross_entropy(out, labels.long(), reduction="none"), out.argmax(dim=1)
