"""`cgankd fake make`: GAN checkpoint + teacher + real data -> a processed fake h5 file."""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from ..common.devices import pick_device
from ..common.errors import UserError
from ..common.files import check_output_file, file_fingerprint
from ..common.runs import check_same_settings, git_commit
from ..common.settings import parse_settings
from ..data import load_dataset, read_fake_h5, write_fake_h5
from ..data.preset_choice import choose_preset
from ..gans.sampling import LoadedGAN, load_gan, resolve_checkpoint
from ..models.trained import TrainedNet, resolve_model_file
from ..presets import get_preset
from .judge import TeacherJudge
from .make import FakeSettings, check_compatible, make_fake_set
from .relabel import relabel
from .work import FakeWork, work_folder

SHOWN_STATS = ("teacher_agreement_raw", "teacher_mae_raw", "cdr_rs_acceptance_rate", "filter_keep_rate",
               "label_changed_share", "label_shift_mean_abs", "gan_samples")


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`top` over `base`; where both hold a dict (cdr_rs and its sections) they merge key by key, so
    `--set cdr_rs={"dr": {"epochs": 5}}` changes that one setting and keeps the preset's others."""
    out = dict(base)
    for key, value in top.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def preset_settings(preset: str | None, **values: Any) -> FakeSettings:
    """The preset's "fake" section with `values` (None ignored) on top; NFAKE defaults to the preset's."""
    section = get_preset(preset).get("fake", {}) if preset else {}
    known = {f.name for f in dataclasses.fields(FakeSettings)}
    unknown = ({k for k, v in values.items() if v is not None} | set(section)) - known
    if unknown:
        raise UserError(f"unknown fake setting(s) {sorted(unknown)}; known: {', '.join(sorted(known))}")
    merged = _merge(section, {k: v for k, v in values.items() if v is not None})
    if "nfake" not in merged:
        raise UserError("--nfake is needed: no preset gives a default number of fakes")
    return FakeSettings(**merged)


def _inputs(gan: str, teacher: str, feature_net: str | None, data: str) -> dict[str, dict[str, str]]:
    """Each input file with a fingerprint of its content, so that a changed input is noticed."""
    files = {"gan": str(gan), "teacher": teacher, "feature_net": feature_net, "data": data}
    # A GAN run folder by its checkpoint alone: its logs and grids do not change the fakes.
    hashed = {**files, "gan": resolve_checkpoint(gan)}
    return {name: {"path": str(path), "fingerprint": file_fingerprint(hashed[name])}
            for name, path in files.items() if path is not None}


def _check_data_fits(data: str, bundle, gan: LoadedGAN) -> None:
    """The real data is what the GAN was trained on: same image shape, task and class count."""
    shape = (gan.channels, gan.img_size, gan.img_size)
    if bundle.train.image_shape != shape:
        raise UserError(f"{data}: images are {'x'.join(map(str, bundle.train.image_shape))}, the GAN "
                        f"({gan.path}) makes {'x'.join(map(str, shape))}")
    if bundle.is_regression != gan.is_regression or (not gan.is_regression and bundle.num_classes != gan.num_classes):
        what = "a regression dataset" if bundle.is_regression else f"{bundle.num_classes} classes"
        made = "continuous labels" if gan.is_regression else f"{gan.num_classes} classes"
        raise UserError(f"{data}: {what}, the GAN ({gan.path}) was trained for {made}")


def _already_made(out: Path, provenance: dict[str, Any]) -> bool:
    """True when `out` is a fake set made with these settings and inputs (reused on --resume)."""
    _, attrs = read_fake_h5(out)
    check_same_settings(out, attrs.get("provenance", {}), provenance, action="reuse it")
    return True


def build_fake_file(gan_ckpt: str, teacher: str, data: str, out: str | Path, settings: FakeSettings, *,
                    feature_net: str | None = None, device: torch.device, progress: bool = True,
                    resume: bool = False, force: bool = False, preset: str | None = None) -> dict:
    """Make the fake set and write it (atomically) with its provenance; returns its attrs. Every
    input and the output path are checked before any work; the work is resumable (`FakeWork`)."""
    settings.check()
    out = Path(out)
    if not (resume and out.exists()):
        check_output_file(out, force)
    teacher_path = str(resolve_model_file(teacher))
    feature_path = str(resolve_model_file(feature_net)) if feature_net else teacher_path
    provenance = {"settings": dataclasses.asdict(settings),
                  "inputs": _inputs(gan_ckpt, teacher_path, feature_path if feature_net else None, data)}
    if resume and out.exists() and _already_made(out, provenance):
        print(f"{out}: made earlier with the same settings; kept as it is")
        return read_fake_h5(out)[1]
    if force:
        shutil.rmtree(work_folder(out), ignore_errors=True)
    judge = TeacherJudge(TrainedNet.load(teacher_path, device, "teacher"))
    features = judge.net if feature_path == teacher_path else TrainedNet.load(feature_path, device, "feature net")
    gan = load_gan(gan_ckpt, device=device, preset=preset)
    bundle = load_dataset(data, task=judge.task.kind)
    _check_data_fits(data, bundle, gan)
    features = features if settings.subsample == "cdr-rs" and not gan.is_regression else None
    check_compatible(gan, judge, features)      # before the work folder is made
    work = FakeWork(out, provenance, resume)
    start = time.perf_counter()
    fakes = make_fake_set(gan, judge, bundle.train, settings, feature_net=features, device=device,
                          progress=progress, work=work)
    attrs = {**fakes.stats, "provenance": provenance, "gan_checkpoint": gan.path, "gan": gan.kind,
             "gan_iteration": gan.iteration, "gan_ema": gan.ema, "teacher": teacher_path,
             "feature_net": feature_path, "data": data, "git_commit": git_commit(),
             "wall_time_s": time.perf_counter() - start, "task": judge.task.kind}
    if not gan.is_regression:
        attrs["num_classes"] = gan.num_classes
    write_fake_h5(out, fakes.images, fakes.labels, attrs)
    work.finish()
    return attrs


def make(args: argparse.Namespace) -> int:
    preset, how = choose_preset(args.data, args.preset)
    print(f"fake make: {how}")
    sets: dict[str, Any] = {}
    for pair in args.set:   # a repeated --set of one JSON-object setting (cdr_rs) merges, as with the preset's
        sets = _merge(sets, parse_settings([pair]))
    settings = preset_settings(preset, nfake=args.nfake, seed=args.seed, subsample=args.subsample, rho=args.rho,
                               adjust_labels=args.adjust_labels, **sets)
    attrs = build_fake_file(args.gan, args.teacher, args.data, args.out, settings, feature_net=args.feature_net,
                            device=pick_device(args.device), resume=args.resume, force=args.force, preset=preset)
    print(f"wrote {settings.nfake} fakes to {args.out}: " +
          "  ".join(f"{k}={attrs[k]:.4g}" for k in SHOWN_STATS if k in attrs))
    return 0


def relabel_set(args: argparse.Namespace) -> int:
    changed = relabel(args.data, args.teacher, args.out, device=pick_device(args.device), force=args.force)
    shown = ", ".join(f"{k} {v:.4g}" for k, v in changed.items())
    print(f"wrote {args.out} ({shown})")
    return 0
