"""Checks on dataset files: each failure is one UserError line naming the file, the key and what was expected.

Shape and dtype checks take anything with `.shape` and `.dtype` (an h5py Dataset or a numpy
array), so they run on the file's metadata before any data is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..common.errors import UserError


def check_h5_path(path: str | Path) -> Path:
    """The path exists, is a non-empty file, and starts with the HDF5 signature."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file (expected an .h5 dataset file)")
    if not path.is_file():
        raise UserError(f"{path}: not a file (expected an .h5 dataset file)")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: the file is empty (0 bytes), expected an HDF5 file")
    if not h5py.is_hdf5(path):
        raise UserError(f"{path}: not an HDF5 file (expected an .h5 file written with h5py)")
    return path


def check_keys_present(path: Path, found: list[str], needed: list[str], expected: str) -> None:
    for key in needed:
        if key not in found:
            listing = ", ".join(sorted(found)) or "nothing"
            raise UserError(f"{path}: missing key '{key}' (expected {expected}; found: {listing})")


def check_images(path: Path, key: str, images: Any) -> None:
    """uint8, N x C x H x W, C in {1, 3}, H == W, N > 0."""
    shape = tuple(images.shape)
    if images.dtype != np.uint8:
        raise UserError(f"{path}: key '{key}' has dtype {images.dtype}, expected uint8 images")
    if len(shape) != 4:
        raise UserError(f"{path}: key '{key}' has shape {shape}, expected 4 dimensions N x C x H x W")
    n, c, h, w = shape
    if c not in (1, 3):
        raise UserError(f"{path}: key '{key}' has {c} channels (shape {shape}), "
                        "expected 1 or 3 channels in layout N x C x H x W")
    if h != w:
        raise UserError(f"{path}: key '{key}' has images of H x W = {h} x {w}, expected square images (H == W)")
    if n == 0:
        raise UserError(f"{path}: key '{key}' holds 0 images, expected a non-empty split")


def check_same_image_size(path: Path, key: str, shape: tuple, ref_key: str, ref_shape: tuple) -> None:
    if tuple(shape[1:]) != tuple(ref_shape[1:]):
        size, ref = "x".join(map(str, shape[1:])), "x".join(map(str, ref_shape[1:]))
        raise UserError(f"{path}: key '{key}' has images of {size} but '{ref_key}' has {ref}, "
                        "expected the same C x H x W in every split")


def check_label_layout(path: Path, key: str, labels: Any, n_images: int, images_key: str) -> None:
    """Numeric dtype, shape (N,) or (N, 1), one label per image."""
    shape = tuple(labels.shape)
    if labels.dtype.kind not in "iuf":
        raise UserError(f"{path}: key '{key}' has dtype {labels.dtype}, expected integer or float labels")
    if len(shape) == 0 or len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
        raise UserError(f"{path}: key '{key}' has shape {shape}, expected one label per image, shape (N,)")
    if shape[0] != n_images:
        raise UserError(f"{path}: key '{key}' has {shape[0]} labels but '{images_key}' has {n_images} images, "
                        "expected one label per image")


def check_finite(path: Path, key: str, labels: np.ndarray) -> None:
    if labels.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(labels)))
        if bad:
            raise UserError(f"{path}: key '{key}' has {bad} NaN/inf values, expected finite labels")


def check_class_ids(path: Path, key: str, labels: np.ndarray, num_classes: int | None) -> None:
    """Integer-valued, >= 0, and < num_classes when it is known."""
    if labels.dtype.kind == "f":
        frac = labels[labels != np.round(labels)]
        if frac.size:
            raise UserError(f"{path}: key '{key}' has non-integer class id {frac[0]:g}, "
                            "expected integer class ids for a classification task")
    low, high = labels.min(), labels.max()
    if low < 0:
        raise UserError(f"{path}: key '{key}' has class id {low:g}, expected class ids >= 0")
    if num_classes is not None and high >= num_classes:
        raise UserError(f"{path}: key '{key}' has class id {high:g}, "
                        f"expected class ids 0..{num_classes - 1} (num_classes {num_classes})")


def check_every_class_present(path: Path, key: str, labels: np.ndarray, num_classes: int) -> None:
    """Every class id 0..K-1 occurs: a gap (e.g. class 3 relabelled 250) would train empty classes."""
    missing = np.setdiff1d(np.arange(num_classes), np.unique(labels.astype(np.int64)))
    if len(missing):
        shown = ", ".join(str(m) for m in missing[:10]) + (f" (+{len(missing) - 10} more)" if len(missing) > 10 else "")
        raise UserError(f"{path}: key '{key}' has no image of class id {shown} of 0..{num_classes - 1}; "
                        "expected every class to have training images (pass --num-classes K if empty classes "
                        "are meant)")


def check_task_name(path: Path, task: Any, where: str) -> str:
    if task not in ("classification", "regression"):
        raise UserError(f"{path}: {where} is {task!r}, expected 'classification' or 'regression'")
    return task


def check_num_classes(path: Path, value: Any) -> int:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if not ok or not np.isfinite(value) or value != int(value) or value < 1:
        raise UserError(f"{path}: attribute 'num_classes' is {value!r}, expected a positive integer")
    return int(value)


# ---------------------------------------------------------------- summary

def summarize_split(name: str, images: np.ndarray, labels: np.ndarray, task: str,
                    num_classes: int | None = None) -> str:
    """One line: count, image shape and dtype, and the labels (range and moments, or class counts)."""
    head = f"  {name:<5} {len(images):>7} images {images.dtype} {'x'.join(map(str, images.shape[1:]))}"
    if task == "regression":
        y = labels.astype(np.float64)
        return (f"{head}; labels {labels.dtype} min {y.min():.5g} max {y.max():.5g} "
                f"mean {y.mean():.4g} std {y.std():.4g}")
    counts = np.bincount(labels.astype(np.int64), minlength=num_classes or 0)
    if len(counts) <= 20:
        per_class = " ".join(f"{k}:{c}" for k, c in enumerate(counts))
    else:
        per_class = f"min {counts.min()} max {counts.max()} mean {counts.mean():.1f} per class"
    return f"{head}; labels {labels.dtype} {labels.min()}..{labels.max()}; counts {per_class}"


def _short(value: Any, limit: int = 80) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def summarize(bundle) -> str:
    """A few lines describing a DataBundle (for `cgankd data check`)."""
    kind = f"classification, {bundle.num_classes} classes" if bundle.task == "classification" else "regression"
    lines = [f"{bundle.name}: {kind}, {bundle.channels}x{bundle.img_size}x{bundle.img_size} images"]
    for split_name, split in (("train", bundle.train), ("test", bundle.test)):
        lines.append(summarize_split(split_name, split.images, split.labels, bundle.task, bundle.num_classes))
    lines += [f"  attr  {key} = {_short(value)}" for key, value in sorted(bundle.attrs.items())]
    return "\n".join(lines)
