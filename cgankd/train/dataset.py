"""Assemble what a student trains on: real (optionally a subset, minus a validation split)
plus fakes, with the task, label normalisation and pixel normalisation settled once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..common.devices import memory_format
from ..common.errors import UserError
from ..data import (DataBundle, DeviceLoader, LabelNorm, PixelNorm, Split, load_dataset, read_fake_h5,
                    read_fake_labels, stratified_subset, train_val_split)
from ..data.splits import balanced_quota
from ..data.pipeline import Augment
from ..presets import get_preset
from ..tasks import Task
from .config import TrainConfig


@dataclass
class TrainingData:
    task: Task
    pixel_norm: PixelNorm
    augment: Augment | None
    train: Split          # real (+ fake) images, labels normalised for regression
    val: Split | None
    test: Split
    n_real: int
    n_fake: int
    n_matched_fake: int = 0   # fakes whose extra steps a real-only control (--same-steps-as) takes
    fake_per_class: list[int] | None = None   # of the fakes used (or matched), per class

    def matched_epochs(self, epochs: int) -> int:
        """Epochs over real data only that take as many optimiser steps as `epochs` over
        real + the matched fakes: the real-only control of a cGAN-KD run."""
        return max(1, round(epochs * (self.n_real + self.n_matched_fake) / self.n_real))

    @property
    def img_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.images.shape[1:])

    def loader(self, split: Split, batch_size: int, device: torch.device, *, train: bool, seed: int = 0,
               fake_share: float | None = None) -> DeviceLoader:
        """Batches of `split`; with `fake_share` (the training split of real + fake rows), that share
        of every batch is fake."""
        return DeviceLoader(split.images, split.labels, batch_size, pixel_norm=self.pixel_norm,
                            augment=self.augment if train else None, shuffle=train, drop_last=train,
                            seed=seed, device=device, memory_format=memory_format(device),
                            fake_from=self.n_real if fake_share is not None else None, fake_share=fake_share)


def make_task(bundle: DataBundle, data_section: dict, reference: Task | None, source: str = "the data") -> Task:
    """The task of a dataset; a checkpoint's task (init/teacher), when given, fixes the label norm."""
    if bundle.task == "classification":
        task = Task("classification", num_classes=bundle.num_classes)
    else:
        task = Task("regression", label_norm=regression_label_norm(bundle.train.labels, data_section, source))
    if reference is None:
        return task
    if reference.kind != task.kind or reference.num_classes != task.num_classes:
        raise UserError(f"checkpoint task {reference.kind} ({reference.num_classes} classes) does not match "
                        f"the data's {task.kind} ({task.num_classes} classes)")
    return reference


def regression_label_norm(labels: np.ndarray, data_section: dict, source: str) -> LabelNorm:
    """The preset's regression label normalisation (default: min-max over the training labels),
    which must cover every training label."""
    spec = data_section.get("label_norm", "minmax")
    low, high = float(labels.min()), float(labels.max())
    if spec == "minmax" and low == high:
        raise UserError(f"{source}: every training label is {low:g}; a regression task needs labels that differ")
    norm = LabelNorm.from_spec(spec, labels)
    if norm.normalize(low) < -1e-6 or norm.normalize(high) > 1 + 1e-6:
        raise UserError(f"{source}: training labels span [{low:g}, {high:g}], outside the preset's label range "
                        f"[{norm.low:g}, {norm.high:g}]")
    return norm


def normalise_labels(labels: np.ndarray, task: Task) -> np.ndarray:
    if task.is_regression:
        return task.label_norm.normalize(labels.astype(np.float32)).astype(np.float32)
    return labels.astype(np.int64)


def pick_fake_indices(labels: np.ndarray, nfake: int | None, task: Task, seed: int, where: str = "the fake set"
                      ) -> np.ndarray:
    """Which fakes the student sees, sorted: exactly `nfake` of them (all when None). Classification
    spreads them over the classes as evenly as the file allows (a class with too few fakes gives
    all it has and the others make up the rest); regression takes a random subset. An NFAKE the
    file cannot supply is an error, never a silent cap."""
    if nfake is None:
        return np.arange(len(labels))
    if nfake < 1:
        raise UserError(f"--nfake {nfake}: expected at least 1")
    if nfake > len(labels):
        raise UserError(f"--nfake {nfake}: {where} holds only {len(labels)} fakes")
    rng = np.random.default_rng(seed)
    if task.is_regression:
        return np.sort(rng.choice(len(labels), nfake, replace=False))
    if nfake < task.num_classes:
        raise UserError(f"--nfake {nfake}: fewer than one fake per class ({task.num_classes} classes)")
    sizes = np.bincount(labels, minlength=task.num_classes)
    quota = balanced_quota(sizes, nfake, rng)
    return np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == c), q, replace=False)
                                   for c, q in enumerate(quota) if q]))


