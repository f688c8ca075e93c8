"""CIFAR-100 from torchvision's `cifar-100-python` folder, read directly (no download, no Dataset object).

The folder holds pickled dicts `train` and `test` with b"data" (N x 3072 uint8, channel-major
32x32 planes) and b"fine_labels"; `meta` has b"fine_label_names".
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from ..common.errors import UserError
from .bundle import DataBundle, Split, make_bundle
from . import validate as V

FOLDER_NAME = "cifar-100-python"
NUM_CLASSES = 100


def find_cifar100_folder(path: str | Path) -> Path:
    """The folder itself when it holds `train` and `test`, else its `cifar-100-python` child."""
    path = Path(path)
    for candidate in (path, path / FOLDER_NAME):
        if (candidate / "train").is_file() and (candidate / "test").is_file():
            return candidate
    raise UserError(f"{path}: not a dataset file, and no CIFAR-100 folder here (expected the pickles "
                    f"'train' and 'test' of torchvision's {FOLDER_NAME}, in this folder or in {path / FOLDER_NAME})")


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="bytes")
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
        raise UserError(f"{path}: cannot be read as a CIFAR-100 pickle ({type(err).__name__}: {err})") from None


def _read_split(path: Path) -> Split:
    batch = _unpickle(path)
    if not isinstance(batch, dict) or b"data" not in batch or b"fine_labels" not in batch:
        found = ", ".join(str(k) for k in batch) if isinstance(batch, dict) else type(batch).__name__
        raise UserError(f"{path}: missing key b'data' or b'fine_labels' (expected a CIFAR-100 pickle; found: {found})")
    data = np.asarray(batch[b"data"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise UserError(f"{path}: key b'data' has dtype {data.dtype} and shape {data.shape}, "
                        "expected uint8 of shape (N, 3072)")
    images = data.reshape(-1, 3, 32, 32)
    labels = np.asarray(batch[b"fine_labels"])
    V.check_images(path, "data", images)
    V.check_label_layout(path, "fine_labels", labels, len(images), "data")
    return Split(images, labels)


def _class_names(folder: Path) -> list[str] | None:
    meta = folder / "meta"
    if not meta.is_file():
        return None
    names = _unpickle(meta).get(b"fine_label_names")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names] if names else None


def load_cifar100(path: str | Path, task: str | None = None, num_classes: int | None = None) -> DataBundle:
    """CIFAR-100 (50,000 train / 10,000 test, 3 x 32 x 32, 100 classes) from the pickled folder."""
    folder = find_cifar100_folder(path)
    if task not in (None, "classification"):
        raise UserError(f"{folder}: CIFAR-100 is a classification dataset, got task {task!r}")
    train, test = _read_split(folder / "train"), _read_split(folder / "test")
    attrs = {"task": "classification", "num_classes": NUM_CLASSES, "name": "CIFAR-100", "source": str(folder)}
    names = _class_names(folder)
    if names:
        attrs["class_names"] = names
    return make_bundle(folder, train, test, None, attrs, label_keys=("train fine_labels", "test fine_labels"),
                       num_classes=num_classes)
