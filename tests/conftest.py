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
