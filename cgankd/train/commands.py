"""`cgankd train` and `cgankd eval`."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import torch

from ..common.devices import pick_device
from ..common.distributed import is_main_process
from ..data import load_dataset
from ..data.h5 import dataset_attrs
from ..models.trained import MODEL_FILE, TrainedNet
from .config import TrainConfig, config_from_args
from .dataset import normalise_labels
from .loop import fit


def _print_metrics(metrics: dict) -> None:
    if not is_main_process():          # under torchrun, rank 0 speaks for every process
        return
    shown = {k: v for k, v in metrics.items() if k.startswith(("test_", "val_", "best_test", "wall"))}
    print("  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(shown.items())))


def run_takd(cfg: TrainConfig) -> dict:
    """TAKD: teacher → teaching assistant → student, both stages with the TAKD loss. The
    assistant is --ta when given, else trained first into OUT/ta."""
    cfg.check_takd_chain()
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
    net = TrainedNet.load(ckpt, pick_device(device), "evaluated")
    task = net.task
    # The task the file declares, so that a net of the other task is refused; else the net's (a file
    # of whole-number ages declares none, and its labels are no class ids).
    bundle = load_dataset(data, task=None if dataset_attrs(data).get("task") else task.kind)
    net.check_fits(bundle.test.image_shape, bundle.task, bundle.num_classes, data)
    outputs = net.outputs(bundle.test.images)
    labels = torch.as_tensor(normalise_labels(bundle.test.labels, task))
    return f"test_{task.metric_name}", task.finish_metric(task.metric_sum(outputs, labels), len(labels))


def evaluate(args: argparse.Namespace) -> int:
    name, value = evaluate_checkpoint(args.ckpt, args.data, args.device)
    print(f"{name}={value:.4f}")
    return 0
