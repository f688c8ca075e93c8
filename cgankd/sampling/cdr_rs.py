"""cDR-RS: keep the realistic GAN samples of each class / label value.

1. A feature extractor maps images to vectors (a trained classifier, or a sparse autoencoder
   for regression).
2. A conditional density-ratio model r(x|y) = p_real / p_fake is fitted on real features and
   the features of a pool of fakes (`density_ratio.py`).
3. Per label, GAN proposals are kept with probability r / M (`rejection.py`).

`CDRRS` holds steps 1-2 and runs 3; `save`/`load` let `cgankd fake make` reuse a fitted one.
Regression labels are normalised to [0, 1] everywhere in this module.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ..common.errors import UserError
from ..common.files import save_torch
from .density_ratio import DensityRatioModel, LabelEmbed, check_task_kind, train_density_ratio
from .features import ClassifierFeatures, FeatureExtractor, as_uint8_images, extractor_from_state, train_sparse_ae
from .rejection import Batch, rejection_sample_per_label

FORMAT = "cgankd-cdr-rs"
VERSION = 1

# The reference's settings (UBCDingXin/cGAN-KD make_fake_datasets, SteeringAngle, UTKFace).
PAPER_SETTINGS: dict[str, dict[str, Any]] = {
    "classification": {
        "dr": {"widths": [2048, 1024, 512, 256, 128], "dropout": 0.5, "embed_dim": None, "epochs": 200,
               "batch_size": 256, "lr": 1e-4, "lam": 0.01, "weight_decay": 1e-4, "milestones": [80, 150]},
        "rs": {"burn_in": 5000, "batch_size": 600},          # ImageNet-100: 1000 / 500
    },
    "regression": {
        "dr": {"widths": [1024, 512, 256, 128, 64], "dropout": 0.5, "embed_dim": None, "epochs": 200,
               "batch_size": 256, "lr": 1e-4, "lam": 0.01, "weight_decay": 1e-4, "milestones": [80, 150]},
        "rs": {"burn_in": 500, "batch_size": 500},            # UTKFace: burn-in 100
        "sparse_ae": {"epochs": 200, "batch_size": 128, "lr": 0.01, "lr_step_every": 50, "lr_gamma": 0.1,
                      "weight_decay": 1e-4, "sparsity": 1e-3, "regression": 1.0, "ch": 64},
    },
}


def cdr_rs_settings(task_kind: str, overrides: dict | None = None) -> dict[str, Any]:
    """The paper's settings for a task, with `overrides` ({"dr": {...}, "rs": {...}, ...}) on top."""
    settings = copy.deepcopy(PAPER_SETTINGS[check_task_kind(task_kind)])
    for section, values in (overrides or {}).items():
        if section not in settings:
            raise UserError(f"unknown cDR-RS settings section {section!r}; known: {', '.join(settings)}")
        unknown = set(values) - set(settings[section])
        if unknown:
            raise UserError(f"unknown cDR-RS {section} setting(s) {sorted(unknown)}; "
                            f"known: {', '.join(settings[section])}")
        settings[section].update(values)
    return settings


def make_extractor(task_kind: str, *, classifier: str | None = None, real_images=None, real_labels=None,
                   settings: dict | None = None, device: str | torch.device = "cpu", seed: int = 0,
                   progress: bool = False) -> FeatureExtractor:
    """A classifier checkpoint's features when `classifier` is given (required for classification);
    otherwise (regression) a sparse autoencoder trained on the real images and normalised labels."""
    if classifier is not None:
        return ClassifierFeatures.from_checkpoint(classifier, device=device)
    if check_task_kind(task_kind) == "classification":
        raise UserError("cDR-RS for classification needs a classifier checkpoint for its features")
    if real_images is None or real_labels is None:
        raise UserError("cDR-RS for regression trains a sparse autoencoder: give the real images and labels")
    cfg = cdr_rs_settings("regression", settings)["sparse_ae"]
    return train_sparse_ae(real_images, real_labels, cfg.pop("epochs"), cfg.pop("batch_size"), cfg.pop("lr"),
                           device, seed, progress=progress, **cfg)


def _labels_tensor(labels) -> torch.Tensor:
    return torch.as_tensor(np.asarray(labels)) if not isinstance(labels, torch.Tensor) else labels


