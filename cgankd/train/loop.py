"""The one training loop: NOKD, KD, cGAN-KD and cGAN-KD + KD, classification and regression.

What differs between those is data (real, or real ∪ fake), the start (fresh, or --init) and
the Distiller (plain task loss, or a KD method); the loop is the same.

Under torchrun the loop is data-parallel (cgankd/common/distributed.py): `--batch-size` is the
global batch, each process trains on its shard of it, DDP averages the gradients, sums and counts
are added over the processes before anything is logged, and only rank 0 writes the run folder.
The hot loop keeps its sums on the device and reads them back every LOG_EVERY steps.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import Any, Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from ..common import distributed
from ..common.board import Board
from ..common.devices import amp_enabled, autocast, inference_batch, memory_format, optimizer_options, tune_for
from ..common.distributed import World
from ..common.optim import lr_at, set_lr
from ..common.errors import UserError
from ..common.files import check_output_dir
from ..common.runs import METRICS, RunDir
from ..common.seeding import rng_state, seed_everything, set_rng_state
from ..data import DeviceLoader, Split
from ..distill import Distiller, build_distiller
from ..models import build_model
from ..models.batchnorm import attach_aux_bn, detach_aux_bn, recalibrate_bn, set_fake_rows
from ..models.checkpoint import save_model_checkpoint
from ..models.trained import MODEL_FILE, TrainedNet
from .config import TrainConfig
from .dataset import TrainingData, build_training_data
from .record import RESUME_FREE, identity, run_settings

LOG_EVERY = 50   # steps between reads of the device-side sums: progress bar, divergence check, TensorBoard

# KD methods whose loss is a mean of per-sample terms: the mean of the processes' shard means is the
# global batch's mean, so DDP computes what one process would. The others compare the samples of a
# batch with each other (SP, CC, RKD, PKT, DIST, MLKD, SSKD) or keep a memory bank over the
# training set (CRD); a shard would give them other batches.
DDP_METHODS = frozenset({None, "kd", "takd", "dkd", "hint", "attention", "vid", "abound", "factor", "fsp",
                         "nst", "reviewkd"})


@dataclass
class Loaders:
    train: DeviceLoader
    val: DeviceLoader | None
    test: DeviceLoader


@dataclass
class _Training:
    """What one training run's epochs share."""
    cfg: TrainConfig
    world: World
    device: torch.device
    task: Any
    distiller: Distiller
    step_fn: Callable
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    loaders: Loaders
    mark_fakes: Callable[[torch.Tensor], None]
    board: Board

    @property
    def shows_progress(self) -> bool:
        return self.world.is_main and not self.cfg.quiet


@torch.inference_mode()
def evaluate(model: torch.nn.Module, loader: DeviceLoader, task, amp: bool = False) -> float:
    """Top-1 % (classification) or MAE in raw units (regression) over a loader (over all processes'
    shards of it under DDP: sums and counts are added, then divided)."""
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=loader.device)
    count = 0
    for x, y, _ in loader:
        with autocast(x.device, amp):
            out = model(x)
        total += task.metric_sum_tensor(out, y)
        count += len(y)
    model.train(was_training)
    total, count = distributed.sum_across(torch.stack([total, total.new_tensor(count)])).tolist()
    return task.finish_metric(total, int(count))


def _build(cfg: TrainConfig, device: torch.device
           ) -> tuple[TrainConfig, TrainingData, Distiller, torch.nn.Module, dict | None]:
    """Data, student and distiller; for a real-only control (--same-steps-as) also the config
    stretched to the cGAN-KD run's number of optimiser steps; and what the --init checkpoint records."""
    teacher = TrainedNet.load(cfg.teacher, device, "teacher") if cfg.teacher else None
    init = TrainedNet.load(cfg.init, device, "--init") if cfg.init else None
    reference = init or teacher
    data = build_training_data(cfg, reference_task=reference.task if reference else None,
                               reference_pixel_norm=reference.pixel_norm if reference else None)
    for net in (teacher, init):       # before the student is built: a net of other images is an error
        if net is not None:
            net.check_fits(data.img_shape, data.task.kind, data.task.num_classes, cfg.data)
    if cfg.same_steps_as:
        cfg = cfg.stretched(data.matched_epochs(cfg.epochs))
    seed_everything(cfg.seed)
    channels, size, _ = data.img_shape
    student = build_model(cfg.arch, num_classes=data.task.num_classes or 1, in_channels=channels,
                          img_size=size, task=data.task.kind)
    if init is not None:
        if init.arch != cfg.arch:
            raise UserError(f"--init {cfg.init} is a {init.arch}, not a {cfg.arch}")
        student.load_state_dict(init.model.state_dict())
    distill_cfg = {"n_data": len(data.train.labels), "img_shape": data.img_shape, "with_fake": data.n_fake > 0,
                   "epochs": cfg.epochs, "n_real": data.n_real, "fake_weight": cfg.fake_weight, **cfg.distill_cfg}
    if not data.task.is_regression:
        distill_cfg["train_labels"] = data.train.labels     # CRD's exact mode: negatives from other classes
    distiller = build_distiller(cfg.distill, student, teacher.model if teacher else None, data.task, distill_cfg)
    distiller.to(device=device, memory_format=memory_format(device))
    return cfg, data, distiller, student, init.info if init else None


