"""The GAN training loop, shared by BigGAN and CcGAN.

One iteration = `d_steps` discriminator steps (fresh real and fake batches each, hinge loss,
vicinal weights for CcGAN, DiffAugment on every D input) and one generator step, then the EMA
update. Checkpoints (G, D, EMA, optimisers, RNG, iteration) go to the run folder's last.pt every
`ckpt_every` iterations together with a sample grid of fixed noise; `resume` continues exactly.

Under torchrun (cgankd/common/distributed.py) every process draws the random numbers of the whole
global batch (real indices, labels, noise, DiffAugment's parameters) and keeps its shard of them,
so a step is the one-process step with the same global batch; DDP averages G's and D's gradients,
and rank 0 alone writes checkpoints, grids and logs. Losses stay on the device between log points.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from PIL import Image
from tqdm import tqdm

from ..common import distributed
from ..common.board import Board
from ..common.devices import autocast, memory_format, optimizer_options
from ..common.distributed import World, shard_rows
from ..common.errors import UserError
from ..common.optim import backward_step
from ..common.runs import RunDir
from ..common.seeding import rng_state, seed_everything, set_rng_state
from ..data.labels import LabelNorm
from .conditioning import ClassConditioner, LabelConditioner
from .diffaug import diff_augment
from .ema import EMA, standing_stats
from .grid import grid_labels, save_grid, to_uint8
from .label_embed import LabelToEmbedding, to_minus_one_one, train_x2y, train_y2h, x2y_mae, \
    y2h_roundtrip_error
from .losses import hinge_d_loss, hinge_g_loss
from .networks import CKPT_FORMAT, build_networks, gan_task
from .vicinal import VicinalSampler, kappa_rule, kernel_sigma

@dataclass
class GanData:
    """Training images (uint8 NCHW, on the training device) and labels: class ids (long) or
    labels normalised to [0, 1] (float)."""
    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int | None = None
    label_norm: LabelNorm | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def img_size(self) -> int:
        return int(self.images.shape[-1])

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])


def vicinity_params(cfg: dict, labels: torch.Tensor) -> tuple[float, float]:
    """(sigma, kappa-or-nu) from the config, applying the rules of thumb for negative values."""
    y = labels.detach().cpu().numpy()
    sigma = kernel_sigma(y) if cfg["sigma"] < 0 else cfg["sigma"]
    kappa = kappa_rule(y, cfg["kappa"], cfg["vicinity"]) if cfg["kappa"] < 0 else cfg["kappa"]
    return float(sigma), float(kappa)


def _take(t: torch.Tensor | None, rows: torch.Tensor | None) -> torch.Tensor | None:
    """This process's rows of a global-batch tensor (all of them in one process)."""
    return t if t is None or rows is None else t.index_select(0, rows)


class _DiscriminatorPair(nn.Module):
    """D on the real and on the fake half of a D step, as one module forward for DDP to wrap."""

    def __init__(self, d: nn.Module):
        super().__init__()
        self.d = d

    def forward(self, x_real, y_real, x_fake, y_fake) -> tuple[torch.Tensor, torch.Tensor]:
        return self.d(x_real, y_real), self.d(x_fake, y_fake)


