"""Build a processed fake training set (the core of cGAN-KD's data side).

    GAN samples at each label value
      -> cDR-RS rejection sampling (optional)        keeps realistic samples
      -> teacher filtering at the rho cut-off        drops samples the teacher finds hard
      -> label adjustment (optional)                 label := teacher's prediction
    ... repeated per label value until its share of NFAKE survives.

Labels outside this module are raw (class ids, degrees, years); the GAN sees its own
normalised labels, converted at the edge.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from ..common.errors import UserError
from ..data import Split
from ..gans.sampling import LoadedGAN, even_counts
from ..sampling import CDRRS, make_extractor, rejection_sample
from .filtering import class_cutoffs, global_cutoff
from .judge import TeacherJudge

Draw = Callable[[float, int], torch.Tensor]      # (raw label value, n) -> uint8 images


@dataclass
class FakeSettings:
    nfake: int
    subsample: str = "cdr-rs"          # "cdr-rs" | "none"
    rho: float = 0.9                   # filtering quantile; 1.0 switches filtering off
    adjust_labels: bool = True
    seed: int = 0
    filter_burn_in: int = 1000         # fakes per class (classification) or in all (regression) for the cut-offs
    label_values: int = 2000           # regression: size of the label grid the fakes are spread over
    batch_size: int = 500
    fit_size: int = 20_000             # at most this many real images (and as many fakes) fit cDR-RS
    cdr_rs: dict = field(default_factory=dict)   # overrides of cgankd.sampling's paper settings

    def check(self) -> None:
        if self.nfake < 1:
            raise UserError(f"--nfake must be positive (got {self.nfake})")
        if not 0.0 < self.rho <= 1.0:
            raise UserError(f"--rho must be in (0, 1] (got {self.rho})")
        if self.subsample not in ("cdr-rs", "none"):
            raise UserError(f"--subsample must be cdr-rs or none (got {self.subsample!r})")


@dataclass
class FakeSet:
    images: np.ndarray
    labels: np.ndarray         # raw units: int64 class ids or float32 values
    stats: dict[str, Any]


def _gan_label(gan: LoadedGAN, raw: torch.Tensor) -> torch.Tensor:
    if gan.is_regression:
        return gan.label_norm.normalize(raw.float()).clamp(0, 1) if gan.label_norm else raw.float()
    return raw.long()


class Generator:
    """GAN samples at a raw label value, each call with fresh noise; counts what it made."""

    def __init__(self, gan: LoadedGAN, batch_size: int, seed: int):
        self.gan, self.batch_size, self.seed, self.made = gan, batch_size, seed, 0

    def __call__(self, value: float, n: int) -> torch.Tensor:
        return self.at(torch.full((n,), value, dtype=torch.float64))

    def at(self, raw_labels: torch.Tensor) -> torch.Tensor:
        self.seed += 1
        self.made += len(raw_labels)
        return torch.from_numpy(self.gan.generate(_gan_label(self.gan, raw_labels), batch_size=self.batch_size,
                                                  seed=self.seed))


def fit_cdr_rs(gan: LoadedGAN, generate: Generator, real: Split, settings: FakeSettings, feature_net: str,
               device: torch.device) -> CDRRS:
    """Density ratio real/fake in feature space, fitted on real images and fakes at the same labels."""
    rng = np.random.default_rng(settings.seed)
    pick = rng.choice(len(real.labels), min(len(real.labels), settings.fit_size), replace=False)
    images, raw = real.images[pick], torch.as_tensor(real.labels[pick])
    labels = _gan_label(gan, raw)
    kind = "regression" if gan.is_regression else "classification"
    extractor = make_extractor(kind, classifier=None if gan.is_regression else feature_net, real_images=images,
                               real_labels=labels, settings=settings.cdr_rs, device=device, seed=settings.seed)
    cdr = CDRRS(extractor, kind, num_classes=gan.num_classes, settings=settings.cdr_rs, device=device,
                label_embed=gan.embed if gan.is_regression and gan.y2h is not None else None)
    return cdr.fit(images, labels, generate.at(raw), labels, seed=settings.seed)


class SubsampledDraw:
    """A Draw through cDR-RS rejection sampling. Per label value it keeps M (burn-in only on the
    first call) and a buffer of accepted samples, so that small requests cost no extra burn-in."""

    def __init__(self, gan: LoadedGAN, generate: Generator, cdr: CDRRS, seed: int):
        self.gan, self.generate, self.cdr = gan, generate, cdr
        self.rs = cdr.settings["rs"]
        self.rng = torch.Generator().manual_seed(seed)
        self.m: dict[float, float] = {}
        self.buffer: dict[float, torch.Tensor] = {}
        self.proposed = self.accepted = 0

    def _propose(self, value: float):
        def propose(n: int):
            raw = torch.full((n,), value, dtype=torch.float64)
            return {"images": self.generate.at(raw), "labels": _gan_label(self.gan, raw)}
        return propose

    def __call__(self, value: float, n: int) -> torch.Tensor:
        buffer = self.buffer.get(value, torch.empty(0, dtype=torch.uint8))
        while len(buffer) < n:
            first = value not in self.m
            kept, stats = rejection_sample(
                self._propose(value), lambda b: self.cdr.ratio(b["images"], b["labels"]),
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


def label_grid(gan: LoadedGAN, judge: TeacherJudge, settings: FakeSettings) -> np.ndarray:
    """Raw label values the fakes are made at: every class, or an even grid over the label range."""
    if not gan.is_regression:
        return np.arange(gan.num_classes, dtype=np.float64)
    norm = gan.label_norm or judge.task.label_norm
    grid = np.linspace(0.0, 1.0, max(1, min(settings.label_values, settings.nfake)))
    return norm.denormalize(grid)


def _cutoffs(draw: Draw, judge: TeacherJudge, grid: np.ndarray, settings: FakeSettings, regression: bool):
    """Burn-in fakes → per-value cut-offs (array aligned with grid) and raw teacher agreement.
    With filtering off (rho 1) there is nothing to estimate: the agreement is then measured on
    the kept fakes themselves (see make_fake_set)."""
    if settings.rho >= 1.0:
        return np.full(len(grid), np.inf), {}
    per_value = settings.filter_burn_in if not regression else math.ceil(settings.filter_burn_in / len(grid))
    labels = torch.as_tensor(np.repeat(grid, per_value))
    images = torch.cat([draw(v, per_value) for v in grid])
    scores, predictions = judge.judge(images, labels)
    if regression:
        cut = np.full(len(grid), global_cutoff(scores, settings.rho))
    else:
        cut = class_cutoffs(scores, labels.long(), settings.rho, len(grid)).numpy()
    return cut, _agreement(predictions, labels, regression)


def _agreement(predictions: torch.Tensor, labels: torch.Tensor, regression: bool) -> dict[str, float]:
    """How far the teacher agrees with the GAN's labels on raw fakes."""
    if regression:
        return {"teacher_mae_raw": float((predictions.double() - labels.double()).abs().mean())}
    return {"teacher_agreement_raw": float((predictions.long() == labels.long()).float().mean())}