def check_parallel(cfg: TrainConfig, world: World) -> None:
    """Refuse, before any work, what a DDP run cannot compute as one process would."""
    if not world.is_distributed:
        return
    distributed.check_global_batch(cfg.batch_size, world)
    if cfg.distill not in DDP_METHODS:
        raise UserError(f"--distill {cfg.distill} relates the samples of a batch to each other (or keeps a memory "
                        f"bank), so its loss over {world.size} shards is not the one-process loss: run it in one "
                        f"process (DDP supports {', '.join(sorted(m for m in DDP_METHODS if m))})")
    if cfg.sync_bn and cfg.aux_bn and cfg.fake_share is None:
        raise UserError("--sync-bn with --aux-bn needs --fake-share: every process must have real and fake rows "
                        "in every batch for the two batch-norm layers to synchronise")


def _check_parallel_data(cfg: TrainConfig, world: World, data: TrainingData) -> None:
    if not world.is_distributed:
        return
    if len(data.train.labels) < cfg.batch_size:
        raise UserError(f"the training set has {len(data.train.labels)} rows, less than one global batch "
                        f"({cfg.batch_size}); lower --batch-size or run in one process")
    if cfg.sync_bn and cfg.aux_bn:
        b_fake = min(cfg.batch_size - 1, max(1, round(cfg.fake_share * cfg.batch_size)))
        if min(b_fake, cfg.batch_size - b_fake) < world.size:
            raise UserError(f"--sync-bn with --aux-bn: --fake-share {cfg.fake_share} of a batch of {cfg.batch_size} "
                            f"leaves fewer than {world.size} fake or real rows, one per process")


def _loaders(cfg: TrainConfig, data: TrainingData, device: torch.device, world: World) -> Loaders:
    eval_batch = inference_batch(device, cfg.batch_size)
    loaders = [data.loader(data.train, cfg.batch_size, device, train=True, seed=cfg.seed, fake_share=cfg.fake_share),
               data.loader(data.val, eval_batch, device, train=False) if data.val else None,
               data.loader(data.test, eval_batch, device, train=False)]
    return Loaders(*(None if loader is None else loader.sharded(world.rank, world.size) for loader in loaders))


def _epoch_batches(loader: DeviceLoader, epoch: int):
    def batches():
        loader.set_epoch(epoch)
        return iter(loader)
    return batches


class _TrainStep(nn.Module):
    """The distiller's training forward as a module's forward, for DDP to wrap."""

    def __init__(self, distiller: Distiller):
        super().__init__()
        self.distiller = distiller

    def forward(self, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor):
        return self.distiller.forward_train(x, y, index)


def _step_function(cfg: TrainConfig, distiller: Distiller, device: torch.device) -> Callable:
    """forward_train (one process) or its DDP-wrapped module; compiled with --compile."""
    step: Callable = distiller.forward_train
    if distributed.active():
        # KD methods and the fakes' batch-norm twins leave some parameters without a gradient in a step.
        step = distributed.data_parallel(_TrainStep(distiller), device,
                                         find_unused=cfg.distill is not None or cfg.aux_bn)
    return torch.compile(step) if cfg.compile else step


