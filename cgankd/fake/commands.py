"""`cgankd fake make`: GAN checkpoint + teacher + real data -> a processed fake h5 file."""

from __future__ import annotations

import argparse
import dataclasses
import time

from ..common.devices import pick_device
from ..common.errors import UserError
from ..common.runs import git_commit
from ..common.seeding import seed_everything
from ..data import load_dataset, write_fake_h5
from ..gans.sampling import load_gan
from ..presets import get_preset, guess_preset
from ..train.config import parse_settings
from .judge import TeacherJudge
from .make import FakeSettings, make_fake_set


def settings_from_args(args: argparse.Namespace) -> FakeSettings:
    """Preset "fake" section, then the flags, then --set KEY=VALUE."""
    preset_name = args.preset or guess_preset(args.data)
    section = get_preset(preset_name).get("fake", {}) if preset_name else {}
    known = {f.name for f in dataclasses.fields(FakeSettings)}
    values = {k: v for k, v in section.items() if k in known}
    values.update({"nfake": args.nfake, "seed": args.seed})
    for flag in ("subsample", "rho", "adjust_labels"):
        if getattr(args, flag) is not None:
            values[flag] = getattr(args, flag)
    overrides = parse_settings(args.set)
    unknown = set(overrides) - known
    if unknown:
        raise UserError(f"unknown fake setting(s) {sorted(unknown)}; known: {', '.join(sorted(known))}")
    values.update(overrides)
    return FakeSettings(**values)


def make(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    settings.check()
    device = pick_device(args.device)
    seed_everything(settings.seed)
    judge = TeacherJudge.from_checkpoint(args.teacher, device)
    gan = load_gan(args.gan, device=device)
    real = load_dataset(args.data, task=judge.task.kind).train
    start = time.perf_counter()
    fakes = make_fake_set(gan, judge, real, settings, feature_net=args.feature_net or args.teacher, device=device)
    attrs = {**fakes.stats, "gan_checkpoint": gan.path, "gan_ema": gan.ema, "teacher": args.teacher,
             "feature_net": args.feature_net or args.teacher, "data": args.data, "git_commit": git_commit(),
             "wall_time_s": time.perf_counter() - start, "task": judge.task.kind}
    write_fake_h5(args.out, fakes.images, fakes.labels, attrs)
    shown = ("teacher_agreement_raw", "teacher_mae_raw", "cdr_rs_acceptance_rate", "filter_keep_rate",
             "label_changed_share", "label_shift_mean_abs", "gan_samples")
    print(f"wrote {len(fakes.labels)} fakes to {args.out}: " +
          "  ".join(f"{k}={fakes.stats[k]:.4g}" for k in shown if k in fakes.stats))
    return 0
