"""The one training loop: NOKD, KD, cGAN-KD and cGAN-KD + KD, classification and regression.

What differs between those is data (real, or real ∪ fake), the start (fresh, or --init) and
the Distiller (plain task loss, or a KD method); the loop is the same.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from ..common.devices import autocast, memory_format, pick_device
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

@dataclass
class Loaders:
    train: DeviceLoader
    val: DeviceLoader | None
    test: DeviceLoader


@torch.inference_mode()
def evaluate(model: torch.nn.Module, loader: DeviceLoader, task, amp: bool = False) -> float:
    """Top-1 % (classification) or MAE in raw units (regression) over a loader."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for x, y, _ in loader:
        with autocast(x.device, amp):
            out = model(x)
        total += task.metric_sum(out, y)
        count += len(y)
    model.train(was_training)
    return task.finish_metric(total, count)


def _build(cfg: TrainConfig, device: torch.device
           ) -> tuple[TrainConfig, TrainingData, Distiller, torch.nn.Module, dict | None]:
    """Data, student and distiller; for a real-only control (--same-steps-as) also the config
    stretched to the cGAN-KD run's number of optimiser steps; and what the --init checkpoint records."""
    teacher = TrainedNet.load(cfg.teacher, device, "teacher") if cfg.teacher else None
    init = TrainedNet.load(cfg.init, device, "--init") if cfg.init else None
    reference = init or teacher
    data = build_training_data(cfg, reference_task=reference.task if reference else None,
                               reference_pixel_norm=reference.pixel_norm if reference else None)
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


def _loaders(cfg: TrainConfig, data: TrainingData, device: torch.device) -> Loaders:
    eval_batch = max(cfg.batch_size, 256)
    return Loaders(train=data.loader(data.train, cfg.batch_size, device, train=True, seed=cfg.seed,
                                     fake_share=cfg.fake_share),
                   val=data.loader(data.val, eval_batch, device, train=False) if data.val else None,
                   test=data.loader(data.test, eval_batch, device, train=False))


def _epoch_batches(loader: DeviceLoader, epoch: int):
    def batches():
        loader.set_epoch(epoch)
        return iter(loader)
    return batches


def _train_epoch(cfg, epoch, distiller, optimizer, scaler, loaders, task, device, step_fn,
                 mark_fakes) -> dict[str, Any]:
    loader = loaders.train
    loader.set_epoch(epoch)
    sums: dict[str, float] = {}
    metric_sum, seen, start = 0.0, 0, time.perf_counter()
    bar = tqdm(loader, total=len(loader), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=cfg.quiet,
               leave=False, dynamic_ncols=True)
    for step, (x, y, index) in enumerate(bar):
        progress = epoch + step / len(loader)
        lr = lr_at(progress, base_lr=cfg.lr, epochs=cfg.epochs, schedule=cfg.schedule,
                   milestones=cfg.milestones, gamma=cfg.gamma, warmup=cfg.warmup)
        set_lr(optimizer, lr)
        distiller.epoch = progress
        mark_fakes(index)
        with autocast(device, cfg.amp):
            out, losses = step_fn(x, y, index)
            loss = sum(losses.values())
        if not torch.isfinite(loss):
            kept = (f"last.pt keeps the last good state (end of epoch {epoch})" if epoch else "nothing was saved")
            raise UserError(f"training diverged: the loss became {loss.item()} at epoch {epoch + 1}, step {step}; "
                            f"{kept}; lower --lr")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        for name, value in losses.items():
            sums[name] = sums.get(name, 0.0) + value.item() * len(y)
        metric_sum += task.metric_sum(out.detach(), y)
        seen += len(y)
        if step % 10 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.4f}",
                            img_s=f"{seen / (time.perf_counter() - start):.0f}")
    elapsed = time.perf_counter() - start
    record = {f"loss_{k}": v / seen for k, v in sums.items()}
    record.update({"epoch": epoch + 1, "lr": lr, "train_loss": sum(record.values()),
                   f"train_{task.metric_name}": task.finish_metric(metric_sum, seen),
                   "epoch_time_s": elapsed, "img_per_s": seen / elapsed})
    return record


def _better(task, new: float, old: float | None) -> bool:
    return old is None or (new > old if task.higher_is_better else new < old)


