"""The embedded datasets: Fashion-MNIST (classification) and Rotated Fashion-MNIST (regression).

Raw idx files are looked for in OUT/raw/, then in the Debian package dataset-fashion-mnist
(/usr/share/datasets/fashion-mnist/), then fetched from torchvision's mirror when online.
Rotated Fashion-MNIST rotates every image by an angle drawn uniformly from [-90, 90] degrees
(counter-clockwise positive, bilinear, zero fill, same 28x28 size); the label is the angle.
"""

from __future__ import annotations

import gzip
import hashlib
import urllib.request
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..common.errors import UserError
from ..common.files import atomic_path
from .h5 import Split, load_h5_dataset, write_dataset_h5

SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
RAW_FILES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
             "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]
OUTPUT_FILES = {"fashion-mnist": "FashionMNIST_28x28.h5", "rotated-fashion-mnist": "RotatedFashionMNIST_28x28.h5",
                "rotated-fashion-mnist-45": "RotatedFashionMNIST45_28x28.h5"}
# Rotation ranges (degrees). Near +-90 a garment and its upside-down twin look alike, so angles
# there are ambiguous; the +-45 variant has no such pairs (a well-posed regression task).
ANGLE_RANGES = {"rotated-fashion-mnist": (-90.0, 90.0), "rotated-fashion-mnist-45": (-45.0, 45.0)}
_IDX_UINT8 = 0x08


# ---------------------------------------------------------------- idx files

def read_idx(path: str | Path, ndim: int) -> np.ndarray:
    """An idx array of uint8 (the MNIST format), from a plain or gzipped file; the magic number is checked."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:
        raise UserError(f"{path}: cannot be read ({err})") from None
    magic = data[:4]
    if len(data) < 4 + 4 * ndim or magic[:2] != b"\0\0" or magic[2] != _IDX_UINT8 or magic[3] != ndim:
        raise UserError(f"{path}: bad idx magic number {magic.hex()}, expected 0000080{ndim} "
                        f"(uint8 idx file with {ndim} dimension{'s' if ndim > 1 else ''})")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise UserError(f"{path}: holds {body.size} bytes of data, expected {int(np.prod(shape))} for shape {shape}")
    return body.reshape(shape)


def _find_file(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def find_raw_dir(out_dir: Path) -> Path | None:
    """The first folder with all four idx files: OUT/raw/, then the Debian package's folder."""
    for folder in (out_dir / "raw", SYSTEM_DIR):
        if all(_find_file(folder, stem) for stem in RAW_FILES.values()):
            return folder
    return None


def download_raw(raw_dir: Path, timeout: float = 30.0) -> Path | None:
    """Fetch the four .gz files from torchvision's mirror into `raw_dir`; None when offline."""
    try:
        from torchvision.datasets import FashionMNIST
        mirrors, resources = FashionMNIST.mirrors, FashionMNIST.resources
    except (ImportError, AttributeError):
        return None
    for filename, md5 in resources:
        if (raw_dir / filename).is_file():
            continue
        for mirror in mirrors:
            try:
                with urllib.request.urlopen(mirror + filename, timeout=timeout) as response:
                    payload = response.read()
            except OSError:
                continue
            if hashlib.md5(payload).hexdigest() == md5:
                with atomic_path(raw_dir / filename) as tmp:
                    tmp.write_bytes(payload)
                break
        else:
            return None
    return raw_dir


def locate_raw(out_dir: Path, allow_download: bool = True) -> tuple[Path, str]:
    """The folder of idx files and a description of where they came from."""
    found = find_raw_dir(out_dir)
    if found is not None:
        return found, str(found)
    if allow_download and download_raw(out_dir / "raw") is not None:
        return out_dir / "raw", f"torchvision mirror {_mirror_name()} -> {out_dir / 'raw'}"
    raise UserError(f"Fashion-MNIST not found in {out_dir / 'raw'} or {SYSTEM_DIR}, and the download failed; "
                    "install it with `apt-get install dataset-fashion-mnist`, or copy train-images-idx3-ubyte.gz, "
                    "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz "
                    f"to {out_dir / 'raw'}/")


