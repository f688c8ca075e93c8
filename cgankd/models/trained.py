"""A net trained by `cgankd train`, loaded once and run in batches: the one way every stage uses a
trained teacher, feature net, eval net or init checkpoint.

A `cgankd train` checkpoint (`model.pt`) records the architecture, the task and the pixel
normalisation the net was trained with; `TrainedNet.load` checks that they are there and runs the
net on uint8 images exactly as it saw its training data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..common.devices import memory_format
from ..common.errors import UserError
from ..data.pipeline import PixelNorm
from ..tasks import Task
from .checkpoint import load_model
from .registry import build_model

MODEL_FILE = "model.pt"
TRAINER_CHECKPOINT = "last.pt"


def resolve_model_file(path: str | Path) -> Path:
    """A `cgankd train` run folder (its model.pt) or a model file. A trainer checkpoint (last.pt)
    holds the optimiser state, not a loadable model: point at the model.pt beside it instead."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    if path.name == TRAINER_CHECKPOINT:
        finished = path.with_name(MODEL_FILE)
        hint = (f"pass {finished} (the finished model)" if finished.is_file() else
                "that run has not finished: finish it with `cgankd train ... --resume`, then pass its model.pt")
        raise UserError(f"{path}: a trainer checkpoint (optimiser state for --resume), not a model file; {hint}")
    return path


@dataclass
class TrainedNet:
    """A trained network in eval mode, with the task and pixel normalisation it was trained with."""

    model: nn.Module
    task: Task
    pixel_norm: PixelNorm
    info: dict[str, Any]
    path: str
    device: torch.device

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu", role: str = "model") -> "TrainedNet":
        """Load a `cgankd train` model; `role` (teacher, --init, eval net, ...) names it in errors."""
        path = resolve_model_file(path)
        device = torch.device(device)
        model, info = load_model(path, device=device)
        if info.get("task") is None or not info.get("pixel_norm"):
            raise UserError(f"{path}: the {role} checkpoint records no task or pixel normalisation; "
                            "use a model.pt written by `cgankd train`")
        model = model.to(memory_format=memory_format(device)).eval()
        return cls(model, info["task"], PixelNorm.from_dict(info["pixel_norm"]), info, str(path), device)

    def state(self) -> dict[str, Any]:
        """Everything needed to rebuild this net (for files that embed it, e.g. a fitted cDR-RS)."""
        return {"arch": self.arch, "model_kwargs": dict(self.info["model_kwargs"]), "task": self.task.to_dict(),
                "pixel_norm": self.pixel_norm.to_dict(), "path": self.path,
                "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()}}

    @classmethod
    def from_state(cls, state: dict[str, Any], device: str | torch.device = "cpu") -> "TrainedNet":
        device = torch.device(device)
        model = build_model(state["arch"], **state["model_kwargs"])
        model.load_state_dict(state["model"])
        model = model.to(device, memory_format=memory_format(device)).eval()
        info = {"arch": state["arch"], "model_kwargs": state["model_kwargs"]}
        return cls(model, Task.from_dict(state["task"]), PixelNorm.from_dict(state["pixel_norm"]), info,
                   state["path"], device)

    @property
    def arch(self) -> str:
        return self.info["arch"]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of the images the net takes."""
        kwargs = self.info["model_kwargs"]
        return (int(kwargs["in_channels"]), int(kwargs["img_size"]), int(kwargs["img_size"]))

    def check_fits(self, image_shape: tuple[int, ...], task: str, num_classes: int | None, where: str) -> None:
        """The net takes images of `image_shape` and serves the same task (and class count)."""
        if tuple(image_shape) != self.image_shape:
            raise UserError(f"{self.path}: the net takes {'x'.join(map(str, self.image_shape))} images, "
                            f"{where} has {'x'.join(map(str, image_shape))}")
        if task != self.task.kind:
            raise UserError(f"{self.path}: a {self.task.kind} net, {where} is a {task} dataset")
        if task == "classification" and num_classes != self.task.num_classes:
            raise UserError(f"{self.path}: a {self.task.num_classes}-class net, {where} has {num_classes} classes")

    def _input(self, images: torch.Tensor) -> torch.Tensor:
        x = self.pixel_norm.normalize(images.to(self.device, non_blocking=True))
        return x.contiguous(memory_format=memory_format(self.device))

    @torch.inference_mode()
    def outputs(self, images: np.ndarray | torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """The head's outputs on the net's device, float32: logits (N, K) or normalised predictions (N, 1)."""
        return self.features_and_outputs(images, batch_size, features=False)[1]

    @torch.inference_mode()
    def features_and_outputs(self, images: np.ndarray | torch.Tensor, batch_size: int = 512, *,
                             features: bool = True) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(pooled penultimate features (N, D), outputs) on the net's device, float32; features
        None when not asked for."""
        images = torch.as_tensor(images)
        feats, outs = [], []
        for i in range(0, len(images), batch_size):
            x = self._input(images[i:i + batch_size])
            if features:
                f, out = self.model(x, is_feat=True)
                feats.append(f[-1].flatten(1).float())
            else:
                out = self.model(x)
            outs.append(out.float())
        empty = torch.empty(0, device=self.device)
        out = torch.cat(outs) if outs else empty.view(0, self.task.out_dim)
        if not features:
            return None, out
        return (torch.cat(feats) if feats else empty.view(0, int(self.model.feat_dim))), out
