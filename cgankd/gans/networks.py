"""The two GAN kinds: which task each serves, how their networks are built, the checkpoint format.

Sampling (`sampling.py`) and training (`trainer.py`) both build networks here, so that loading a
generator for sampling does not pull in the training stack.
"""

from __future__ import annotations

import torch.nn as nn

from ..common.errors import UserError
from .biggan import build_biggan
from .ccgan import build_ccgan

CKPT_FORMAT = "cgankd-gan-v1"

# BigGAN conditions on class ids, CcGAN on a continuous label normalised to [0, 1].
GAN_TASKS = {"biggan": "classification", "ccgan": "regression"}


def gan_task(kind: str) -> str:
    """'classification' or 'regression': the task a GAN kind serves."""
    if kind not in GAN_TASKS:
        raise UserError(f"unknown GAN {kind!r}; expected one of: {', '.join(GAN_TASKS)}")
    return GAN_TASKS[kind]


def gan_for_task(task: str) -> str:
    """The GAN kind of a task: BigGAN for classes, CcGAN for continuous labels."""
    return next(kind for kind, t in GAN_TASKS.items() if t == task)


def build_networks(kind: str, cfg: dict, *, img_size: int, channels: int, num_classes: int | None
                   ) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) of a GAN kind from its settings."""
    if gan_task(kind) == "classification":
        return build_biggan(cfg, img_size=img_size, channels=channels, num_classes=num_classes)
    return build_ccgan(cfg, img_size=img_size, channels=channels)