def fit(cfg: TrainConfig, *, stop_after_epoch: int | None = None) -> dict[str, Any]:
    """Train per `cfg`, writing the run folder; returns metrics (also in metrics.json).

    `stop_after_epoch` ends the run early as an interruption would (used to test resuming).
    """
    cfg.check()
    device = pick_device(cfg.device)
    check_output_dir(cfg.out)
    run = RunDir(cfg.out, resume=cfg.resume)
    settings = run_settings(cfg)
    if run.check(settings, RESUME_FREE) and run.file(METRICS).exists():
        if not cfg.quiet:
            print(f"{cfg.out}: finished earlier with the same settings; metrics.json kept as it is")
        return json.loads(run.file(METRICS).read_text())
    if not cfg.quiet:
        print(f"{cfg.out}: {cfg.preset_choice}")
    requested = cfg
    cfg, data, distiller, student, init_info = _build(cfg, device)
    arm = identity(requested, settings, init_info)
    duals = attach_aux_bn(student) if cfg.aux_bn else []

    def mark_fakes(index: torch.Tensor) -> None:      # rows from n_real on are fakes
        if duals:
            set_fake_rows(duals, index >= data.n_real)
    loaders = _loaders(cfg, data, device)
    task = data.task
    optimizer = torch.optim.SGD(distiller.trainable_parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                weight_decay=cfg.weight_decay)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.amp and device.type == "cuda"
                                  and not torch.cuda.is_bf16_supported())
    start_epoch, best, wall = 0, {}, 0.0
    run.start({**settings, "arm": arm, "schedule_used": {"epochs": cfg.epochs, "milestones": cfg.milestones},
               "task_spec": task.to_dict(), "n_real": data.n_real, "n_fake": data.n_fake,
               "n_matched_fake": data.n_matched_fake, "fake_per_class": data.fake_per_class,
               "pixel_norm": data.pixel_norm.to_dict(), "augment": data.augment.to_spec() if data.augment else None})
    if data.fake_per_class is not None and not cfg.quiet:
        print(f"{cfg.out}: {sum(data.fake_per_class)} fakes{' matched' if cfg.same_steps_as else ''}, "
              f"per class {data.fake_per_class}")
    if cfg.resume and run.has_checkpoint():
        state = run.load_checkpoint(device)
        try:
            distiller.load_state_dict(state["distiller"])
            optimizer.load_state_dict(state["optimizer"])
            scaler.load_state_dict(state["scaler"])
            set_rng_state(state["rng"])
            start_epoch, best, wall = state["epoch"], state["best"], state["wall_time_s"]
        except (KeyError, RuntimeError, ValueError) as err:
            raise UserError(f"{run.checkpoint}: does not fit this run ({type(err).__name__}: "
                            f"{str(err).splitlines()[0][:120]}); delete it to restart the run") from None
        run.truncate_log(start_epoch)
    else:
        stage_start = time.perf_counter()
        for record in distiller.prepare(_epoch_batches(loaders.train, 0), device):
            run.log({"stage": "prepare", **record})
        wall = time.perf_counter() - stage_start      # a KD method's own first stage counts in the run's time
    step_fn = torch.compile(distiller.forward_train) if cfg.compile else distiller.forward_train
    distiller.train()
    epochs = tqdm(range(start_epoch, cfg.epochs), desc=f"{cfg.arch}", disable=cfg.quiet, dynamic_ncols=True,
                  initial=start_epoch, total=cfg.epochs)
    for epoch in epochs:
        t0 = time.perf_counter()
        record = _train_epoch(cfg, epoch, distiller, optimizer, scaler, loaders, task, device, step_fn,
                              mark_fakes)
        last = epoch + 1 == cfg.epochs
        for split, loader in (("val", loaders.val), ("test", loaders.test)):
            if loader is not None and (last or (epoch + 1) % cfg.eval_every == 0):
                value = evaluate(distiller, loader, task, cfg.amp)
                key = f"{split}_{task.metric_name}"
                record[key] = value
                if _better(task, value, best.get(f"best_{key}")):
                    best[f"best_{key}"], best[f"best_{key}_epoch"] = value, epoch + 1
        wall += time.perf_counter() - t0
        record["wall_time_s"] = wall
        run.log(record)
        epochs.set_postfix({k: f"{v:.2f}" for k, v in record.items() if k.startswith(("test_", "val_"))})
        run.save_checkpoint({"epoch": epoch + 1, "distiller": distiller.state_dict(),
                             "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                             "rng": rng_state(), "best": best, "wall_time_s": wall})
        if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch and not last:
            return {"stopped_at_epoch": epoch + 1}
    detach_aux_bn(student)
    if cfg.bn_recalibrate:
        record.update(_recalibrated(cfg, distiller, student, data, loaders, device))
        run.log({"stage": "bn_recalibrate", **record})
    return _finish(cfg, run, student, data, record, best, wall, arm)


def _recalibrated(cfg, distiller, student, data: TrainingData, loaders: Loaders, device) -> dict[str, float]:
    """BN statistics re-estimated on one augmented pass over the real training rows, then the
    held-out splits scored again (these scores replace the last epoch's)."""
    real = Split(data.train.images[:data.n_real], data.train.labels[:data.n_real])
    batches = (x for x, _, _ in data.loader(real, cfg.batch_size, device, train=True, seed=cfg.seed + 1))
    seen = recalibrate_bn(student, batches)
    scores = {"bn_recalibrated_on": seen}
    for split, loader in (("val", loaders.val), ("test", loaders.test)):
        if loader is not None:
            scores[f"{split}_{data.task.metric_name}"] = evaluate(distiller, loader, data.task, cfg.amp)
    return scores


def _finish(cfg, run: RunDir, student, data: TrainingData, record, best, wall, arm) -> dict[str, Any]:
    task = data.task
    channels, size, _ = data.img_shape
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
    return metrics
