"""Generator quality in the feature space of an eval net trained on the dataset itself (Inception
weights are not available offline; the CcGAN authors measure the same way).

Classification (BigGAN): FID of fakes vs the real test split, intra-FID (mean over classes of the
per-class FID), and the class share: how many fakes the eval net assigns to their conditioning
class (the same number for real test images is the eval net's accuracy).
Regression (CcGAN): FID, intra-FID over equal-width label bins, and the Label Score: the mean
|eval net's predicted label - conditioning label| of the fakes, in raw units.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..common.errors import UserError
from ..data import DataBundle, LabelNorm
from ..eval.fid import fid
from ..models.trained import TrainedNet
from .sampling import balanced_class_ids

MIN_PER_GROUP = 10   # fewer images than this in a class / bin: no intra-FID term for it


class EvalNet:
    """A trained classifier or regressor as an eval net: pooled penultimate features and predictions."""

    def __init__(self, path: str | Path, device: torch.device | str = "cpu"):
        self.net = TrainedNet.load(path, device, "eval net")
        self.task, self.path = self.net.task, self.net.path

    def __call__(self, images: np.ndarray, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
        """(features (N, D), predictions (N,)): class ids, or labels in raw units."""
        feats, out = self.net.features_and_outputs(images, batch_size)
        pred = self.task.predict(out).float()
        if self.task.is_regression:
            pred = self.task.label_norm.denormalize(pred.clamp(0, 1))
        return feats.cpu().numpy(), pred.cpu().numpy()


def _group_fids(real_f: np.ndarray, real_g: np.ndarray, fake_f: np.ndarray, fake_g: np.ndarray,
                groups: list) -> dict:
    per = {}
    for g in groups:
        a, b = real_f[real_g == g], fake_f[fake_g == g]
        if min(len(a), len(b)) >= MIN_PER_GROUP:
            per[str(g)] = fid(a, b)
    return {"intra_fid": float(np.mean(list(per.values()))) if per else float("nan"), "intra_fid_per_group": per}


@dataclass
class Generator:
    """A conditional generator under test: `generate(labels) -> uint8 images (N, C, H, W)` for class
    ids (classification) or labels normalised with `label_norm` (regression)."""
    generate: Callable[[torch.Tensor], np.ndarray]
    num_classes: int | None = None
    label_norm: LabelNorm | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def is_regression(self) -> bool:
        return self.label_norm is not None


def _check_match(gen: Generator, net: EvalNet) -> None:
    kind = "regression" if gen.is_regression else "classification"
    if net.task.kind != kind:
        raise UserError(f"{net.path}: a {net.task.kind} eval net cannot score a {kind} generator")
    if not gen.is_regression and net.task.num_classes != gen.num_classes:
        raise UserError(f"{net.path}: eval net has {net.task.num_classes} classes, the generator {gen.num_classes}")


def evaluate_generator(gen: Generator, bundle: DataBundle, net: EvalNet, *, n: int = 10_000, seed: int = 0,
                       bins: int = 10) -> dict:
    """FID / intra-FID of `n` fakes against the real test split, plus class share or label score."""
    t0 = time.time()
    _check_match(gen, net)
    real_f, real_pred = net(bundle.test.images)
    rng = np.random.default_rng(seed)
    ref = rng.choice(len(bundle.train.images), size=min(len(bundle.test.images), len(bundle.train.images)),
                     replace=False)
    train_f, _ = net(bundle.train.images[np.sort(ref)])
    out: dict[str, Any] = {**gen.info, "eval_net": net.path, "n_fake": n, "n_real": len(bundle.test.images),
                           "fid_real_train_vs_test": fid(train_f, real_f)}
    if gen.is_regression:
        out.update(_regression(gen, bundle, net, real_f, real_pred, n, bins, rng))
    else:
        labels = balanced_class_ids(n, gen.num_classes)
        fake_f, fake_pred = net(gen.generate(labels))
        y_real, y_fake = bundle.test.labels.astype(np.int64), labels.numpy()
        out.update(fid=fid(real_f, fake_f),
                   **_group_fids(real_f, y_real, fake_f, y_fake, list(range(gen.num_classes))),
                   class_share=float(100.0 * (fake_pred == y_fake).mean()),
                   class_share_real_test=float(100.0 * (real_pred == y_real).mean()))
    out["seconds"] = time.time() - t0
    return out


def _regression(gen: Generator, bundle: DataBundle, net: EvalNet, real_f, real_pred, n, bins, rng) -> dict:
    norm = gen.label_norm
    y_test = bundle.test.labels.astype(np.float64)
    # Conditioning labels: the test labels, cycled in a shuffled order to reach n.
    cond_raw = y_test[rng.permutation(np.resize(np.arange(len(y_test)), n))]
    cond = torch.as_tensor(np.clip(norm.normalize(cond_raw), 0, 1), dtype=torch.float32)
    fake_f, fake_pred = net(gen.generate(cond))
    cond_raw = norm.denormalize(cond.double().numpy())
    edges = np.linspace(norm.low, norm.high, bins + 1)
    bin_of = lambda y: np.clip(np.digitize(y, edges[1:-1]), 0, bins - 1)  # noqa: E731
    err = np.abs(fake_pred - cond_raw)
    return {"fid": fid(real_f, fake_f),
            **_group_fids(real_f, bin_of(y_test), fake_f, bin_of(cond_raw), list(range(bins))),
            "bin_edges": edges.tolist(),
            "label_score": float(err.mean()), "label_score_std": float(err.std()),
            "label_score_real_test": float(np.abs(real_pred - y_test).mean())}


def format_report(r: dict) -> str:
    head = f"{r['gan']} iteration {r['iteration']} ({'EMA' if r['ema'] else 'raw'} G), " if "gan" in r else ""
    lines = [f"{head}{r['n_fake']} fakes vs {r['n_real']} real test images, eval net {r['eval_net']}",
             f"  FID {r['fid']:.3f}   intra-FID {r['intra_fid']:.3f}   (real train vs test FID "
             f"{r['fid_real_train_vs_test']:.3f})"]
    if "class_share" in r:
        lines.append(f"  class share {r['class_share']:.2f}%   (real test images: {r['class_share_real_test']:.2f}%)")
    else:
        lines.append(f"  label score {r['label_score']:.3f} (std {r['label_score_std']:.3f})   "
                     f"(eval net on real test: MAE {r['label_score_real_test']:.3f})")
    return "\n".join(lines)