def _images_and_labels(batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(batch, dict):
        if "images" not in batch or "labels" not in batch:
            raise UserError(f"a proposal batch needs 'images' and 'labels', got keys {sorted(batch)}")
        return batch["images"], batch["labels"]
    return batch[0], batch[1]


class CDRRS:
    """A feature extractor plus a conditional density-ratio model, and the subsampler they drive."""

    def __init__(self, extractor: FeatureExtractor, task_kind: str, *, num_classes: int | None = None,
                 label_embed: LabelEmbed | None = None, settings: dict | None = None,
                 device: str | torch.device = "cpu"):
        self.extractor = extractor
        self.task_kind = check_task_kind(task_kind)
        self.num_classes = num_classes
        self.label_embed = label_embed
        self.settings = cdr_rs_settings(task_kind, settings)     # the paper's, with `settings` on top
        self.device = torch.device(device)
        self.dr: DensityRatioModel | None = None
        self.fit_log: list[dict] = []

    # ---------------------------------------------------------------- fitting
    def features(self, images) -> torch.Tensor:
        return self.extractor(as_uint8_images(images)).to(self.device)

    def fit(self, real_images, real_labels, fake_images, fake_labels, *, seed: int = 0,
            progress: bool = False) -> "CDRRS":
        """Fit r(x|y) on real images/labels and a pool of fakes with their assigned labels."""
        real_labels, fake_labels = _labels_tensor(real_labels), _labels_tensor(fake_labels)
        for name, images, labels in (("real", real_images, real_labels), ("fake", fake_images, fake_labels)):
            if len(images) != len(labels):
                raise UserError(f"cDR-RS fit: {len(images)} {name} images but {len(labels)} {name} labels")
        dr_cfg = dict(self.settings["dr"])
        self.dr = train_density_ratio(
            self.features(real_images), real_labels, self.features(fake_images), fake_labels, self.task_kind,
            dr_cfg.pop("epochs"), dr_cfg.pop("batch_size"), dr_cfg.pop("lr"), self.device, seed, self.num_classes,
            label_embed=self.label_embed, progress=progress, **dr_cfg)
        self.fit_log = list(self.dr.train_log)
        return self

    def ratio(self, images, labels) -> torch.Tensor:
        """r(x|y) >= 0 for uint8 images and their labels (class ids / normalised values)."""
        if self.dr is None:
            raise UserError("this cDR-RS model is not fitted yet")
        images = as_uint8_images(images)
        labels = _labels_tensor(labels)
        if len(images) != len(labels):
            raise UserError(f"cDR-RS ratio: {len(images)} images but {len(labels)} labels")
        return self.dr.ratio(self.features(images), labels.to(self.device))

    # ---------------------------------------------------------------- sampling
    def subsample(self, propose: Callable[[Any, int], Batch], label_values: Sequence, n_per_label: int, *,
                  burn_in: int | None = None, batch_size: int | None = None, seed: int = 0,
                  progress: bool = False) -> tuple[Batch, list[dict[str, Any]]]:
        """Rejection-sample `n_per_label` items at each label value. `propose(label, n)` returns n
        GAN samples at that label: a dict with "images" (uint8) and "labels" (plus anything that
        should ride along) or a tuple (images, labels, ...). Returns the kept items and per-label
        stats (acceptance rate, M, number proposed)."""
        rs = self.settings["rs"]
        generator = torch.Generator().manual_seed(seed)
        return rejection_sample_per_label(
            propose, lambda batch: self.ratio(*_images_and_labels(batch)), label_values, n_per_label,
            burn_in=rs["burn_in"] if burn_in is None else burn_in,
            batch_size=rs["batch_size"] if batch_size is None else batch_size,
            generator=generator, progress=progress)

    # ---------------------------------------------------------------- state
    def state(self) -> dict[str, Any]:
        if self.dr is None:
            raise UserError("cannot save a cDR-RS model that is not fitted")
        return {"format": FORMAT, "version": VERSION, "task_kind": self.task_kind, "num_classes": self.num_classes,
                "settings": self.settings, "extractor": self.extractor.state(), "dr": self.dr.state(),
                "fit_log": self.fit_log}

    def save(self, path: str | Path) -> None:
        save_torch(path, self.state())

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu",
             label_embed: LabelEmbed | None = None) -> "CDRRS":
        path = Path(path)
        if not path.is_file():
            raise UserError(f"cDR-RS file {path} not found")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a corrupt or foreign file: one line, not a traceback
            raise UserError(f"cDR-RS file {path} cannot be read: {exc.__class__.__name__}") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise UserError(f"{path} is not a cDR-RS file (expected format {FORMAT!r})")
        if state.get("version") != VERSION:
            raise UserError(f"{path}: cDR-RS file version {state.get('version')!r}, this code reads {VERSION}")
        obj = cls(extractor_from_state(state["extractor"], device), state["task_kind"],
                  num_classes=state["num_classes"], label_embed=label_embed, settings=state["settings"],
                  device=device)
        obj.dr = DensityRatioModel.from_state(state["dr"], label_embed, device)
        obj.fit_log = state.get("fit_log", [])
        return obj
