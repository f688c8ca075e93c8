"""The teacher as a judge of fakes: how hard each one is, and what label it would give it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..common.errors import UserError
from ..data import PixelNorm
from ..models.checkpoint import load_model
from ..tasks import Task


@dataclass
class TeacherJudge:
    model: torch.nn.Module
    task: Task
    pixel_norm: PixelNorm
    device: torch.device
    batch_size: int = 512

    @classmethod
    def from_checkpoint(cls, path: str, device: torch.device) -> "TeacherJudge":
        model, info = load_model(path, device=device)
        if info.get("task") is None or not info.get("pixel_norm"):
            raise UserError(f"{path}: a teacher must be a checkpoint written by `cgankd train` (task, pixel norm)")
        return cls(model.eval(), info["task"], PixelNorm.from_dict(info["pixel_norm"]), device)

    @torch.inference_mode()
    def outputs(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Logits (N, K), or predictions (N,) normalised and clipped to [0, 1] as the reference does."""
        images = torch.as_tensor(images)
        parts = [self.model(self.pixel_norm.normalize(images[i:i + self.batch_size].to(self.device))).float().cpu()
                 for i in range(0, len(images), self.batch_size)]
        out = torch.cat(parts)
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
