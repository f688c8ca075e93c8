"""Build a processed fake training set (the core of cGAN-KD's data side).

    GAN samples at each label value
      -> cDR-RS rejection sampling (optional)        keeps realistic samples
      -> teacher filtering at the rho cut-off        drops samples the teacher finds hard
      -> label adjustment (optional)                 label := teacher's prediction
    ... repeated per label value until its share of NFAKE survives.

Labels outside this module are raw (class ids, degrees, years); the GAN sees its own
normalised labels, converted at the edge (`GanProposals`).

The work is resumable: with a `FakeWork` folder the fitted cDR-RS model, the filter cut-offs
and the fakes collected so far are saved as they are made, together with every random state,
so that a run killed at any point and started again ends with the same fakes.
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
from ..gans.sampling import LoadedGAN, even_counts, label_grid
from ..models.trained import TrainedNet
from ..subsampling import CDRRS, SubsampledDraw, make_extractor
from .filtering import class_cutoffs, global_cutoff
from .judge import TeacherJudge
from .work import FakeWork

Draw = Callable[[float, int], torch.Tensor]      # (raw label value, n) -> uint8 images


@dataclass
class FakeSettings:
    nfake: int
    subsample: str = "cdr-rs"          # "cdr-rs" | "none"
    rho: float = 0.9                   # filtering quantile; 1.0 switches filtering off
    adjust_labels: bool = True
    seed: int = 0
    filter_burn_in: int = 1000         # fakes per class (classification) or in all (regression) for the cut-offs
    label_values: int | None = None    # regression: size of the label grid (None: the GAN's own `label_values`)
    batch_size: int = 500
    fit_size: int = 20_000             # at most this many real images fit cDR-RS
    cdr_rs: dict = field(default_factory=dict)   # overrides of cgankd.subsampling's paper settings

    def check(self) -> None:
        if self.nfake < 1:
            raise UserError(f"--nfake must be positive (got {self.nfake})")
        if not 0.0 < self.rho <= 1.0:
            raise UserError(f"--rho must be in (0, 1] (got {self.rho})")
        if self.subsample not in ("cdr-rs", "none"):
            raise UserError(f"--subsample must be cdr-rs or none (got {self.subsample!r})")
        for name in ("filter_burn_in", "batch_size", "fit_size"):
            if getattr(self, name) < 1:
                raise UserError(f"fake setting {name}={getattr(self, name)} must be at least 1")
        if self.label_values is not None and self.label_values < 1:
            raise UserError(f"fake setting label_values={self.label_values} must be at least 1")
        if not isinstance(self.cdr_rs, dict) or not all(isinstance(v, dict) for v in self.cdr_rs.values()):
            raise UserError(f"fake setting cdr_rs={self.cdr_rs!r}: expected a JSON object of sections, "
                            'e.g. cdr_rs={"dr": {"epochs": 5}, "rs": {"burn_in": 100}}')


@dataclass
class FakeSet:
    images: np.ndarray
    labels: np.ndarray         # raw units: int64 class ids or float32 values
    stats: dict[str, Any]


class GanProposals:
    """Fresh GAN samples; each call draws new noise from a counter-seeded stream and counts
    what it made. Called with GAN labels (a cDR-RS proposal) or, via `at_raw`, a raw label value."""

    def __init__(self, gan: LoadedGAN, batch_size: int, seed: int):
        self.gan, self.batch_size, self.seed, self.made = gan, batch_size, seed, 0

    def gan_labels(self, raw: torch.Tensor) -> torch.Tensor:
        if self.gan.is_regression:
            norm = self.gan.label_norm
            return norm.normalize(raw.double()).clamp(0, 1).float() if norm else raw.float()
        return raw.long()

    def __call__(self, labels: torch.Tensor) -> torch.Tensor:
        self.seed += 1
        self.made += len(labels)
        return torch.from_numpy(self.gan.generate(labels, batch_size=self.batch_size, seed=self.seed))

    def at_raw(self, value: float, n: int) -> torch.Tensor:
        return self(self.gan_labels(torch.full((n,), value, dtype=torch.float64)))

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "made": self.made}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.seed, self.made = state["seed"], state["made"]


class RawDraw:
    """A `Draw` in raw label units through cDR-RS (or straight from the GAN when `subsampled` is None)."""

    def __init__(self, proposals: GanProposals, subsampled: SubsampledDraw | None):
        self.proposals, self.subsampled = proposals, subsampled

    def __call__(self, value: float, n: int) -> torch.Tensor:
        if self.subsampled is None:
            return self.proposals.at_raw(value, n)
        gan_value = float(self.proposals.gan_labels(torch.tensor([value], dtype=torch.float64))[0])
        return self.subsampled(gan_value, n)

    def state_dict(self) -> dict[str, Any]:
        return {"proposals": self.proposals.state_dict(),
                "subsampled": self.subsampled.state_dict() if self.subsampled else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.proposals.load_state_dict(state["proposals"])
        if self.subsampled is not None:
            self.subsampled.load_state_dict(state["subsampled"])


def fit_cdr_rs(gan: LoadedGAN, proposals: GanProposals, real: Split, settings: FakeSettings,
               feature_net: TrainedNet | None, device: torch.device, progress: bool) -> CDRRS:
    """Density ratio real/fake in feature space: real images against fresh fakes at the same labels."""
    rng = np.random.default_rng(settings.seed)
    pick = np.sort(rng.choice(len(real.labels), min(len(real.labels), settings.fit_size), replace=False))
    images = real.images[pick]
    labels = proposals.gan_labels(torch.as_tensor(real.labels[pick]))
    kind = "regression" if gan.is_regression else "classification"
    if kind == "classification" and feature_net is None:
        raise UserError("cDR-RS for classification needs a feature net (--feature-net; the teacher by default)")
    if progress and feature_net is None:
        tqdm.write("cDR-RS: training the sparse autoencoder that gives its features")
    extractor = make_extractor(kind, classifier=feature_net, real_images=images, real_labels=labels,
                               settings=settings.cdr_rs, device=device, seed=settings.seed, progress=progress)
    cdr = CDRRS(extractor, kind, num_classes=gan.num_classes, settings=settings.cdr_rs, device=device,
                label_embed=gan.embed if gan.is_regression and gan.y2h is not None else None)
    return cdr.fit(images, labels, proposals, seed=settings.seed, progress=progress)


def grid_values(gan: LoadedGAN, judge: TeacherJudge, settings: FakeSettings) -> np.ndarray:
    """Raw label values the fakes are made at: every class, or the GAN's label grid over the range."""
    if not gan.is_regression:
        return np.arange(gan.num_classes, dtype=np.float64)
    norm = gan.label_norm or judge.task.label_norm
    n_values = settings.label_values or gan.config.get("label_values", 2000)
    return norm.denormalize(label_grid(n_values, settings.nfake).numpy())


