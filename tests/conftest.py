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


def bar_images(positions: np.ndarray, rng: np.random.Generator, size: int = 28) -> np.ndarray:
    """A bright vertical bar at column `position` (0..size-1) of a noisy 1-channel image."""
    images = rng.integers(0, 40, size=(len(positions), 1, size, size)).astype(np.uint8)
    for i, p in enumerate(positions):
        images[i, :, 4:size - 4, p:p + 2] = 230
    return images


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
    """Label in degrees = a linear map of the bar's column to [-90, 90]."""
    from cgankd.data import Split, write_dataset_h5
    rng = np.random.default_rng(1)
    p_train, p_test = rng.integers(0, 26, 512), rng.integers(0, 26, 128)
    to_deg = lambda p: (p / 25.0 * 180.0 - 90.0).astype(np.float32)  # noqa: E731
    path = tmp_path_factory.mktemp("data") / "bars.h5"
    write_dataset_h5(path, Split(bar_images(p_train, rng), to_deg(p_train)),
                     Split(bar_images(p_test, rng), to_deg(p_test)), {"task": "regression"})
    return str(path)