MAX_DRAWS_PER_FAKE = 200   # give up when fewer than 1 in 200 judged fakes pass the filter


def _collect(draw: Draw, judge: TeacherJudge, values: np.ndarray, quota: int, cutoff: float
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int, int]:
    """Draw evenly over the label `values` in rounds until `quota` fakes pass the filter.

    Classification calls it per class (per-class cut-offs); regression once for the whole grid,
    so that, as in the reference's global filter, label values the teacher finds hard end up
    with fewer fakes. Returns (images, teacher predictions, assigned labels) of the first
    `quota` that passed, and how many fakes were judged and passed."""
    kept: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    n_kept = judged = 0
    keep_rate = 1.0
    while n_kept < quota:
        if judged > MAX_DRAWS_PER_FAKE * quota:
            raise UserError(f"only {n_kept} of {judged} fakes at labels {values.min():g}..{values.max():g} passed "
                            f"the teacher filter (needed {quota}); the GAN or the teacher is too weak here")
        per_value = max(1, math.ceil(1.1 * (quota - n_kept) / keep_rate / len(values)))
        assigned = torch.as_tensor(np.repeat(values, per_value))
        images = torch.cat([draw(float(v), per_value) for v in values])
        scores, predictions = judge.judge(images, assigned)
        keep = scores <= cutoff
        judged += len(images)
        n_kept += int(keep.sum())
        keep_rate = max(n_kept / judged, 0.01)
        kept.append((images[keep], predictions[keep], assigned[keep]))
    images, predictions, assigned = (torch.cat(parts) for parts in zip(*kept))
    return images[:quota], predictions[:quota], assigned[:quota], judged, n_kept