def _cutoffs(draw: Draw, judge: TeacherJudge, grid: np.ndarray, settings: FakeSettings, regression: bool,
             progress: bool) -> tuple[np.ndarray, dict[str, float]]:
    """Burn-in fakes → per-value cut-offs (array aligned with grid) and raw teacher agreement.
    With filtering off (rho 1) there is nothing to estimate: the agreement is then measured on
    the kept fakes themselves (see make_fake_set)."""
    if settings.rho >= 1.0:
        return np.full(len(grid), np.inf), {}
    per_value = settings.filter_burn_in if not regression else math.ceil(settings.filter_burn_in / len(grid))
    labels = torch.as_tensor(np.repeat(grid, per_value))
    images = torch.cat([draw(float(v), per_value) for v in tqdm(grid, desc="filter burn-in", disable=not progress,
                                                                  leave=False, dynamic_ncols=True)])
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


@dataclass
class Collection:
    """One group's collection in rounds: draw evenly over the group's label values until `quota`
    fakes pass the filter. Classification has a group per class (per-class cut-offs); regression
    one group for the whole grid, so that, as in the reference's global filter, label values the
    teacher finds hard end up with fewer fakes. Its state is saved between rounds."""

    values: np.ndarray
    quota: int
    cutoff: float
    kept: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = field(default_factory=list)
    n_kept: int = 0
    judged: int = 0

    @property
    def done(self) -> bool:
        return self.n_kept >= self.quota

    def round(self, draw: Draw, judge: TeacherJudge) -> int:
        """One round of draws; returns how many fakes passed."""
        if self.judged > MAX_DRAWS_PER_FAKE * self.quota:
            raise UserError(f"only {self.n_kept} of {self.judged} fakes at labels {self.values.min():g}.."
                            f"{self.values.max():g} passed the teacher filter (needed {self.quota}); the GAN or "
                            "the teacher is too weak here")
        keep_rate = max(self.n_kept / self.judged, 0.01) if self.judged else 1.0
        per_value = max(1, math.ceil(1.1 * (self.quota - self.n_kept) / keep_rate / len(self.values)))
        assigned = torch.as_tensor(np.repeat(self.values, per_value))
        images = torch.cat([draw(float(v), per_value) for v in self.values])
        scores, predictions = judge.judge(images, assigned)
        keep = scores <= self.cutoff
        self.judged += len(images)
        passed = int(keep.sum())
        self.n_kept += passed
        self.kept.append((images[keep], predictions[keep], assigned[keep]))
        return passed

    def result(self, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`quota` of the passed fakes. The last round's surplus is dropped at random, not from the
        end of the grid, so that no label range loses more than its share."""
        images, predictions, assigned = (torch.cat(parts) for parts in zip(*self.kept))
        surplus = len(images) - self.quota
        last = len(self.kept[-1][0])
        drop = len(images) - last + torch.randperm(last, generator=torch.Generator().manual_seed(seed))[:surplus]
        keep = torch.ones(len(images), dtype=torch.bool)
        keep[drop] = False
        return images[keep], predictions[keep], assigned[keep]

    def state_dict(self) -> dict[str, Any]:
        return {"kept": self.kept, "n_kept": self.n_kept, "judged": self.judged}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.kept, self.n_kept, self.judged = list(state["kept"]), state["n_kept"], state["judged"]


def _groups(grid: np.ndarray, cutoffs: np.ndarray, nfake: int, regression: bool) -> list[Collection]:
    """One collection per class, or one for the whole grid."""
    if regression:
        return [Collection(grid, nfake, float(cutoffs[0]))]
    return [Collection(grid[c:c + 1], int(q), float(cutoffs[c]))
            for c, q in enumerate(even_counts(nfake, len(grid))) if q]


def check_compatible(gan: LoadedGAN, judge: TeacherJudge, feature_net: TrainedNet | None) -> None:
    """The teacher (and the feature net) take the GAN's images and serve its task: checked before any work."""
    if gan.is_regression != judge.task.is_regression:
        raise UserError(f"the GAN is {'continuous' if gan.is_regression else 'class'}-conditional but the teacher "
                        f"is a {judge.task.kind} net")
    shape = (gan.channels, gan.img_size, gan.img_size)
    judge.net.check_fits(shape, judge.task.kind, gan.num_classes, f"the GAN ({gan.path})")
    if feature_net is not None:
        feature_net.check_fits(shape, feature_net.task.kind, feature_net.task.num_classes, f"the GAN ({gan.path})")


def make_fake_set(gan: LoadedGAN, judge: TeacherJudge, real: Split, settings: FakeSettings, *,
                  feature_net: TrainedNet | None = None, device: torch.device | str = "cpu", progress: bool = True,
                  work: FakeWork | None = None) -> FakeSet:
    """NFAKE processed fakes from `gan`, judged by `judge`, per `settings` (see module doc). With
    `work`, every step is saved there as it finishes and a saved step is resumed, not redone."""
    settings.check()
    check_compatible(gan, judge, feature_net)
    device = torch.device(device)
    regression = gan.is_regression
    proposals = GanProposals(gan, settings.batch_size, settings.seed)
    subsampled = None
    if settings.subsample == "cdr-rs":
        cdr = work.load_cdr_rs(device, gan) if work else None
        if cdr is None:
            cdr = fit_cdr_rs(gan, proposals, real, settings, feature_net, device, progress)
            if work:
                work.save_cdr_rs(cdr, proposals.state_dict())
        else:
            proposals.load_state_dict(work.fit_proposals())
        label_dtype = torch.float32 if regression else torch.long
        subsampled = SubsampledDraw(proposals, cdr, settings.seed, label_dtype)
    draw = RawDraw(proposals, subsampled)
    grid = grid_values(gan, judge, settings)
    state = work.load_state() if work else None
    if state is None:
        cutoffs, agreement = _cutoffs(draw, judge, grid, settings, regression, progress)
        state = {"cutoffs": cutoffs, "agreement": agreement, "group": 0, "collection": None, "judged": 0,
                 "passed": 0, "draw": draw.state_dict()}
        if work:
            work.save_state(state)
    else:
        draw.load_state_dict(state["draw"])
    groups = _groups(grid, state["cutoffs"], settings.nfake, regression)
    bar = tqdm(total=settings.nfake, desc="fakes kept", disable=not progress, dynamic_ncols=True,
               initial=sum(g.quota for g in groups[:state["group"]]))
    results = [work.load_part(i) for i in range(state["group"])] if work else []
    for index in range(state["group"], len(groups)):
        group = groups[index]
        if state["collection"] is not None:
            group.load_state_dict(state["collection"])
            bar.update(min(group.n_kept, group.quota))
        while not group.done:
            passed = group.round(draw, judge)
            bar.update(min(passed, group.quota - (group.n_kept - passed)))
            state.update(collection=group.state_dict(), draw=draw.state_dict())
            if work and not group.done:
                work.save_state(state)
        results.append(group.result(settings.seed + index))
        if work:
            work.save_part(index, results[-1])
        state.update(group=index + 1, collection=None, draw=draw.state_dict(),
                     judged=state["judged"] + group.judged, passed=state["passed"] + group.n_kept)
        if work:
            work.save_state(state)
    bar.close()
    return _finish(results, state, settings, proposals, subsampled, regression)


def _finish(results, state, settings, proposals, subsampled, regression) -> FakeSet:
    images, predictions, assigned = (torch.cat(p) for p in zip(*results))
    agreement = state["agreement"] or _agreement(predictions, assigned, regression)   # filter off: raw = kept
    labels = predictions if settings.adjust_labels else assigned
    cutoffs = state["cutoffs"]
    stats = {**asdict(settings), **agreement, "gan_samples": proposals.made, "judged": state["judged"],
             "filter_keep_rate": state["passed"] / state["judged"],
             "cutoffs": [float(c) for c in np.unique(cutoffs)] if regression else [float(c) for c in cutoffs]}
    if subsampled is not None:
        stats["cdr_rs_acceptance_rate"] = subsampled.acceptance_rate
    if regression:
        stats["label_shift_mean_abs"] = float((labels.double() - assigned.double()).abs().mean())
        out_labels = labels.numpy().astype(np.float32)
    else:
        stats["label_changed_share"] = float((labels.long() != assigned.long()).float().mean())
        out_labels = labels.numpy().astype(np.int64)
    return FakeSet(images.numpy(), out_labels, stats)
