"""cDR-RS: keep the realistic GAN samples of each class / label value.

1. A feature extractor maps images to vectors (a classifier trained for the purpose, or a sparse
   autoencoder for regression; `features.py`).
2. A conditional density-ratio model r(x|y) = p_real / p_fake is fitted on real features and,
   at every step, fresh fakes at the same labels (`density_ratio.py`).
3. Per label value, GAN proposals are kept with probability r / M (`rejection.py`), through
   `SubsampledDraw`, which remembers M and the accepted surplus of each label value.

`CDRRS` holds steps 1-2; `save`/`load` let `cgankd fake make` reuse (and resume from) a fitted one.
Labels here are the GAN's own: class ids, or regression labels normalised to [0, 1].
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..common.errors import UserError
from ..common.files import save_torch
from .density_ratio import DensityRatioModel, FakeFeatures, LabelEmbed, check_task_kind, train_density_ratio
from .features import ClassifierFeatures, FeatureExtractor, as_uint8_images, extractor_from_state, train_sparse_ae
from .rejection import rejection_sample

FORMAT = "cgankd-cdr-rs"
VERSION = 2

# (GAN labels) -> uint8 images: fresh GAN samples at those labels, each call new noise.
Propose = Callable[[torch.Tensor], torch.Tensor]

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


def make_extractor(task_kind: str, *, classifier=None, real_images=None, real_labels=None,
                   settings: dict | None = None, device: str | torch.device = "cpu", seed: int = 0,
                   progress: bool = False) -> FeatureExtractor:
    """A trained classifier's features (a `TrainedNet`; required for classification); otherwise
    (regression) a sparse autoencoder trained on the real images and normalised labels."""
    if classifier is not None:
        return ClassifierFeatures(classifier)
    if check_task_kind(task_kind) == "classification":
        raise UserError("cDR-RS for classification needs a classifier for its features")
    if real_images is None or real_labels is None:
        raise UserError("cDR-RS for regression trains a sparse autoencoder: give the real images and labels")
    cfg = cdr_rs_settings("regression", settings)["sparse_ae"]
    return train_sparse_ae(real_images, real_labels, cfg.pop("epochs"), cfg.pop("batch_size"), cfg.pop("lr"),
                           device, seed, progress=progress, **cfg)


def _labels_tensor(labels) -> torch.Tensor:
    return torch.as_tensor(np.asarray(labels)) if not isinstance(labels, torch.Tensor) else labels


class CDRRS:
    """A feature extractor plus a conditional density-ratio model."""

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

    def features(self, images) -> torch.Tensor:
        return self.extractor(as_uint8_images(images)).to(self.device)

    def fit(self, real_images, real_labels, fakes: Propose | FakeFeatures, *, features_given: bool = False,
            seed: int = 0, progress: bool = False) -> "CDRRS":
        """Fit r(x|y) on real images/labels. `fakes(labels)` gives fresh fake images at the labels of
        each real batch; with `features_given`, `fakes(labels, generator)` gives their features
        (e.g. a `FakePool`)."""
        real_labels = _labels_tensor(real_labels)
        if len(real_images) != len(real_labels):
            raise UserError(f"cDR-RS fit: {len(real_images)} real images but {len(real_labels)} real labels")
        fake_features = fakes if features_given else (lambda labels, _gen: self.features(fakes(labels.cpu())))
        dr_cfg = dict(self.settings["dr"])
        self.dr = train_density_ratio(
            self.features(real_images), real_labels, fake_features, self.task_kind, dr_cfg.pop("epochs"),
            dr_cfg.pop("batch_size"), dr_cfg.pop("lr"), self.device, seed, self.num_classes,
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


class SubsampledDraw:
    """Draws at one label value through cDR-RS rejection sampling: `draw(value, n)` returns n
    accepted images. Per label value it keeps M (burn-in only on the first call) and the accepted
    surplus of earlier calls, so that small requests cost no extra burn-in."""

    def __init__(self, propose: Propose, cdr: CDRRS, seed: int, label_dtype: torch.dtype):
        self.propose, self.cdr, self.label_dtype = propose, cdr, label_dtype
        self.rs = cdr.settings["rs"]
        self.rng = torch.Generator().manual_seed(seed)
        self.m: dict[float, float] = {}
        self.buffer: dict[float, torch.Tensor] = {}
        self.proposed = self.accepted = 0

    def _proposer(self, value: float):
        def propose(n: int):
            labels = torch.full((n,), value, dtype=self.label_dtype)
            return {"images": self.propose(labels), "labels": labels}
        return propose

    def __call__(self, value: float, n: int) -> torch.Tensor:
        buffer = self.buffer.get(value, torch.empty(0, dtype=torch.uint8))
        while len(buffer) < n:
            first = value not in self.m
            kept, stats = rejection_sample(
                self._proposer(value), lambda b: self.cdr.ratio(b["images"], b["labels"]),
                max(n - len(buffer), self.rs["batch_size"] // 4), burn_in=self.rs["burn_in"] if first else 0,
                batch_size=self.rs["batch_size"], generator=self.rng, initial_m=self.m.get(value, 0.0))
            self.m[value] = stats.M
            self.proposed += stats.proposed
            self.accepted += round(stats.acceptance_rate * stats.proposed)
            buffer = torch.cat([buffer, kept["images"]])
        self.buffer[value] = buffer[n:]
        return buffer[:n]

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / max(self.proposed, 1)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.get_state(), "m": dict(self.m), "buffer": dict(self.buffer),
                "proposed": self.proposed, "accepted": self.accepted}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.set_state(state["rng"])
        self.m, self.buffer = dict(state["m"]), dict(state["buffer"])
        self.proposed, self.accepted = state["proposed"], state["accepted"]
