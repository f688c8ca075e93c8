"""A dataset in memory: its splits, task and class count, and the label checks every source shares
(h5 files, CIFAR-100 pickle folders)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from . import validate as V


@dataclass
class Split:
    """One split: uint8 images N x C x H x W and labels (int64 class ids or float32 raw values)."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])


@dataclass
class DataBundle:
    """A dataset: train and test splits, the task, and the file's attributes."""

    train: Split
    test: Split
    task: str                      # "classification" | "regression"
    num_classes: int | None
    name: str
    attrs: dict = field(default_factory=dict)

    @property
    def channels(self) -> int:
        return self.train.images.shape[1]

    @property
    def img_size(self) -> int:
        return self.train.images.shape[2]

    @property
    def is_regression(self) -> bool:
        return self.task == "regression"



# ---------------------------------------------------------------- settling labels

def make_bundle(path: Path, train: Split, test: Split, task: str | None, attrs: dict,
                label_keys: tuple[str, str], num_classes: int | None = None) -> DataBundle:
    """Settle the task, check label values, cast labels (int64 / float32) and count classes.

    The class count is `num_classes` (the user's --num-classes), else the file's `num_classes`
    attribute, else the largest id + 1. Unless the user stated it, every class 0..K-1 must have
    training images: a gap in the ids is an error, not a silently empty class."""
    task = resolve_task(path, task, attrs, train.labels.dtype)
    for split, key in zip((train, test), label_keys):
        V.check_finite(path, key, split.labels)
    if task == "classification":
        stated = num_classes is not None
        if stated:
            num_classes = V.check_num_classes(path, num_classes)
        elif "num_classes" in attrs:
            num_classes = V.check_num_classes(path, attrs["num_classes"])
        for split, key in zip((train, test), label_keys):
            V.check_class_ids(path, key, split.labels, num_classes)
        if num_classes is None:
            num_classes = int(max(train.labels.max(), test.labels.max())) + 1
        if not stated:
            V.check_every_class_present(path, label_keys[0], train.labels, num_classes)
    else:
        num_classes = None
    splits = [Split(s.images, cast_labels(s.labels, task)) for s in (train, test)]
    name = str(attrs.get("name") or path.stem)
    return DataBundle(splits[0], splits[1], task, num_classes, name, attrs)


def resolve_task(path: Path, task: str | None, attrs: Mapping[str, Any], label_dtype: np.dtype) -> str:
    """The `task` argument, else the file's `task` attribute, else int labels -> classification."""
    if task is not None:
        return V.check_task_name(path, task, "the task")
    if "task" in attrs:
        return V.check_task_name(path, attrs["task"], "attribute 'task'")
    return "regression" if np.dtype(label_dtype).kind == "f" else "classification"


def cast_labels(labels: np.ndarray, task: str) -> np.ndarray:
    return labels.astype(np.int64 if task == "classification" else np.float32, copy=False)
