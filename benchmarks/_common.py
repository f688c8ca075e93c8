"""Helpers shared by the benchmark scripts: a preset's GAN trainer on synthetic data.

The scripts in this folder run as files (`python benchmarks/NAME.py`), so Python finds this module
beside them: `from _common import gan_trainer`.
"""

from __future__ import annotations

import tempfile

import torch

from cgankd.common.runs import RunDir
from cgankd.data.labels import LabelNorm
from cgankd.gans.config import gan_config
from cgankd.gans.trainer import GanData, GanTrainer
from cgankd.presets import get_preset

SYNTHETIC_N = 2048


def synthetic_data(preset: dict, kind: str, device: torch.device, n: int = SYNTHETIC_N) -> GanData:
    """n random uint8 images of the preset's shape, with random class ids (BigGAN) or random labels
    in [0, 1] (CcGAN)."""
    d = preset["data"]
    images = torch.randint(0, 256, (n, d["channels"], d["img_size"], d["img_size"]), dtype=torch.uint8)
    if kind == "biggan":
        labels = torch.randint(d["num_classes"], (n,))
        return GanData(images.to(device), labels.to(device), num_classes=d["num_classes"])
    labels = torch.rand(n)
    return GanData(images.to(device), labels.to(device), label_norm=LabelNorm(0.0, 1.0))


def gan_trainer(name: str, device: torch.device, batch_size: int | None = None, settings: dict | None = None,
                layout: torch.memory_format | None = None, amp: bool = False,
                n_images: int = SYNTHETIC_N) -> tuple[GanTrainer, dict]:
    """The set-up GanTrainer of preset `name` on `n_images` synthetic images, and its settings: the
    preset's GAN with `settings` on top (`batch_size`: another batch; `layout`: force a memory format;
    `amp`: the trainer's bf16 autocast). No standing statistics, and for CcGAN an untrained label
    embedding (a step's cost does not depend on its training)."""
    preset = get_preset(name)
    kind = next(iter(preset["gan"]))
    overrides = {"standing_stats": 0, "embed_epochs": 0, "y2h_epochs": 0} if kind == "ccgan" else {"standing_stats": 0}
    if batch_size:
        overrides["batch_size"] = batch_size
    cfg = gan_config(kind, preset["gan"], {**overrides, **(settings or {})})
    trainer = GanTrainer(kind, cfg, synthetic_data(preset, kind, device, n_images), RunDir(tempfile.mkdtemp()),
                         device=device, quiet=True, layout=layout, amp=amp)
    trainer.setup()
    return trainer, cfg
