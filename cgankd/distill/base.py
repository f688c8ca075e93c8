"""The Distiller base and the name → class registry.

A Distiller holds the student, the frozen teacher (eval mode, no gradients) and any
modules of its own (connectors, embeddings, memory banks). `forward_train` returns the
student's outputs and a dict of named, already-weighted losses; the trainer optimises
their sum over `trainable_parameters()` and checkpoints `state_dict()` (the teacher is
left out: it is loaded from its own checkpoint).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

import torch
from torch import nn

from ..common.errors import UserError
from ..tasks import Task

_REGISTRY: dict[str, type["Distiller"]] = {}

# A callable that yields one epoch of (x, y, index) batches on the training device.
BatchSource = Callable[[], Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]]


def register_distiller(name: str):
    def add(cls: type[Distiller]) -> type[Distiller]:
        if name in _REGISTRY:
            raise ValueError(f"distiller {name!r} registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls
    return add


def distiller_names() -> list[str]:
    return sorted(n for n in _REGISTRY if n != "none")


class Distiller(nn.Module):
    """Plain training (NOKD): the task loss only. KD methods subclass and add their terms."""

    name = "none"
    needs_teacher = False
    classification_only = False

    def __init__(self, student: nn.Module, teacher: nn.Module | None, task: Task, cfg: dict[str, Any] | None = None):
        super().__init__()
        if self.needs_teacher and teacher is None:
            raise UserError(f"--distill {self.name} needs a --teacher checkpoint")
        if self.classification_only and task.is_regression:
            raise UserError(f"--distill {self.name} is defined for classification only, not regression")
        self.student = student
        self.task = task
        self.cfg = dict(cfg or {})
        # Kept out of the module tree so that it is neither optimised nor checkpointed.
        self._teacher = [teacher] if teacher is not None else []
        if teacher is not None:
            teacher.eval().requires_grad_(False)

    @property
    def teacher(self) -> nn.Module | None:
        return self._teacher[0] if self._teacher else None

    def train(self, mode: bool = True) -> "Distiller":
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def to(self, *args, **kwargs) -> "Distiller":
        if self.teacher is not None:
            self.teacher.to(*args, **kwargs)
        return super().to(*args, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.student(x)

    def task_loss_name(self) -> str:
        return "mse" if self.task.is_regression else "ce"

    def forward_train(self, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out = self.student(x)
        return out, {self.task_loss_name(): self.task.loss(out, y)}

    def trainable_parameters(self) -> Iterable[nn.Parameter]:
        return (p for p in self.parameters() if p.requires_grad)

    def prepare(self, batches: BatchSource, device: torch.device) -> list[dict[str, float]]:
        """A method's own stage before student training (FitNet hints, AB, FT, FSP, SSKD's
        teacher SS head). Returns log records; the default does nothing."""
        return []


register_distiller("none")(Distiller)


def build_distiller(name: str | None, student: nn.Module, teacher: nn.Module | None, task: Task,
                    cfg: dict[str, Any] | None = None) -> Distiller:
    _load_methods()
    key = name or "none"
    if key not in _REGISTRY:
        raise UserError(f"unknown distillation method {name!r}; known: {', '.join(distiller_names())}")
    if key == "none" and teacher is not None:
        raise UserError("--teacher was given without --distill METHOD")
    return _REGISTRY[key](student, teacher, task, cfg)


def _load_methods() -> None:
    """Import the method modules so that their @register_distiller lines run."""
    import importlib
    import pkgutil
    from pathlib import Path
    package = __name__.rsplit(".", 1)[0]
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name not in ("base", "__init__") and not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")
