"""Model names (RepDistiller's) -> constructors.

Each family module registers its nets with `@register("name")` or `register("name")(factory)`;
a factory takes the keyword arguments `num_classes, in_channels, img_size, task`.
"""

from __future__ import annotations

from numbers import Integral
from typing import Callable

from torch import nn

from ..common.errors import UserError
from .base import IMG_SIZES
from .heads import TASKS

Factory = Callable[..., nn.Module]
_REGISTRY: dict[str, Factory] = {}


def register(name: str) -> Callable[[Factory], Factory]:
    def add(factory: Factory) -> Factory:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = factory
        return factory
    return add


def model_names() -> list[str]:
    return sorted(_REGISTRY, key=str.lower)


def build_model(name: str, *, num_classes: int | None, in_channels: int = 3, img_size: int = 32,
                task: str = "classification") -> nn.Module:
    """Build a registered net; every argument a user can get wrong raises UserError."""
    if name not in _REGISTRY:
        raise UserError(f"unknown model {name!r}; known: {', '.join(model_names())}")
    if task not in TASKS:
        raise UserError(f"unknown task {task!r} for model {name!r}; expected one of: {', '.join(TASKS)}")
    if img_size not in IMG_SIZES:
        raise UserError(f"model {name!r} supports image sizes {', '.join(map(str, IMG_SIZES))}; got {img_size}")
    if not isinstance(in_channels, Integral) or in_channels < 1:
        raise UserError(f"model {name!r} needs in_channels >= 1, got {in_channels!r}")
    if task == "classification":
        if not isinstance(num_classes, Integral) or num_classes < 2:
            raise UserError(f"model {name!r} needs num_classes >= 2 for classification, got {num_classes!r}")
        num_classes = int(num_classes)
    return _REGISTRY[name](num_classes=num_classes, in_channels=int(in_channels), img_size=int(img_size), task=task)
