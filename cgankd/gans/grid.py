"""PNG sample grids: one row per class or per label value, with the row's name in a left margin."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..common.files import atomic_path


def to_uint8(images) -> np.ndarray:
    """[-1, 1] float tensor/array (N, C, H, W) -> uint8 array, rounded."""
    x = images.detach().float().cpu().numpy() if hasattr(images, "detach") else np.asarray(images, np.float32)
    return np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


def save_grid(images: np.ndarray, rows: int, path: str | Path, row_names: list[str] | None = None,
              scale: int = 2, pad: int = 2) -> None:
    """Write uint8 images (rows*cols, C, H, W) row-major as a PNG grid (atomic)."""
    n, c, h, w = images.shape
    cols = n // rows
    # Room for the row names, drawn after upscaling with PIL's default font (about 6 px a character).
    margin = -(-(6 * max((len(s) for s in row_names), default=0) + 8) // scale) if row_names else 0
    canvas = np.full((rows * (h + pad) + pad, margin + cols * (w + pad) + pad, 3), 128, np.uint8)
    canvas[:, :margin] = 255
    for i in range(rows * cols):
        r, k = divmod(i, cols)
        tile = images[i].transpose(1, 2, 0)
        tile = np.repeat(tile, 3, axis=2) if c == 1 else tile
        y0, x0 = pad + r * (h + pad), margin + pad + k * (w + pad)
        canvas[y0:y0 + h, x0:x0 + w] = tile
    img = Image.fromarray(canvas).resize((canvas.shape[1] * scale, canvas.shape[0] * scale), Image.NEAREST)
    if row_names:
        draw = ImageDraw.Draw(img)
        for r, name in enumerate(row_names):
            draw.text((4, (pad + r * (h + pad) + h // 2) * scale - 6), name, fill=(0, 0, 0))
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")


def grid_labels(rows: int, cols: int, *, num_classes: int | None = None, class_names: list[str] | None = None,
                label_norm=None) -> tuple[torch.Tensor, list[str]]:
    """Labels of a sample grid, row-major, with row names: `rows` classes spread over all classes
    (classification), or `rows` normalised label values sweeping [0, 1] named in raw units
    (regression, when `num_classes` is None); `cols` samples per row."""
    if num_classes is None:
        values = torch.linspace(0, 1, rows)
        raw = label_norm.denormalize(values) if label_norm is not None else values
        return values.repeat_interleave(cols), [f"{float(v):.0f}" if label_norm is not None else f"{float(v):.2f}"
                                                for v in raw]
    rows = min(rows, num_classes)
    classes = torch.linspace(0, num_classes - 1, rows).round().long()
    if class_names is None or len(class_names) != num_classes:
        class_names = [str(c) for c in range(num_classes)]
    return classes.repeat_interleave(cols), [str(class_names[int(c)]) for c in classes]
