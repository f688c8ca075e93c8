"""Plots for reports: per-arm metric bars with the seed spread, and image grids."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..common.files import atomic_path  # noqa: E402
from .tables import ArmSummary  # noqa: E402


def _save(fig, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def metric_bars(rows: list[ArmSummary], path: str | Path, title: str, split: str = "test") -> None:
    """One bar per arm (mean over seeds), each seed as a dot, error bar = std."""
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(rows), 3.6))
    x = np.arange(len(rows))
    ax.bar(x, [r.mean for r in rows], yerr=[r.std for r in rows], capsize=4, color="#8fb3d9", edgecolor="#345")
    for i, r in enumerate(rows):
        ax.plot(np.full(len(r.values), i), r.values, "k.", alpha=0.7)
    low = min(min(r.values) for r in rows)
    high = max(max(r.values) for r in rows)
    pad = max(high - low, 1e-3) * 0.6
    ax.set_ylim(low - pad, high + pad)
    ax.set_xticks(x, [r.arm.replace(" (", "\n(") for r in rows], fontsize=8)
    ax.set_ylabel(f"{split} {rows[0].metric}" + (" (lower is better)" if rows[0].metric == "mae" else " (%)"))
    ax.set_title(title, fontsize=10)
    _save(fig, path)


def image_grid(images: np.ndarray, labels: list[str], path: str | Path, title: str, per_row: int = 10) -> None:
    """uint8 N x C x H x W images in rows of `per_row`, each row titled by its label."""
    rows = int(np.ceil(len(images) / per_row))
    fig, axes = plt.subplots(rows, per_row, figsize=(per_row * 0.8, rows * 0.9), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (image, label) in enumerate(zip(images, labels)):
        ax = axes.flat[i]
        pic = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
        ax.imshow(pic, cmap="gray" if image.shape[0] == 1 else None, vmin=0, vmax=255)
        ax.set_title(label, fontsize=6)
    fig.suptitle(title, fontsize=9)
    _save(fig, path)