def _mirror_name() -> str:
    from torchvision.datasets import FashionMNIST
    return FashionMNIST.mirrors[0]


def read_fashion_mnist(raw_dir: Path) -> tuple[Split, Split]:
    """Train (60,000) and test (10,000) splits, images 1 x 28 x 28 uint8, labels int64 0..9."""
    arrays = {}
    for key, stem in RAW_FILES.items():
        arrays[key] = read_idx(_find_file(raw_dir, stem), ndim=3 if key.endswith("images") else 1)
    splits = []
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if len(images) != len(labels):
            raise UserError(f"{raw_dir}: {split} has {len(images)} images but {len(labels)} labels, "
                            "expected one label per image")
        splits.append(Split(images[:, None].copy(), labels.astype(np.int64)))
    return splits[0], splits[1]


# ---------------------------------------------------------------- rotation

def rotate_images(images: np.ndarray, angles: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    """Rotate each N x C x H x W uint8 image by its angle (degrees, counter-clockwise), bilinear, zero fill."""
    out = np.empty_like(images)
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(images[start:start + batch_size]).float()
        a = torch.from_numpy(np.deg2rad(angles[start:start + batch_size]).astype(np.float32))
        cos, sin = torch.cos(a), torch.sin(a)
        # affine_grid maps output to input coordinates (x right, y down): a counter-clockwise turn
        # on screen samples the input at the output point turned clockwise.
        theta = torch.stack([torch.stack([cos, -sin, torch.zeros_like(a)], 1),
                             torch.stack([sin, cos, torch.zeros_like(a)], 1)], 1)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        y = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        out[start:start + batch_size] = y.round_().clamp_(0, 255).to(torch.uint8).numpy()
    return out


def rotate_split(split: Split, rng: np.random.Generator, angle_range: tuple[float, float]) -> Split:
    angles = rng.uniform(*angle_range, size=len(split)).astype(np.float32)
    return Split(rotate_images(split.images, angles), angles)


# ---------------------------------------------------------------- prepare

def _attrs(name: str, source: str, seed: int) -> dict:
    if name == "fashion-mnist":
        return {"name": "FashionMNIST", "task": "classification", "num_classes": 10, "source": source,
                "class_names": CLASS_NAMES, "preset": name}
    return {"name": Path(OUTPUT_FILES[name]).stem.split("_")[0], "task": "regression", "source": source,
            "seed": seed, "preset": name, "angle_range": list(ANGLE_RANGES[name]), "label_units": "degrees",
            "rotation": "counter-clockwise positive, bilinear, zero fill, 28x28"}


def _existing_matches(path: Path, name: str, seed: int) -> bool:
    """True when `path` is a valid file made by the same settings."""
    try:
        bundle = load_h5_dataset(path)
    except UserError:
        return False
    expected_task = "classification" if name == "fashion-mnist" else "regression"
    if bundle.task != expected_task or bundle.attrs.get("preset") != name:
        return False
    return name == "fashion-mnist" or bundle.attrs.get("seed") == seed


def prepare(name: str, out_dir: str | Path, seed: int = 0, allow_download: bool = True) -> tuple[Path, bool]:
    """Write OUT/<file>.h5 for `name`; returns (path, written). A valid file with the same settings is kept."""
    if name not in OUTPUT_FILES:
        raise UserError(f"unknown dataset {name!r}; expected one of {', '.join(OUTPUT_FILES)}")
    out_dir = Path(out_dir)
    path = out_dir / OUTPUT_FILES[name]
    if path.exists() and _existing_matches(path, name, seed):
        return path, False
    raw_dir, source = locate_raw(out_dir, allow_download)
    train, test = read_fashion_mnist(raw_dir)
    if name in ANGLE_RANGES:
        rng = np.random.default_rng(seed)
        train, test = rotate_split(train, rng, ANGLE_RANGES[name]), rotate_split(test, rng, ANGLE_RANGES[name])
    write_dataset_h5(path, train, test, _attrs(name, source, seed))
    return path, True
