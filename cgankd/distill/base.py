"""The Distiller base and the name → class registry.

A Distiller holds the student, the frozen teacher (eval mode, no gradients) and any
modules of its own (connectors, embeddings, memory banks). `forward_train` returns the
student's outputs and a dict of named, already-weighted losses; the trainer optimises
their sum over `trainable_parameters()` and checkpoints `state_dict()` (the teacher is
left out: it is loaded from its own checkpoint).

loss = r * task loss + a * KD + b * method term, weights from `_settings.TABLE`. KD is
the temperature KL on logits, or for regression the MSE between student and teacher
outputs (BLKD-style). A method fills in `method_loss` (features of both nets → a scalar);
methods that train something before the student (AB, FT, FSP, FitNet stage 1, SSKD's
teacher head) override `stage`, which `prepare` runs once (remembered in the state dict).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, Sequence

import torch
from torch import nn

from ..common.errors import UserError
from ..tasks import Task
from ._common import probe_features, soft_kl
from ._logit import prepared
from ._settings import method_settings

_REGISTRY: dict[str, type["Distiller"]] = {}

# A callable that yields one epoch of (x, y, index) batches on the training device.
BatchSource = Callable[[], Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]]


def register_distiller(name: str, display: str):
    """Register a method under its command-line name; `display` is how tables name it (BLKD, ...)."""
    def add(cls: type[Distiller]) -> type[Distiller]:
        if name in _REGISTRY:
            raise ValueError(f"distiller {name!r} registered twice")
        cls.name, cls.display_name = name, display
        _REGISTRY[name] = cls
        return cls
    return add


def distiller_names() -> list[str]:
    """The KD methods' command-line names (RepDistiller's, plus the later methods)."""
    _load_methods()
    return sorted(n for n in _REGISTRY if n != "none")


def display_name(name: str) -> str:
    """How tables name method `name` (e.g. kd -> BLKD)."""
    _load_methods()
    if name not in _REGISTRY:
        raise UserError(f"unknown distillation method {name!r}; known: {', '.join(distiller_names())}")
    return _REGISTRY[name].display_name


class Distiller(nn.Module):
    """Plain training (NOKD): the task loss only. KD methods subclass and add their terms."""

    name = "none"
    display_name = "none"
    needs_teacher = False
    classification_only = False
    uses_features = False   # method_loss reads the feature lists of both nets
    loss_name = "extra"     # key of the method term in the loss dict
    has_stage = False       # `stage` trains something before the student

    def __init__(self, student: nn.Module, teacher: nn.Module | None, task: Task, cfg: dict[str, Any] | None = None):
        super().__init__()
        if self.needs_teacher and teacher is None:
            raise UserError(f"--distill {self.name} needs a --teacher checkpoint")
        if self.classification_only and task.is_regression:
            raise UserError(f"--distill {self.name} is defined for classification only, not regression")
        self.student = student
        self.task = task
        self.cfg = dict(cfg or {})
        self.opts = method_settings(self.name, self.cfg)
        if self.opts.get("logit_std") and task.is_regression:
            raise UserError(f"--distill {self.name}: logit_std standardises class logits; it does not apply to regression")
        own_terms = type(self).method_loss is not Distiller.method_loss or \
            type(self).forward_train is not Distiller.forward_train
        if self.opts["b"] and not own_terms:
            raise UserError(f"--distill {self.name} has no main-stage term; its weight b does not apply")
        self.epoch = 0.0  # set by the trainer before each step (fractional within an epoch)
        # Training rows from n_real on are fakes; their task loss is scaled by fake_weight.
        self.n_real = self.cfg.get("n_real")
        self.fake_weight = float(self.cfg.get("fake_weight", 1.0))
        # Kept out of the module tree so that it is neither optimised nor checkpointed.
        self._teacher = [teacher] if teacher is not None else []
        if teacher is not None:
            teacher.eval().requires_grad_(False)
        if self.has_stage:
            self.register_buffer("stage_done", torch.zeros((), dtype=torch.bool))

    @property
    def teacher(self) -> nn.Module | None:
        return self._teacher[0] if self._teacher else None

    # ---- the module tree ------------------------------------------------------------------
    def frozen_modules(self) -> list[nn.Module]:
        """Modules trained only in the stage: kept in eval mode and out of the optimiser after it."""
        return []

    def train(self, mode: bool = True) -> "Distiller":
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        for module in self.frozen_modules():
            module.eval()
        return self

    def to(self, *args, **kwargs) -> "Distiller":
        if self.teacher is not None:
            self.teacher.to(*args, **kwargs)
        return super().to(*args, **kwargs)

    def trainable_parameters(self) -> Iterable[nn.Parameter]:
        frozen = {id(p) for m in self.frozen_modules() for p in m.parameters()}
        return [p for p in self.parameters() if p.requires_grad and id(p) not in frozen]

    # ---- helpers for methods -----------------------------------------------------------------
    def probe(self, model: nn.Module, preact: bool = False) -> list[tuple[int, ...]]:
        """Feature shapes of `model` on a dummy batch (needs cfg["img_shape"])."""
        if "img_shape" not in self.cfg:
            raise ValueError(f"distiller {self.name!r} needs cfg['img_shape'] (C, H, W) to size its modules")
        return probe_features(model, self.cfg["img_shape"], preact)[0]

    def teacher_forward(self, x: torch.Tensor, features: bool, preact: bool = False):
        """(feats, out) or (None, out) from the teacher, without gradients."""
        with torch.no_grad():
            if features:
                feats, out = self.teacher(x, is_feat=True, preact=preact)
                return [f.detach() for f in feats], out.detach()
            return None, self.teacher(x).detach()

    def kd_loss(self, s_out: torch.Tensor, t_out: torch.Tensor) -> torch.Tensor:
        if self.task.is_regression:
            return nn.functional.mse_loss(s_out.float().view(-1), t_out.float().view(-1))
        # Logit standardisation (an option of the logit-based methods) z-scores both nets' logits first.
        return soft_kl(*prepared(s_out, t_out, bool(self.opts.get("logit_std"))), self.opts["T"])

    def sample_weight(self, index: torch.Tensor | None) -> torch.Tensor | None:
        """Per-sample task-loss weights: 1 for real rows, fake_weight for fakes (None: all 1)."""
        if self.fake_weight == 1.0 or index is None or self.n_real is None:
            return None
        return torch.where(index >= self.n_real, self.fake_weight, 1.0)

    def task_loss_name(self) -> str:
        return "mse" if self.task.is_regression else "ce"

    # ---- training ------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.student(x)

    def forward_train(self, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        r, a, b = self.opts["r"], self.opts["a"], self.opts["b"]
        features = self.uses_features and b != 0
        if features:
            s_feats, s_out = self.student(x, is_feat=True)
        else:
            s_out = self.student(x)
        losses = {self.task_loss_name(): r * self.task.loss(s_out, y, self.sample_weight(index))}
        if self.teacher is None or not (a or b):
            return s_out, losses
        t_feats, t_out = self.teacher_forward(x, features)
        if a:
            losses["kd"] = a * self.kd_loss(s_out, t_out)
        if b:
            with torch.autocast(x.device.type, enabled=False):
                term = self.method_loss([f.float() for f in s_feats], [f.float() for f in t_feats], y, index)
            losses[self.loss_name] = b * term
        return s_out, losses

    def method_loss(self, s_feats: Sequence[torch.Tensor], t_feats: Sequence[torch.Tensor],
                    y: torch.Tensor, index: torch.Tensor | None) -> torch.Tensor:
        """The method's own term on the feature lists (float32, no autocast)."""
        raise NotImplementedError

    def prepare(self, batches: BatchSource, device: torch.device) -> list[dict[str, float]]:
        """A method's own stage before student training (FitNet hints, AB, FT, FSP, SSKD's
        teacher SS head), run once: after it (or after loading a state dict saved after it)
        this does nothing. Returns log records."""
        if not self.has_stage or bool(self.stage_done):
            return []
        records = self.stage(batches, device)
        self.stage_done.fill_(True)
        self.train()
        return records

    def stage(self, batches: BatchSource, device: torch.device) -> list[dict[str, float]]:
        return []

    def stage_settings(self) -> dict[str, Any]:
        """Keyword arguments of `run_stage` from the method's settings."""
        return {"epochs": self.opts["init_epochs"], "lr": self.opts["init_lr"],
                "weight_decay": self.opts["init_weight_decay"], "quiet": bool(self.cfg.get("quiet", False))}


register_distiller("none", "none")(Distiller)


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
