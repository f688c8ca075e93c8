"""`cgankd train` and `cgankd eval`."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from ..common.devices import pick_device
from ..common.errors import UserError
from ..data import load_dataset
from ..data.pipeline import DeviceLoader, PixelNorm
from ..models.checkpoint import load_model
from .config import TrainConfig, config_from_args
from .dataset import normalise_labels
from .loop import MODEL_FILE, evaluate as evaluate_loader, fit


def _print_metrics(metrics: dict) -> None:
    shown = {k: v for k, v in metrics.items() if k.startswith(("test_", "val_", "best_test", "wall"))}
    print("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(shown.items())))


def run_takd(cfg: TrainConfig) -> dict:
    """TAKD: teacher → teaching assistant → student, both stages with the TAKD loss. The
    assistant is --ta when given, else trained first into OUT/ta."""
    ta = cfg.ta
    if ta is None:
        ta_cfg = replace(cfg, arch=cfg.ta_arch, out=str(Path(cfg.out) / "ta"), ta_arch=None)
        fit(ta_cfg)
        ta = str(Path(ta_cfg.out) / MODEL_FILE)
    return fit(replace(cfg, teacher=ta, ta_arch=None, ta=None))


def train(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    metrics = run_takd(cfg) if cfg.distill == "takd" else fit(cfg)
    _print_metrics(metrics)
    return 0


def evaluate_checkpoint(ckpt: str, data: str, device: str = "auto") -> tuple[str, float]:
    """(metric name, value) of a `cgankd train` checkpoint on a dataset's test split."""
    dev = pick_device(device)
    model, info = load_model(ckpt, device=dev)
    task = info.get("task")
    if task is None or not info.get("pixel_norm"):
        raise UserError(f"{ckpt}: no task / pixel normalisation recorded; evaluate checkpoints written by `cgankd train`")
    bundle = load_dataset(data, task=task.kind)
    loader = DeviceLoader(bundle.test.images, normalise_labels(bundle.test.labels, task), 256,
                          pixel_norm=PixelNorm.from_dict(info["pixel_norm"]), shuffle=False, drop_last=False,
                          device=dev)
    return f"test_{task.metric_name}", evaluate_loader(model, loader, task)


def evaluate(args: argparse.Namespace) -> int:
    name, value = evaluate_checkpoint(args.ckpt, args.data, args.device)
    print(f"{name}={value:.4f}")
    return 0