class GanTrainer:
    def __init__(self, kind: str, cfg: dict, data: GanData, run: RunDir, *, device: torch.device, seed: int = 0,
                 quiet: bool = False, layout: torch.memory_format | None = None, amp: bool = False,
                 sync_bn: bool = False, world: World | None = None, board: Board | None = None):
        self.kind, self.cfg, self.data, self.run = kind, cfg, data, run
        self.device, self.seed, self.quiet = device, seed, quiet
        self.amp, self.world = amp, world or World()
        self.sync_bn = sync_bn and self.world.is_distributed
        self.board = board or Board(run.path, False)
        self.iteration = 0
        self.saved_iteration = 0                # of the checkpoint in last.pt (named when training diverges)
        # Of the networks and real batches; None: the device's fast layout (a benchmark compares both).
        self.memory_format = layout or memory_format(device)
        self.embed_info: dict[str, Any] | None = None
        self.y2h: LabelToEmbedding | None = None
        self.h2y: nn.Module | None = None

    # ----------------------------------------------------------------- setup
    def setup(self, state: dict | None = None) -> None:
        """Build everything; from `state` (a checkpoint) when resuming, else from the seed."""
        cfg, data = self.cfg, self.data
        if state is None:
            seed_everything(self.seed)
        self.G, self.D = build_networks(self.kind, cfg, img_size=data.img_size, channels=data.channels,
                                        num_classes=data.num_classes)
        # channels_last: 1.24-1.27x G+D iterations per second for the demo GANs on one CPU thread
        # (benchmarks/gan_throughput.py --compare-memory-format, docs/benchmarks.md); the fast path on GPUs
        self.G.to(self.device, memory_format=self.memory_format)
        self.D.to(self.device, memory_format=self.memory_format)
        self.G_ema = None
        if cfg["ema"]:
            self.G_ema, _ = build_networks(self.kind, cfg, img_size=data.img_size, channels=data.channels,
                                           num_classes=data.num_classes)
            self.G_ema.to(self.device, memory_format=self.memory_format)
            self.ema = EMA(self.G, self.G_ema, decay=cfg["ema_decay"], start=cfg["ema_start"])
        betas, fused = tuple(cfg["betas"]), optimizer_options(self.device)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=cfg["g_lr"], betas=betas, eps=cfg["adam_eps"], **fused)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=cfg["d_lr"], betas=betas, eps=cfg["adam_eps"], **fused)
        if gan_task(self.kind) == "classification":
            self.cond = ClassConditioner(data.labels, data.num_classes)
        else:
            self._setup_label_embedding(state)
            sigma, kappa = self.embed_info["sigma"], self.embed_info["kappa"]
            sampler = VicinalSampler(data.labels, sigma=sigma, kappa=kappa, vicinity=cfg["vicinity"],
                                     weight_threshold=cfg["weight_threshold"])
            self.cond = LabelConditioner(data.labels, sampler, self.y2h)
        if state is not None:
            self._load_state(state)
        self._setup_parallel()

    def _setup_parallel(self) -> None:
        """The modules a step calls: DDP-wrapped G and (D, D) pair under torchrun, else G and the pair."""
        if self.sync_bn:
            distributed.sync_batchnorm(self.G)
        if self.y2h is not None:               # trained in every process: make them rank 0's exactly
            distributed.broadcast_state(self.y2h)
            distributed.broadcast_state(self.h2y)
        self.G_step = distributed.data_parallel(self.G, self.device)
        self.D_step = distributed.data_parallel(_DiscriminatorPair(self.D), self.device)

    def _setup_label_embedding(self, state: dict | None) -> None:
        cfg, data = self.cfg, self.data
        self.y2h = LabelToEmbedding(cfg["dim_embed"]).to(self.device)
        self.h2y = nn.Sequential(nn.Linear(cfg["dim_embed"], 1), nn.ReLU()).to(self.device)
        if state is not None:
            self.y2h.load_state_dict(state["embed"]["y2h"])
            self.h2y.load_state_dict(state["embed"]["h2y"])
            self.embed_info = dict(state["embed"]["info"])
            self.y2h.eval().requires_grad_(False)
            return
        sigma, kappa = vicinity_params(cfg, data.labels)
        t0 = time.time()
        x2y = train_x2y(data.images, data.labels, cfg, device=self.device, progress=self._embed_progress)
        self.h2y = x2y.h2y
        self.y2h = train_y2h(x2y.h2y, torch.unique(data.labels), cfg, device=self.device,
                             progress=self._embed_progress)
        self.embed_info = {"sigma": sigma, "kappa": kappa, "vicinity": cfg["vicinity"],
                           "x2y_train_mae": x2y_mae(x2y, data.images[:5000], data.labels[:5000]),
                           "y2h_roundtrip_mae": y2h_roundtrip_error(self.y2h, self.h2y),
                           "seconds": time.time() - t0}
        self._say(f"label embedding: x2y train MAE {self.embed_info['x2y_train_mae']:.4f}, "
                  f"y2h round trip {self.embed_info['y2h_roundtrip_mae']:.4f} (normalised units); "
                  f"sigma {sigma:.4f}, {'kappa' if cfg['vicinity'] == 'hard' else 'nu'} {kappa:.4g}")

    def _embed_progress(self, stage: str, epoch: int, epochs: int, loss: float) -> None:
        if epoch == epochs or epoch % max(1, epochs // 5) == 0:
            self._say(f"{stage} epoch {epoch}/{epochs} mse {loss:.5f}")

    def _say(self, text: str) -> None:
        if not self.quiet:
            tqdm.write(text)

    # ------------------------------------------------------------ checkpoints
    def generator_state(self) -> dict[str, Any]:
        """What sampling needs: architecture, labels, weights (raw and EMA), label embedding."""
        data = self.data
        return {
            "format": CKPT_FORMAT, "kind": self.kind, "config": self.cfg, "iteration": self.iteration,
            "img_size": data.img_size, "channels": data.channels, "num_classes": data.num_classes,
            "label_norm": data.label_norm.to_dict() if data.label_norm else None, "meta": data.meta,
            "seed": self.seed, "G": self.G.state_dict(),
            "G_ema": self.G_ema.state_dict() if self.G_ema is not None else None,
            "embed": ({"y2h": self.y2h.state_dict(), "h2y": self.h2y.state_dict(), "info": self.embed_info}
                      if self.y2h is not None else None),
        }

    def state(self) -> dict[str, Any]:
        return {**self.generator_state(), "D": self.D.state_dict(), "opt_G": self.opt_G.state_dict(),
                "opt_D": self.opt_D.state_dict(), "rng": rng_state(),
                "device_rng": distributed.device_rng_state(self.device)}

    def _load_state(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        if self.G_ema is not None:
            self.G_ema.load_state_dict(state["G_ema"] if state.get("G_ema") is not None else state["G"])
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        self.iteration = self.saved_iteration = int(state["iteration"])
        set_rng_state(state["rng"])
        distributed.set_device_rng_state(state.get("device_rng"), self.device)

    def save(self) -> None:
        """Checkpoint, snapshot and sample grid, written by rank 0 alone (none of it draws from the
        training's random streams, so the processes stay in step)."""
        self.saved_iteration = self.iteration
        if not self.run.writes:
            return
        self.run.save_checkpoint(self.state())
        if self.cfg["keep_snapshots"]:
            from ..common.files import save_torch
            save_torch(self.run.file(f"snapshots/iter_{self.iteration:06d}.pt"), self.generator_state())
        self.write_grid()

    def sampling_generator(self) -> nn.Module:
        """EMA weights (or G) with batch-norm stats re-estimated on their own samples."""
        g = self.G_ema if self.G_ema is not None else self.G
        if self.sync_bn and self.G_ema is None:
            g = distributed.plain_copy(g)      # sampled by one process: batch norm must not wait for the others
        return standing_stats(g, self._draw, n_batches=self.cfg["standing_stats"],
                              batch_size=min(256, self.cfg["batch_size"]), seed=self.seed)

    def _draw(self, n: int, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.randn(n, self.G.dim_z, device=self.device, generator=rng)
        return z, self.cond.embed(self.cond.random_labels(n, rng))

    @torch.no_grad()
    def write_grid(self) -> None:
        rows, cols = self.cfg["grid_rows"], self.cfg["grid_cols"]
        labels, names = grid_labels(rows, cols, num_classes=self.data.num_classes,
                                    class_names=self.data.meta.get("class_names"), label_norm=self.data.label_norm)
        labels = labels.to(self.device)
        rng = torch.Generator(device=self.device).manual_seed(self.seed + 1)
        z = torch.randn(cols, self.G.dim_z, device=self.device, generator=rng).repeat(len(names), 1)
        images = self.sampling_generator()(z, self.cond.embed(labels))
        path = self.run.file(f"samples_{self.iteration:06d}.png")
        save_grid(to_uint8(images), len(names), path, names)
        if self.board.writer is not None:
            self.board.image("samples", np.asarray(Image.open(path).convert("RGB")), self.iteration)

    # ------------------------------------------------------------------ train
    def _real(self, index: torch.Tensor, n: int, rows: torch.Tensor | None) -> torch.Tensor:
        x = to_minus_one_one(self.data.images[index]).contiguous(memory_format=self.memory_format)
        if self.cfg.get("real_hflip"):
            flip = _take(torch.rand(n, device=x.device) < 0.5, rows)
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        return x

    def _aug(self, x: torch.Tensor, n: int, rows: torch.Tensor | None) -> torch.Tensor:
        """DiffAugment; a shard is augmented inside a zero-filled global batch, so that its rows get the
        random parameters they get in one process (every policy acts on each image alone)."""
        if not self.cfg["diffaug"]:
            return x
        if rows is None:
            return diff_augment(x, self.cfg["diffaug"])
        batch = x.new_zeros((n, *x.shape[1:])).contiguous(memory_format=self.memory_format).index_copy(0, rows, x)
        return diff_augment(batch, self.cfg["diffaug"]).index_select(0, rows)

    def d_step(self, n: int) -> dict[str, torch.Tensor]:
        """One D step on a global batch of `n` real and `n` fake images; the losses as device scalars."""
        rows = shard_rows(n, self.world, self.device)
        b = self.cond.d_batch(n)
        z = _take(torch.randn(n, self.G.dim_z, device=self.device), rows)
        h_g, h_real, h_fake = (self.cond.embed(_take(y, rows)) for y in (b.g_label, b.d_label_real, b.d_label_fake))
        with torch.no_grad(), autocast(self.device, self.amp):
            fake = self.G(z, h_g)
        real = self._aug(self._real(_take(b.real_index, rows), n, rows), n, rows)
        fake = self._aug(fake, n, rows)
        with autocast(self.device, self.amp):
            out_real, out_fake = self.D_step(real, h_real, fake, h_fake)
        loss_real, loss_fake = hinge_d_loss(out_real.float(), out_fake.float(), _take(b.w_real, rows),
                                            _take(b.w_fake, rows))
        backward_step(self.opt_D, loss_real + loss_fake)
        return {"d_real": loss_real.detach(), "d_fake": loss_fake.detach()}

    def g_step(self, n: int) -> dict[str, torch.Tensor]:
        rows = shard_rows(n, self.world, self.device)
        h = self.cond.embed(_take(self.cond.g_labels(n), rows))
        z = _take(torch.randn(n, self.G.dim_z, device=self.device), rows)
        self.D.requires_grad_(False)            # D is called unwrapped: only G's gradients are shared
        with autocast(self.device, self.amp):
            out = self.D(self._aug(self.G_step(z, h), n, rows), h)
        loss = hinge_g_loss(out.float())
        backward_step(self.opt_G, loss)
        self.D.requires_grad_(True)
        return {"g_loss": loss.detach()}

    def _iteration(self, bs: int, gbs: int) -> dict[str, torch.Tensor]:
        """d_steps D steps and one G step: the mean D losses and the G loss (float64, on the device)."""
        d_steps = self.cfg["d_steps"]
        stats: dict[str, torch.Tensor] = {}
        for _ in range(d_steps):
            for k, v in self.d_step(bs).items():
                stats[k] = stats[k] + v.double() / d_steps if k in stats else v.double() / d_steps
        stats.update({k: v.double() for k, v in self.g_step(gbs).items()})
        return stats

    def _check_finite(self, first_bad: dict[str, Any]) -> None:
        """A NaN/inf loss in any process ends the run with a message; last.pt keeps the last good
        checkpoint (this runs before every save)."""
        bad = bool(first_bad)
        if not distributed.any_across(bad, self.device):
            return
        it = first_bad["iteration"] if bad else self.iteration
        shown = ", ".join(f"{k}={v}" for k, v in first_bad.get("stats", {}).items() if not math.isfinite(v)) \
            or ("a loss not finite" if bad else "in another process")
        raise UserError(f"GAN training diverged at iteration {it} ({shown}); {self.run.checkpoint} keeps "
                        f"iteration {self.saved_iteration}; lower g_lr / d_lr (--set)")

    def train(self) -> dict[str, Any]:
        cfg = self.cfg
        bs, gbs = cfg["batch_size"], cfg["g_batch_size"] or cfg["batch_size"]
        if self.iteration == 0 and not self.run.has_checkpoint():
            self.save()                         # iteration 0: the untrained generator, and the embedding
        bar = tqdm(total=cfg["iters"], initial=self.iteration, disable=self.quiet or not self.world.is_main,
                   desc=f"{self.kind}", unit="it", dynamic_ncols=True)
        window: dict[str, torch.Tensor] = {}
        flags: list[torch.Tensor] = []          # per iteration of the window: were all its losses finite?
        t_start, t_window, n_window = time.time(), time.time(), 0
        while self.iteration < cfg["iters"]:
            self.G.train()
            self.D.train()
            stats = self._iteration(bs, gbs)
            flags.append(torch.isfinite(torch.stack(list(stats.values()))).all())
            if self.G_ema is not None:
                self.ema.update(self.iteration)
            self.iteration += 1
            n_window += 1
            for k, v in stats.items():
                window[k] = window[k] + v if k in window else v
            bar.update(1)
            log_now = self.iteration % cfg["log_every"] == 0 or self.iteration == cfg["iters"]
            save_now = self.iteration % cfg["ckpt_every"] == 0 or self.iteration == cfg["iters"]
            if not (log_now or save_now):
                continue
            self._check_finite(self._first_bad(flags, stats))
            flags = []
            if log_now:
                now = time.time()
                record = self._window_means(window, n_window)
                record.update(iter=self.iteration, it_s=n_window / max(now - t_window, 1e-9),
                              seconds=now - t_start)
                self.run.log(record)
                self.board.scalars({k: v for k, v in record.items() if k != "iter"}, self.iteration, prefix="gan/")
                bar.set_postfix(d=f"{record['d_real'] + record['d_fake']:.3f}", g=f"{record['g_loss']:.3f}")
                window, t_window, n_window = {}, now, 0
            if save_now:
                self.save()
                self.board.flush()
        bar.close()
        return {"iterations": self.iteration, "seconds": time.time() - t_start}

    def _first_bad(self, flags: list[torch.Tensor], last: dict[str, torch.Tensor]) -> dict[str, Any]:
        """The first iteration since the last check whose losses were not all finite (one host read)."""
        finite = torch.stack(flags).tolist()
        if all(finite):
            return {}
        k = finite.index(False)
        # Only the latest iteration's values are kept; once a loss is NaN it stays NaN, so they show it.
        return {"iteration": self.iteration - len(finite) + k + 1, "stats": {n: float(v) for n, v in last.items()}}

    def _window_means(self, window: dict[str, torch.Tensor], n: int) -> dict[str, float]:
        """Each loss averaged over the window's iterations and over the processes (equal shards)."""
        names = list(window)
        totals = distributed.sum_across(torch.stack([window[k] for k in names])).tolist()
        return {k: v / self.world.size / n for k, v in zip(names, totals)}
