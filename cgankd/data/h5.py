"""Dataset and fake-set h5 files, in the reference repo's formats (docs/formats.md).

Real sets: `images_train`, `labels_train` and a test split under `images_test`/`labels_test`
(SteeringAngle, UTKFace) or `images_valid`/`labels_valid` (ImageNet-100). Fake sets:
`fake_images`, `fake_labels`. Images are uint8 N x C x H x W; labels are class ids or raw
regression values. Attributes are h5 attrs; dict, list and None values are JSON strings.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any, Iterator, Mapping

import h5py
import numpy as np

from ..common.errors import UserError
from ..common.files import atomic_path
from . import validate as V
from .bundle import DataBundle, Split, cast_labels, make_bundle, resolve_task
from .cifar import load_cifar100

TRAIN_KEYS = ("images_train", "labels_train")
TEST_KEY_SCHEMES = (("images_test", "labels_test"), ("images_valid", "labels_valid"))
FAKE_KEYS = ("fake_images", "fake_labels")
_DATASET_KEYS_TEXT = "images_train, labels_train and images_test, labels_test (or images_valid, labels_valid)"
_FAKE_KEYS_TEXT = "fake_images, fake_labels"


# ---------------------------------------------------------------- attributes

def encode_attr(value: Any) -> Any:
    """A value h5 can store: scalars and strings as they are, containers and None as JSON."""
    if value is None or isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str)
    if isinstance(value, (str, bool, int, float, np.generic)):
        return value
    return str(value)


def decode_attr(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str) and (value == "null" or value[:1] in ("[", "{")):
        with contextlib.suppress(json.JSONDecodeError):
            return json.loads(value)
    return value


def _read_attrs(f: h5py.File) -> dict:
    return {key: decode_attr(value) for key, value in f.attrs.items()}


def _write_attrs(f: h5py.File, attrs: Mapping[str, Any] | None) -> None:
    for key, value in (attrs or {}).items():
        f.attrs[key] = encode_attr(value)


@contextlib.contextmanager
def _open_h5(path: Path) -> Iterator[h5py.File]:
    """Open for reading; an unreadable file (truncated, corrupt) is a UserError, not a traceback."""
    try:
        with h5py.File(path, "r") as f:
            yield f
    except OSError as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UserError(f"{path}: cannot be read as HDF5 ({reason})") from None


# ---------------------------------------------------------------- reading

def load_dataset(path: str | Path, task: str | None = None, num_classes: int | None = None) -> DataBundle:
    """A validated dataset from an h5 file (either key scheme) or a CIFAR-100 folder; `num_classes`
    is a class count the user states (see `make_bundle`)."""
    path = Path(path)
    if path.is_dir():
        return load_cifar100(path, task=task, num_classes=num_classes)
    return load_h5_dataset(path, task=task, num_classes=num_classes)


def dataset_attrs(path: str | Path) -> dict:
    """The attributes of a dataset file (none for a CIFAR-100 folder), without reading its arrays."""
    path = Path(path)
    if path.is_dir():
        return {}
    with _open_h5(V.check_h5_path(path)) as f:
        return _read_attrs(f)


def load_h5_dataset(path: str | Path, task: str | None = None, num_classes: int | None = None) -> DataBundle:
    path = V.check_h5_path(path)
    with _open_h5(path) as f:
        keys = list(f.keys())
        test_keys = next((s for s in TEST_KEY_SCHEMES if s[0] in keys or s[1] in keys), TEST_KEY_SCHEMES[0])
        V.check_keys_present(path, keys, [*TRAIN_KEYS, *test_keys], _DATASET_KEYS_TEXT)
        attrs = _read_attrs(f)
        for images_key, labels_key in (TRAIN_KEYS, test_keys):
            _check_split_layout(path, f[images_key], f[labels_key], images_key, labels_key)
        V.check_same_image_size(path, test_keys[0], f[test_keys[0]].shape, TRAIN_KEYS[0], f[TRAIN_KEYS[0]].shape)
        train = Split(f[TRAIN_KEYS[0]][()], f[TRAIN_KEYS[1]][()].reshape(-1))
        test = Split(f[test_keys[0]][()], f[test_keys[1]][()].reshape(-1))
    return make_bundle(path, train, test, task, attrs, label_keys=(TRAIN_KEYS[1], test_keys[1]),
                       num_classes=num_classes)


def _check_split_layout(path: Path, images: Any, labels: Any, images_key: str, labels_key: str) -> None:
    V.check_images(path, images_key, images)
    V.check_label_layout(path, labels_key, labels, images.shape[0], images_key)


def read_fake_h5(path: str | Path, task: str | None = None,
                 num_classes: int | None = None) -> tuple[Split, dict]:
    """Fake images and labels (checked like a real split) and the file's attributes."""
    images, labels, _, attrs = _read_fake(path, task, num_classes, with_images=True)
    return Split(images, labels), attrs