def _groups(grid: np.ndarray, cutoffs: np.ndarray, nfake: int, regression: bool):
    """(label values, quota, cut-off) per collection group: one per class, or the whole grid."""
    if regression:
        return [(grid, nfake, float(cutoffs[0]))]
    return [(grid[c:c + 1], int(q), float(cutoffs[c])) for c, q in enumerate(even_counts(nfake, len(grid)))]


def make_fake_set(gan: LoadedGAN, judge: TeacherJudge, real: Split, settings: FakeSettings, *,
                  feature_net: str | None = None, device: torch.device | str = "cpu", progress: bool = True
                  ) -> FakeSet:
    """NFAKE processed fakes from `gan`, judged by `judge`, per `settings` (see module doc)."""
    settings.check()
    device = torch.device(device)
    regression = gan.is_regression
    if regression != judge.task.is_regression:
        raise UserError(f"the GAN is {'continuous' if regression else 'class'}-conditional but the teacher "
                        f"is a {judge.task.kind} net")
    generate = Generator(gan, settings.batch_size, settings.seed)
    draw: Draw = generate
    if settings.subsample == "cdr-rs":
        if not regression and feature_net is None:
            raise UserError("cDR-RS for classification needs a feature net (the teacher by default)")
        cdr = fit_cdr_rs(gan, generate, real, settings, feature_net, device)
        draw = SubsampledDraw(gan, generate, cdr, settings.seed)
    grid = label_grid(gan, judge, settings)
    cutoffs, agreement = _cutoffs(draw, judge, grid, settings, regression)
    parts, judged, passed = [], 0, 0
    for values, quota, cutoff in tqdm(_groups(grid, cutoffs, settings.nfake, regression), desc="fakes",
                                      disable=not progress):
        if quota:
            images, predictions, assigned, n_judged, n_passed = _collect(draw, judge, values, quota, cutoff)
            parts.append((images, predictions, assigned))
            judged, passed = judged + n_judged, passed + n_passed
    images, predictions, assigned = (torch.cat(p) for p in zip(*parts))
    if not agreement:     # no burn-in (filter off): every judged fake was kept, so these are raw
        agreement = _agreement(predictions, assigned, regression)
    labels = predictions if settings.adjust_labels else assigned
    stats = {**asdict(settings), **agreement, "gan_samples": generate.made, "judged": judged,
             "filter_keep_rate": passed / judged,
             "cutoffs": [float(c) for c in np.unique(cutoffs)] if regression else [float(c) for c in cutoffs]}
    if isinstance(draw, SubsampledDraw):
        stats["cdr_rs_acceptance_rate"] = draw.acceptance_rate
    if regression:
        stats["label_shift_mean_abs"] = float((labels.double() - assigned.double()).abs().mean())
        out_labels = labels.numpy().astype(np.float32)
    else:
        stats["label_changed_share"] = float((labels.long() != assigned.long()).float().mean())
        out_labels = labels.numpy().astype(np.int64)
    return FakeSet(images.numpy(), out_labels, stats)
