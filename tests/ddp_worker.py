"""Work that tests/test_ddp.py runs under torchrun (2 processes, gloo on CPU) and, for comparison,
in one process: a training step's float64 gradients through the real loader, DDP wrapper and
SyncBatchNorm; a KD method with its own first stage; a tiny BigGAN.

    torchrun --standalone --nproc_per_node=2 tests/ddp_worker.py OUT CLS.h5 REG.h5 FAKE.h5 TEACHER.pt
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from cgankd.common import distributed
from cgankd.gans.commands import train_gan
from cgankd.models.batchnorm import attach_aux_bn, set_fake_rows
from cgankd.train import loop
from cgankd.train.config import TrainConfig

GAN_SETTINGS = {"g_ch": 2, "d_ch": 2, "dim_z": 8, "d_steps": 2, "ckpt_every": 2, "log_every": 1,
                "standing_stats": 2, "grid_rows": 3, "grid_cols": 2, "ema_start": 1, "ema_decay": 0.9,
                "iters": 3, "batch_size": 8}


def gradient_cases(cls: str, reg: str, fake: str, teacher: str) -> dict[str, TrainConfig]:
    base = dict(arch="resnet8", out="unused", epochs=1, batch_size=32, device="cpu", quiet=True, seed=2,
                sync_bn=True)
    return {
        "augmented": TrainConfig(data=cls, preset="fashion-mnist", **base),        # crop 2 + flip
        "fake_share_aux_bn": TrainConfig(data=cls, fake=fake, fake_share=0.25, aux_bn=True, **base),
        "kd_fake_weight": TrainConfig(data=cls, fake=fake, fake_weight=0.5, teacher=teacher, distill="kd", **base),
        "regression": TrainConfig(data=reg, lr=0.01, **base),
    }


def step_gradients(cfg: TrainConfig) -> dict:
    """The first training step of `cfg` in float64: the loss terms (averaged over the processes) and
    rank 0's parameter gradients (after DDP's all-reduce: every process's)."""
    world, device = distributed.start(cfg.device)
    cfg, data, distiller, student, _ = loop._build(cfg, device)
    duals = attach_aux_bn(student) if cfg.aux_bn else []
    if cfg.sync_bn and world.is_distributed:
        distributed.sync_batchnorm(distiller)
    distiller.to(torch.float64)
    step = loop._step_function(cfg, distiller, device)
    x, y, index = next(iter(loop._loaders(cfg, data, device, world).train))
    if duals:
        set_fake_rows(duals, index >= data.n_real)
    _, losses = step(x.double(), y, index)
    sum(losses.values()).backward()
    terms = distributed.sum_across(torch.stack([v.detach() for v in losses.values()])) / world.size
    return {"losses": dict(zip(losses, terms.tolist())),
            "grads": {n: p.grad.clone() for n, p in distiller.named_parameters() if p.grad is not None}}


def stage_method(cls: str, teacher: str, out: Path) -> dict:
    """FitNet: its first stage runs on whole batches in every process, then DDP."""
    return loop.fit(TrainConfig(data=cls, arch="resnet8", out=str(out), epochs=1, batch_size=32, device="cpu",
                                quiet=True, teacher=teacher, distill="hint", distill_cfg={"init_epochs": 1}))


def tiny_gan(cls: str, out: Path) -> dict:
    return train_gan(cls, "biggan", str(out), overrides=dict(GAN_SETTINGS), device="cpu", quiet=True, sync_bn=True,
                     tensorboard=True)


def main(out: str, cls: str, reg: str, fake: str, teacher: str) -> None:
    out_dir = Path(out)
    results = {name: step_gradients(cfg) for name, cfg in gradient_cases(cls, reg, fake, teacher).items()}
    stage_method(cls, teacher, out_dir / "hint")
    tiny_gan(cls, out_dir / "gan")
    if distributed.is_main_process():
        torch.save(results, out_dir / "gradients.pt")


if __name__ == "__main__":
    main(*sys.argv[1:6])