def read_fake_labels(path: str | Path, task: str | None = None,
                     num_classes: int | None = None) -> tuple[np.ndarray, tuple[int, ...], dict]:
    """A fake set's labels, its per-image shape and its attributes, with the checks of
    `read_fake_h5` but without reading the images."""
    _, labels, shape, attrs = _read_fake(path, task, num_classes, with_images=False)
    return labels, shape, attrs


def _read_fake(path, task, num_classes, with_images: bool
               ) -> tuple[np.ndarray | None, np.ndarray, tuple[int, ...], dict]:
    path = V.check_h5_path(path)
    with _open_h5(path) as f:
        V.check_keys_present(path, list(f.keys()), list(FAKE_KEYS), _FAKE_KEYS_TEXT)
        _check_split_layout(path, f[FAKE_KEYS[0]], f[FAKE_KEYS[1]], *FAKE_KEYS)
        attrs = _read_attrs(f)
        shape = tuple(f[FAKE_KEYS[0]].shape[1:])
        images = f[FAKE_KEYS[0]][()] if with_images else None
        labels = f[FAKE_KEYS[1]][()].reshape(-1)
    task = resolve_task(path, task, attrs, labels.dtype)
    V.check_finite(path, FAKE_KEYS[1], labels)
    if task == "classification":
        if num_classes is None and "num_classes" in attrs:
            num_classes = V.check_num_classes(path, attrs["num_classes"])
        V.check_class_ids(path, FAKE_KEYS[1], labels, num_classes)
    return images, cast_labels(labels, task), shape, attrs


def h5_keys(path: str | Path) -> list[str]:
    """The top-level keys of a valid h5 file (to tell a fake set from a real one)."""
    path = V.check_h5_path(path)
    with _open_h5(path) as f:
        return list(f.keys())


# ---------------------------------------------------------------- writing

def write_dataset_h5(path: str | Path, train: Split, test: Split, attrs: Mapping[str, Any] | None = None) -> None:
    """Write a real dataset with the SteeringAngle keys, atomically."""
    path = Path(path)
    pairs = ((TRAIN_KEYS, train), (TEST_KEY_SCHEMES[0], test))
    for (images_key, labels_key), split in pairs:
        _check_split_layout(path, split.images, np.asarray(split.labels), images_key, labels_key)
    V.check_same_image_size(path, "images_test", test.images.shape, "images_train", train.images.shape)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for (images_key, labels_key), split in pairs:
            f.create_dataset(images_key, data=np.ascontiguousarray(split.images))
            f.create_dataset(labels_key, data=np.asarray(split.labels).reshape(-1))
        _write_attrs(f, attrs)


def write_fake_h5(path: str | Path, images: np.ndarray, labels: np.ndarray,
                  attrs: Mapping[str, Any] | None = None) -> None:
    """Write a fake set (`fake_images`, `fake_labels`, provenance attrs), atomically."""
    path = Path(path)
    images, labels = np.asarray(images), np.asarray(labels)
    _check_split_layout(path, images, labels, *FAKE_KEYS)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset(FAKE_KEYS[0], data=np.ascontiguousarray(images))
        f.create_dataset(FAKE_KEYS[1], data=labels.reshape(-1))
        _write_attrs(f, attrs)
