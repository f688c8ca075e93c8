"""Load a GAN checkpoint and draw labelled samples in large batches under inference mode.

Classification: NFAKE split evenly over the classes. Regression: NFAKE split evenly over a grid
of evenly spaced label values in [0, 1] (`label_grid`), written back in raw units.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from ..common.devices import memory_format
from ..common.errors import UserError
from ..common.runs import CHECKPOINT
from ..data.labels import LabelNorm
from .ema import standing_stats
from .grid import to_uint8
from .label_embed import LabelToEmbedding
from .networks import CKPT_FORMAT, build_networks, gan_task
from .reference import load_reference_generator, reference_state_dict


def resolve_checkpoint(path: str | Path) -> Path:
    """A run folder (its last.pt) or a checkpoint / snapshot file."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.is_file():
        raise UserError(f"{path}: no GAN checkpoint there (expected a `cgankd gan train` run folder or .pt file)")
    return path


# What sampling needs from a training checkpoint (`GanTrainer.generator_state`): no discriminator,
# optimiser or RNG states.
GENERATOR_KEYS = ("format", "kind", "config", "iteration", "img_size", "channels", "num_classes", "label_norm",
                  "meta", "seed", "G", "G_ema", "embed")


def generator_only(state: dict[str, Any]) -> dict[str, Any]:
    """A GAN checkpoint cut down to what sampling needs."""
    return {k: state.get(k) for k in GENERATOR_KEYS}


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    path = resolve_checkpoint(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise UserError(f"{path}: cannot read it as a torch checkpoint ({type(err).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != CKPT_FORMAT:
        raise UserError(f"{path}: not a GAN checkpoint (expected one written by `cgankd gan train`)")
    return state


@dataclass
class LoadedGAN:
    kind: str
    generator: nn.Module
    y2h: nn.Module | None
    num_classes: int | None
    label_norm: LabelNorm | None
    dim_z: int
    img_size: int
    channels: int
    iteration: int
    ema: bool
    path: str
    device: torch.device
    config: dict
    meta: dict

    @property
    def is_regression(self) -> bool:
        return gan_task(self.kind) == "regression"

    @torch.no_grad()
    def embed(self, labels: torch.Tensor) -> torch.Tensor:
        return self.y2h(labels.float()) if self.y2h is not None else labels.long()

    @torch.inference_mode()
    def generate(self, labels: torch.Tensor, *, batch_size: int = 500, seed: int = 0) -> np.ndarray:
        """uint8 images (N, C, H, W) for the given labels (class ids or normalised labels)."""
        rng = torch.Generator(device=self.device).manual_seed(seed)
        out = np.empty((len(labels), self.channels, self.img_size, self.img_size), np.uint8)
        for i in range(0, len(labels), batch_size):
            y = labels[i:i + batch_size].to(self.device)
            z = torch.randn(len(y), self.dim_z, device=self.device, generator=rng)
            out[i:i + len(y)] = to_uint8(self.generator(z, self.embed(y)))
        return out


def _reference_gan(path: str | Path, state: dict, preset: str | None, device: torch.device) -> LoadedGAN:
    """A BigGAN-PyTorch state dict (the reference's G_ema.pth) as it is: the architecture from
    `preset` (or the file's layout), the stored batch-norm statistics as the reference samples."""
    g, info = load_reference_generator(path, preset, device, state=state)
    g = g.to(memory_format=memory_format(device))
    return LoadedGAN("biggan", g, None, info["num_classes"], None, g.dim_z, info["img_size"], info["channels"],
                     info["iteration"], info["ema"], str(path), device, info, {})


def load_gan(path: str | Path, *, device: torch.device | str = "cpu", ema: bool = True,
             stats_batches: int | None = None, seed: int = 0, preset: str | None = None) -> LoadedGAN:
    """The generator of a checkpoint (EMA weights by default) ready for sampling: batch-norm stats
    re-estimated on its own samples (`standing_stats` batches, the config's by default).
    A reference generator file (a plain state dict) loads through `_reference_gan`."""
    device = torch.device(device)
    reference = reference_state_dict(path)
    if reference is not None:
        return _reference_gan(path, reference, preset, device)
    state = read_checkpoint(path)
    cfg, kind = state["config"], state["kind"]
    g, _ = build_networks(kind, cfg, img_size=state["img_size"], channels=state["channels"],
                          num_classes=state["num_classes"])
    weights = state["G_ema"] if ema and state.get("G_ema") is not None else state["G"]
    used_ema = ema and state.get("G_ema") is not None
    g.load_state_dict(weights)
    g.to(device, memory_format=memory_format(torch.device(device))).eval().requires_grad_(False)
    y2h = None
    if state.get("embed"):
        y2h = LabelToEmbedding(cfg["dim_embed"])
        y2h.load_state_dict(state["embed"]["y2h"])
        y2h.to(device).eval().requires_grad_(False)
    norm = LabelNorm.from_dict(state["label_norm"]) if state.get("label_norm") else None
    gan = LoadedGAN(kind, g, y2h, state["num_classes"], norm, g.dim_z, state["img_size"], state["channels"],
                    int(state["iteration"]), used_ema, str(resolve_checkpoint(path)), device, cfg,
                    dict(state.get("meta") or {}))

    def draw(n: int, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.randn(n, gan.dim_z, device=device, generator=rng)
        if gan.is_regression:
            y = torch.rand(n, device=device, generator=rng)
        else:
            y = torch.randint(gan.num_classes, (n,), device=device, generator=rng)
        return z, gan.embed(y)

    n_stats = cfg.get("standing_stats", 0) if stats_batches is None else stats_batches
    gan.generator = standing_stats(g, draw, n_batches=n_stats, batch_size=256, seed=seed).requires_grad_(False)
    return gan


def even_counts(n: int, groups: int) -> np.ndarray:
    """n split over `groups` as evenly as possible (the first n % groups get one more)."""
    return np.full(groups, n // groups) + (np.arange(groups) < n % groups)


def balanced_class_ids(n: int, num_classes: int) -> torch.Tensor:
    """n class ids, split over the classes as evenly as possible, in class order."""
    return torch.arange(num_classes).repeat_interleave(torch.as_tensor(even_counts(n, num_classes)))


def label_grid(n_values: int, n: int) -> torch.Tensor:
    """The normalised label values regression fakes are made at: `n_values` evenly spaced values
    over [0, 1] (the reference's 2,000 for SteeringAngle), or n when fewer fakes are asked for."""
    return torch.linspace(0, 1, max(1, min(n_values, n)), dtype=torch.float64)


def sample_labels(gan: LoadedGAN, n: int, n_values: int | None = None) -> torch.Tensor:
    """Class ids with n split evenly over classes, or normalised labels on the GAN's label grid
    (`label_values` of its settings unless `n_values` is given), n split evenly over it."""
    if gan.is_regression:
        values = label_grid(n_values or gan.config["label_values"], n).float()
        return values.repeat_interleave(torch.as_tensor(even_counts(n, len(values))))
    return balanced_class_ids(n, gan.num_classes)


def raw_labels(gan: LoadedGAN, labels: torch.Tensor) -> np.ndarray:
    """Labels as stored in fake h5 files: int64 class ids, or float32 raw units (clipped to range)."""
    if gan.is_regression:
        y = labels.float().clamp(0, 1)
        y = gan.label_norm.denormalize(y) if gan.label_norm else y
        return y.numpy().astype(np.float32)
    return labels.numpy().astype(np.int64)
