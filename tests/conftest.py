"""Shared fixtures: tiny synthetic datasets that a small net can learn in seconds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

torch.set_num_threads(2)


def quadrant_images(labels: np.ndarray, rng: np.random.Generator, size: int = 28) -> np.ndarray:
    """Class c lights up quadrant c of a noisy 1-channel image."""
    images = rng.integers(0, 60, size=(len(labels), 1, size, size)).astype(np.uint8)
    half = size // 2
    for c in range(4):
        rows, cols = divmod(c, 2)
        images[labels == c, :, rows * half:(rows + 1) * half, cols * half:(cols + 1) * half] += 150
    return images


def line_images(angles_deg: np.ndarray, rng: np.random.Generator, size: int = 28) -> np.ndarray:
    """A bright line through the centre at `angle` degrees (a rotation-regression task in miniature)."""
    c = (size - 1) / 2
    yy, xx = np.mgrid[0:size, 0:size] - c
    theta = np.deg2rad(angles_deg)[:, None, None]
    dist = np.abs(-np.sin(theta) * xx - np.cos(theta) * yy)       # distance to the line (image y down)
    on_line = (dist < 1.3) & (np.hypot(xx, yy) < c - 2)
    noise = rng.integers(0, 40, size=(len(angles_deg), size, size))
    return np.where(on_line, 230, noise).astype(np.uint8)[:, None]


@pytest.fixture(scope="session")
def tiny_classification_h5(tmp_path_factory) -> str:
    from cgankd.data import Split, write_dataset_h5
    rng = np.random.default_rng(0)
    y_train, y_test = rng.integers(0, 4, 512), rng.integers(0, 4, 128)
    path = tmp_path_factory.mktemp("data") / "quadrants.h5"
    write_dataset_h5(path, Split(quadrant_images(y_train, rng), y_train.astype(np.int64)),
                     Split(quadrant_images(y_test, rng), y_test.astype(np.int64)), {"task": "classification"})
    return str(path)


@pytest.fixture(scope="session")
def tiny_regression_h5(tmp_path_factory) -> str:
    """Label = the angle of a line in degrees, in [-80, 80] (a line at ±90 looks the same)."""
    from cgankd.data import Split, write_dataset_h5
    rng = np.random.default_rng(1)
    a_train, a_test = rng.uniform(-80, 80, 512).astype(np.float32), rng.uniform(-80, 80, 128).astype(np.float32)
    path = tmp_path_factory.mktemp("data") / "lines.h5"
    write_dataset_h5(path, Split(line_images(a_train, rng), a_train),
                     Split(line_images(a_test, rng), a_test), {"task": "regression"})
    return str(path)


@pytest.fixture(scope="module")
def one_thread():
    """A module's tests on one thread: tiny nets run fastest so, and the test machine is shared
    (use with `pytestmark = pytest.mark.usefixtures("one_thread")`)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------- nets trained once per session

TINY_GAN = ["g_ch=4", "d_ch=4", "dim_z=8", "ckpt_every=100", "standing_stats=2", "grid_rows=2", "grid_cols=2",
            "ema=false"]
TINY_CCGAN = TINY_GAN + ["dim_embed=8", "g_attn=0", "d_attn=0", "embed_arch=resnet8", "embed_epochs=1",
                         "embed_batch_size=32", "y2h_epochs=2", "y2h_batch_size=32", "kappa=-2", "label_values=12"]
SMALL_CDR_RS = "{'dr': {'widths': [64, 32], 'epochs': 20, 'batch_size': 64, 'lr': 1e-3}, 'rs': {'burn_in': 64, 'batch_size': 64}}"
SMALL_CDR_RS_REGRESSION = SMALL_CDR_RS[:-1] + ", 'sparse_ae': {'epochs': 2, 'ch': 4}}"


def cli(*args) -> int:
    """`cgankd ARGS...` in this process; returns the exit code."""
    from cgankd.cli import main
    return main([str(a) for a in args])


def same_tensors(a: dict, b: dict, what: str = "state") -> None:
    """Two state dicts hold the same keys and bitwise-equal tensors."""
    assert a.keys() == b.keys(), what
    for key in a:
        assert torch.equal(a[key], b[key]), f"{what}: {key} differs"


def gan_train_args(data: str, kind: str, out, iters: int = 40, extra: tuple = ()) -> list:
    args = ["gan", "train", "--data", data, "--gan", kind, "--out", out, "--iters", iters, "--batch-size", 16,
            "--device", "cpu", "--quiet"]
    for setting in (TINY_GAN if kind == "biggan" else TINY_CCGAN) + list(extra):
        args += ["--set", setting]
    return args


@pytest.fixture(scope="session")
def cls_teacher(tiny_classification_h5, tmp_path_factory):
    """A resnet8 that classifies the quadrant images (> 90 % on their test split)."""
    out = tmp_path_factory.mktemp("teachers") / "cls"
    assert cli("train", "--data", tiny_classification_h5, "--arch", "resnet8", "--epochs", 3, "--batch-size", 64,
               "--lr", 0.05, "--device", "cpu", "--out", out, "--quiet") == 0
    return out / "model.pt"


@pytest.fixture(scope="session")
def reg_teacher(tiny_regression_h5, tmp_path_factory):
    """A resnet8 that reads the angle of the line images."""
    out = tmp_path_factory.mktemp("teachers") / "reg"
    assert cli("train", "--data", tiny_regression_h5, "--arch", "resnet8", "--epochs", 6, "--batch-size", 32,
               "--lr", 0.01, "--device", "cpu", "--out", out, "--quiet") == 0
    return out / "model.pt"


@pytest.fixture(scope="session")
def tiny_biggan(tiny_classification_h5, tmp_path_factory):
    """A BigGAN run folder on the quadrant images (40 tiny iterations)."""
    out = tmp_path_factory.mktemp("gans") / "biggan"
    assert cli(*gan_train_args(tiny_classification_h5, "biggan", out)) == 0
    return out


@pytest.fixture(scope="session")
def tiny_ccgan(tiny_regression_h5, tmp_path_factory):
    """A CcGAN run folder on the line images (20 tiny iterations)."""
    out = tmp_path_factory.mktemp("gans") / "ccgan"
    assert cli(*gan_train_args(tiny_regression_h5, "ccgan", out, iters=20)) == 0
    return out
