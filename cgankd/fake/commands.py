"""`cgankd fake make`: GAN checkpoint + teacher + real data -> a processed fake h5 file."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

import torch

from ..common.devices import pick_device
from ..common.errors import UserError
from ..common.runs import git_commit
from ..common.seeding import seed_everything
from ..common.settings import parse_settings
from ..data import load_dataset, write_fake_h5
from ..gans.sampling import load_gan
from ..presets import get_preset, guess_preset
from .judge import TeacherJudge
from .make import FakeSettings, make_fake_set

SHOWN_STATS = ("teacher_agreement_raw", "teacher_mae_raw", "cdr_rs_acceptance_rate", "filter_keep_rate",
               "label_changed_share", "label_shift_mean_abs", "gan_samples")


def preset_settings(data: str, preset: str | None, **values: Any) -> FakeSettings:
    """The preset's "fake" section with `values` (None ignored) on top."""
    name = preset or guess_preset(data)
    section = get_preset(name).get("fake", {}) if name else {}
    known = {f.name for f in dataclasses.fields(FakeSettings)}
    unknown = {k for k, v in values.items() if v is not None} - known
    if unknown:
        raise UserError(f"unknown fake setting(s) {sorted(unknown)}; known: {', '.join(sorted(known))}")
    merged = {k: v for k, v in section.items() if k in known}
    merged.update({k: v for k, v in values.items() if v is not None})
    return FakeSettings(**merged)


def build_fake_file(gan_ckpt: str, teacher: str, data: str, out: str | Path, settings: FakeSettings, *,
                    feature_net: str | None = None, device: torch.device, progress: bool = True) -> dict:
    """Make the fake set and write it (atomically) with its provenance; returns the attrs."""
    settings.check()
    seed_everything(settings.seed)
    judge = TeacherJudge.from_checkpoint(teacher, device)
    gan = load_gan(gan_ckpt, device=device)
    real = load_dataset(data, task=judge.task.kind).train
    start = time.perf_counter()
    fakes = make_fake_set(gan, judge, real, settings, feature_net=feature_net or teacher, device=device,
                          progress=progress)
    attrs = {**fakes.stats, "gan_checkpoint": gan.path, "gan_ema": gan.ema, "teacher": teacher,
             "feature_net": feature_net or teacher, "data": data, "git_commit": git_commit(),
             "wall_time_s": time.perf_counter() - start, "task": judge.task.kind}
    write_fake_h5(out, fakes.images, fakes.labels, attrs)
    return attrs


def make(args: argparse.Namespace) -> int:
    settings = preset_settings(args.data, args.preset, nfake=args.nfake, seed=args.seed, subsample=args.subsample,
                               rho=args.rho, adjust_labels=args.adjust_labels, **parse_settings(args.set))
    attrs = build_fake_file(args.gan, args.teacher, args.data, args.out, settings, feature_net=args.feature_net,
                            device=pick_device(args.device))
    print(f"wrote {settings.nfake} fakes to {args.out}: " +
          "  ".join(f"{k}={attrs[k]:.4g}" for k in SHOWN_STATS if k in attrs))
    return 0