class _Sums:
    """Per-epoch running sums on the device: each loss term times its rows, the metric sum, and the
    first step whose loss was not finite (with that loss)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.losses: dict[str, torch.Tensor] = {}
        self.metric = torch.zeros((), dtype=torch.float64, device=device)
        self.seen = 0
        self.bad_step = torch.full((), -1, dtype=torch.long, device=device)
        self.bad_loss = torch.zeros((), dtype=torch.float64, device=device)

    def add(self, step: int, loss: torch.Tensor, losses: dict[str, torch.Tensor], metric: torch.Tensor,
            rows: int) -> None:
        first = (self.bad_step < 0) & ~torch.isfinite(loss.detach())
        self.bad_step = torch.where(first, step, self.bad_step)
        self.bad_loss = torch.where(first, loss.detach().double(), self.bad_loss)
        for name, value in losses.items():
            term = value.detach().double() * rows
            self.losses[name] = self.losses[name] + term if name in self.losses else term
        self.metric += metric
        self.seen += rows

    def read(self, epoch: int, step: int, epochs_done: int) -> tuple[dict[str, float], float, int]:
        """(loss sums, metric sum, rows) over every process so far; a non-finite loss anywhere ends the
        run here, before the epoch's checkpoint."""
        bad = self.bad_step >= 0
        packed = torch.stack([*self.losses.values(), self.metric, self.metric.new_tensor(self.seen),
                              bad.double()])
        values = distributed.sum_across(packed).tolist()
        if values[-1] > 0:
            if bool(bad):
                where = f"the loss became {self.bad_loss.item()} at epoch {epoch + 1}, step {int(self.bad_step)}"
            else:
                where = f"the loss became non-finite in another process in epoch {epoch + 1} (by step {step})"
            kept = f"last.pt keeps the last good state (end of epoch {epochs_done})" if epochs_done else \
                "nothing was saved"
            raise UserError(f"training diverged: {where}; {kept}; lower --lr")
        *losses, metric, seen, _ = values
        return dict(zip(self.losses, losses)), metric, int(seen)


def _train_epoch(t: _Training, epoch: int) -> dict[str, Any]:
    cfg, loader = t.cfg, t.loaders.train
    loader.set_epoch(epoch)
    steps = len(loader)
    sums = _Sums(t.device)
    start = time.perf_counter()
    bar = tqdm(loader, total=steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not t.shows_progress,
               leave=False, dynamic_ncols=True)
    for step, (x, y, index) in enumerate(bar):
        lr = lr_at(epoch + step / steps, base_lr=cfg.lr, epochs=cfg.epochs, schedule=cfg.schedule,
                   milestones=cfg.milestones, gamma=cfg.gamma, warmup=cfg.warmup)
        set_lr(t.optimizer, lr)
        t.distiller.epoch = epoch + step / steps
        t.mark_fakes(index)
        with autocast(t.device, cfg.amp):
            out, losses = t.step_fn(x, y, index)
            loss = sum(losses.values())
        t.optimizer.zero_grad(set_to_none=True)
        t.scaler.scale(loss).backward()
        t.scaler.step(t.optimizer)
        t.scaler.update()
        sums.add(step, loss, losses, t.task.metric_sum_tensor(out.detach(), y), len(y))
        if (step + 1) % LOG_EVERY == 0:
            _show_progress(t, sums, epoch, step, steps, lr, time.perf_counter() - start, bar)
    loss_sums, metric_sum, seen = sums.read(epoch, steps - 1, epoch)
    elapsed = time.perf_counter() - start
    record = {f"loss_{k}": v / seen for k, v in loss_sums.items()}
    record.update({"epoch": epoch + 1, "lr": lr, "train_loss": sum(record.values()),
                   f"train_{t.task.metric_name}": t.task.finish_metric(metric_sum, seen),
                   "epoch_time_s": elapsed, "img_per_s": seen / elapsed})
    return record


def _show_progress(t: _Training, sums: _Sums, epoch: int, step: int, steps: int, lr: float, elapsed: float,
                   bar) -> None:
    """Every LOG_EVERY steps: the divergence check, the bar's postfix and TensorBoard's step points."""
    loss_sums, _, seen = sums.read(epoch, step, epoch)
    loss, img_s = sum(loss_sums.values()) / seen, seen / elapsed
    if t.shows_progress:
        bar.set_postfix(loss=f"{loss:.3f}", lr=f"{lr:.4f}", img_s=f"{img_s:.0f}")
    t.board.scalars({"loss": loss, "lr": lr, "img_per_s": img_s}, epoch * steps + step + 1, prefix="step/")


def _better(task, new: float, old: float | None) -> bool:
    return old is None or (new > old if task.higher_is_better else new < old)