def fakes_per_class(labels: np.ndarray, task: Task) -> list[int] | None:
    """How many of the used fakes fall in each class (recorded in config.json); None for regression."""
    return None if task.is_regression else np.bincount(labels, minlength=task.num_classes).tolist()


def load_fakes(path: str, real: Split, task: Task, nfake: int | None, seed: int) -> Split:
    fake, _ = read_fake_h5(path, task.kind, task.num_classes)
    _check_image_shape(path, fake.images.shape[1:], real)
    keep = pick_fake_indices(fake.labels, nfake, task, seed, path)
    return fake if len(keep) == len(fake.labels) else _take(fake, keep)


def count_fakes(path: str, real: Split, task: Task, nfake: int | None, seed: int) -> np.ndarray:
    """The labels of the fakes `load_fakes` would use, read without the images (for --same-steps-as)."""
    labels, image_shape, _ = read_fake_labels(path, task.kind, task.num_classes)
    _check_image_shape(path, image_shape, real)
    return labels[pick_fake_indices(labels, nfake, task, seed, path)]


def _check_image_shape(path: str, image_shape: tuple, real: Split) -> None:
    if tuple(image_shape) != tuple(real.images.shape[1:]):
        raise UserError(f"{path}: fake_images are {tuple(image_shape)} per image, "
                        f"the real data {tuple(real.images.shape[1:])}")


def build_training_data(cfg: TrainConfig, reference_task: Task | None = None,
                        reference_pixel_norm: PixelNorm | None = None) -> TrainingData:
    section = get_preset(cfg.preset)["data"] if cfg.preset else {}
    # The preset's task unless --task: whole-number labels (UTKFace's ages) are not class ids there.
    bundle = load_dataset(cfg.data, task=cfg.task or section.get("task"), num_classes=cfg.num_classes)
    task = make_task(bundle, section, reference_task, cfg.data)
    real = bundle.train
    if cfg.subset is not None:
        real = _take(real, stratified_subset(real.labels, cfg.subset, cfg.seed, task.kind))
    val = None
    if cfg.val_frac > 0:
        train_idx, val_idx = train_val_split(real.labels, cfg.val_frac, cfg.seed, task.kind)
        real, val = _take(real, train_idx), _take(real, val_idx)
    fake = load_fakes(cfg.fake, real, task, cfg.nfake, cfg.seed) if cfg.fake else None
    matched = count_fakes(cfg.same_steps_as, real, task, cfg.nfake, cfg.seed) if cfg.same_steps_as else None
    used = fake.labels if fake is not None else matched
    pixel_norm = reference_pixel_norm or PixelNorm.from_spec(section.get("pixel_norm", "dataset"), real.images)
    augment = (Augment.from_spec(section["augment"], label_norm=task.label_norm)
               if section.get("augment") and not cfg.no_augment else None)
    train = _mix(real, fake, cfg.fake_only)
    return TrainingData(task=task, pixel_norm=pixel_norm, augment=augment,
                        train=_normalised(train, task), val=_normalised(val, task),
                        test=_normalised(bundle.test, task),
                        n_real=0 if cfg.fake_only else len(real.labels),
                        n_fake=0 if fake is None else len(fake.labels),
                        n_matched_fake=0 if matched is None else len(matched),
                        fake_per_class=None if used is None else fakes_per_class(used, task))


def _mix(real: Split, fake: Split | None, fake_only: bool) -> Split:
    """What the student trains on: real, real + fake (one shuffled set), or the fakes alone."""
    if fake is None:
        return real
    if fake_only:
        return fake
    return Split(np.concatenate([real.images, fake.images]),
                 np.concatenate([real.labels.astype(fake.labels.dtype), fake.labels]))


def _normalised(split: Split | None, task: Task) -> Split | None:
    return None if split is None else Split(split.images, normalise_labels(split.labels, task))


def _take(split: Split, idx: np.ndarray) -> Split:
    return Split(split.images[idx], split.labels[idx])