def fit(cfg: TrainConfig, *, stop_after_epoch: int | None = None) -> dict[str, Any]:
    """Train per `cfg`, writing the run folder; returns metrics (also in metrics.json).

    `stop_after_epoch` ends the run early as an interruption would (used to test resuming).
    """
    cfg.check()
    world, device = distributed.start(cfg.device)
    tune_for(device)
    cfg = replace(cfg, amp=amp_enabled(cfg.amp, device))
    check_parallel(cfg, world)
    check_output_dir(cfg.out)
    run = RunDir(cfg.out, resume=cfg.resume)
    settings = run_settings(cfg)
    resumable = run.check(settings, RESUME_FREE)
    distributed.barrier()                    # every process has looked at the folder before rank 0 writes
    say = world.is_main and not cfg.quiet
    if resumable and run.file(METRICS).exists():
        if say:
            print(f"{cfg.out}: finished earlier with the same settings; metrics.json kept as it is")
        return json.loads(run.file(METRICS).read_text())
    if say:
        print(f"{cfg.out}: {cfg.preset_choice}")
    requested = cfg
    cfg, data, distiller, student, init_info = _build(cfg, device)
    _check_parallel_data(cfg, world, data)
    arm = identity(requested, settings, init_info)
    duals = attach_aux_bn(student) if cfg.aux_bn else []
    if cfg.sync_bn and world.is_distributed:
        distributed.sync_batchnorm(distiller)

    def mark_fakes(index: torch.Tensor) -> None:      # rows from n_real on are fakes
        if duals:
            set_fake_rows(duals, index >= data.n_real)
    loaders = _loaders(cfg, data, device, world)
    task = data.task
    optimizer = torch.optim.SGD(distiller.trainable_parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                weight_decay=cfg.weight_decay, **optimizer_options(device))
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.amp and device.type == "cuda"
                                  and not torch.cuda.is_bf16_supported())
    start_epoch, best, wall = 0, {}, 0.0
    run.start({**settings, "arm": arm, "schedule_used": {"epochs": cfg.epochs, "milestones": cfg.milestones},
               "task_spec": task.to_dict(), "n_real": data.n_real, "n_fake": data.n_fake,
               "n_matched_fake": data.n_matched_fake, "fake_per_class": data.fake_per_class,
               "pixel_norm": data.pixel_norm.to_dict(), "augment": data.augment.to_spec() if data.augment else None,
               "processes": world.size})
    if data.fake_per_class is not None and say:
        print(f"{cfg.out}: {sum(data.fake_per_class)} fakes{' matched' if cfg.same_steps_as else ''}, "
              f"per class {data.fake_per_class}")
    if cfg.resume and run.has_checkpoint():
        state = run.load_checkpoint(device)
        try:
            distiller.load_state_dict(state["distiller"])
            optimizer.load_state_dict(state["optimizer"])
            scaler.load_state_dict(state["scaler"])
            set_rng_state(state["rng"])
            distributed.set_device_rng_state(state.get("device_rng"), device)
            start_epoch, best, wall = state["epoch"], state["best"], state["wall_time_s"]
        except (KeyError, RuntimeError, ValueError) as err:
            raise UserError(f"{run.checkpoint}: does not fit this run ({type(err).__name__}: "
                            f"{str(err).splitlines()[0][:120]}); delete it to restart the run") from None
        run.truncate_log(start_epoch)
    else:
        stage_start = time.perf_counter()
        # A method's own stage sees whole batches in every process, as in one process (DDP then
        # starts every process from rank 0's result).
        for record in distiller.prepare(_epoch_batches(loaders.train.sharded(0, 1), 0), device):
            run.log({"stage": "prepare", **record})
        wall = time.perf_counter() - stage_start      # a KD method's own first stage counts in the run's time
    step_fn = _step_function(cfg, distiller, device)
    distiller.train()
    board = Board(run.path, cfg.tensorboard and run.writes,
                  resume_step=start_epoch * len(loaders.train) if cfg.resume else None)
    t = _Training(cfg, world, device, task, distiller, step_fn, optimizer, scaler, loaders, mark_fakes, board)
    try:
        outcome = _epochs(t, run, start_epoch, best, wall, stop_after_epoch)
        if "stopped_at_epoch" in outcome:
            return outcome
        record, best, wall = outcome["record"], outcome["best"], outcome["wall"]
    finally:
        board.close()
    if cfg.sync_bn and world.is_distributed:
        distributed.plain_batchnorm(distiller)
    detach_aux_bn(student)
    if cfg.bn_recalibrate:
        record.update(_recalibrated(cfg, distiller, student, data, loaders, device))
        run.log({"stage": "bn_recalibrate", **record})
    return _finish(cfg, run, student, data, record, best, wall, arm)


def _epochs(t: _Training, run: RunDir, start_epoch: int, best: dict, wall: float,
            stop_after_epoch: int | None) -> dict[str, Any]:
    """Epochs start_epoch.. with their evaluations, log lines and checkpoints."""
    cfg, task = t.cfg, t.task
    epochs = tqdm(range(start_epoch, cfg.epochs), desc=f"{cfg.arch}", disable=not t.shows_progress,
                  dynamic_ncols=True, initial=start_epoch, total=cfg.epochs)
    # Resumed after the last epoch's checkpoint (killed before model.pt): that epoch's logged record.
    record: dict[str, Any] = _logged_epoch(run, start_epoch) if start_epoch else {}
    for epoch in epochs:
        t0 = time.perf_counter()
        record = _train_epoch(t, epoch)
        last = epoch + 1 == cfg.epochs
        evaluating = last or (epoch + 1) % cfg.eval_every == 0
        if evaluating:
            distributed.broadcast_state(t.distiller, parameters=False)   # all score rank 0's BN statistics
        for split, loader in (("val", t.loaders.val), ("test", t.loaders.test)):
            if loader is not None and evaluating:
                value = evaluate(t.distiller, loader, task, cfg.amp)
                key = f"{split}_{task.metric_name}"
                record[key] = value
                if _better(task, value, best.get(f"best_{key}")):
                    best[f"best_{key}"], best[f"best_{key}_epoch"] = value, epoch + 1
        wall += time.perf_counter() - t0
        record["wall_time_s"] = wall
        run.log(record)
        t.board.scalars({k: v for k, v in record.items() if k != "epoch"}, (epoch + 1) * len(t.loaders.train),
                        prefix="epoch/")
        epochs.set_postfix({k: f"{v:.2f}" for k, v in record.items() if k.startswith(("test_", "val_"))})
        run.save_checkpoint({"epoch": epoch + 1, "distiller": t.distiller.state_dict(),
                             "optimizer": t.optimizer.state_dict(), "scaler": t.scaler.state_dict(),
                             "rng": rng_state(), "device_rng": distributed.device_rng_state(t.device),
                             "best": best, "wall_time_s": wall})
        t.board.flush()
        if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch and not last:
            return {"stopped_at_epoch": epoch + 1}
    return {"record": record, "best": best, "wall": wall}


def _logged_epoch(run: RunDir, epoch: int) -> dict[str, Any]:
    return next((r for r in reversed(run.read_log()) if r.get("epoch") == epoch and "stage" not in r), {})


def _recalibrated(cfg, distiller, student, data: TrainingData, loaders: Loaders, device) -> dict[str, float]:
    """BN statistics re-estimated on one augmented pass over the real training rows, then the
    held-out splits scored again (these scores replace the last epoch's). Under DDP every process
    makes the same whole pass; rank 0's statistics are then everybody's."""
    real = Split(data.train.images[:data.n_real], data.train.labels[:data.n_real])
    batches = (x for x, _, _ in data.loader(real, cfg.batch_size, device, train=True, seed=cfg.seed + 1))
    seen = recalibrate_bn(student, batches)
    distributed.broadcast_state(student, parameters=False)
    scores = {"bn_recalibrated_on": seen}
    for split, loader in (("val", loaders.val), ("test", loaders.test)):
        if loader is not None:
            scores[f"{split}_{data.task.metric_name}"] = evaluate(distiller, loader, data.task, cfg.amp)
    return scores


def _finish(cfg, run: RunDir, student, data: TrainingData, record, best, wall, arm) -> dict[str, Any]:
    task = data.task
    channels, size, _ = data.img_shape
    if run.writes:
        save_model_checkpoint(run.file(MODEL_FILE), student, arch=cfg.arch,
                              model_kwargs={"num_classes": task.num_classes or 1, "in_channels": channels,
                                            "img_size": size, "task": task.kind},
                              task=task, pixel_norm=data.pixel_norm.to_dict(),
                              extra={"epochs": cfg.epochs, "seed": cfg.seed, "arm": arm})
    metrics = {k: v for k, v in record.items() if k.startswith(("test_", "val_", "train_"))}
    metrics.update(best)
    metrics.update({"arch": cfg.arch, "epochs": cfg.epochs, "seed": cfg.seed, "distill": cfg.distill,
                    "n_real": data.n_real, "n_fake": data.n_fake, "wall_time_s": wall,
                    "metric": task.metric_name})
    run.write_metrics(metrics)
    distributed.barrier()         # the files exist before any process goes on (TAKD's student reads them)
    return metrics
