"""Fake-set throughput: accepted fakes per second through sample -> cDR-RS -> teacher filter ->
label adjustment, against bare GAN sampling (`LoadedGAN.generate`, every sample kept) measured in
the same run on the same GAN.

It needs a trained GAN and teacher; the demo's run folders serve (after `cgankd demo`):

    python benchmarks/fake_throughput.py                              # demo_out/fashion-mnist
    python benchmarks/fake_throughput.py --root demo_out/rotated-fashion-mnist --nfake 2000
    python benchmarks/fake_throughput.py --gan G_DIR --teacher T.pt --data REAL.h5 --device cuda
    python benchmarks/fake_throughput.py --synthetic cifar100 --nfake 20000 --device cuda

`--synthetic PRESET` needs no trained nets: an untrained BigGAN with the preset's settings, its own
samples as the real images, and an untrained teacher of the preset's architecture stand in
(acceptance rates then mean nothing; the compute per fake is the real one).

The cDR-RS fit (feature net, density-ratio MLP) and the filter's burn-in are part of each
pipeline's time, as they are in `cgankd fake make`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from cgankd.common.devices import pick_device
from cgankd.common.runs import RunDir
from cgankd.common.seeding import seed_everything
from cgankd.common.settings import parse_settings
from cgankd.data import PixelNorm, Split, load_dataset, write_dataset_h5
from cgankd.fake.commands import preset_settings
from cgankd.fake.judge import TeacherJudge
from cgankd.fake.make import make_fake_set
from cgankd.gans.config import gan_config
from cgankd.gans.sampling import load_gan, sample_labels
from cgankd.gans.trainer import GanData, GanTrainer
from cgankd.models import build_model, save_model_checkpoint
from cgankd.models.trained import TrainedNet
from cgankd.presets import get_preset
from cgankd.tasks import Task


def demo_paths(root: Path) -> tuple[str, str, str]:
    subsets = sorted(root.glob("*_subset*.h5"))
    if not subsets:
        raise SystemExit(f"{root}: no demo subset file; run `cgankd demo` first or pass --gan/--teacher/--data")
    return str(root / "gan"), str(root / "teacher" / "model.pt"), str(subsets[0])


def synthetic_inputs(preset: str, root: Path, device: torch.device, per_class: int, gan_overrides: dict,
                     teacher_arch: str | None) -> tuple[str, str, str]:
    """(GAN run folder, teacher checkpoint, real h5) of untrained nets, under `root`. The "real" images
    are the untrained GAN's own samples, so that cDR-RS sees two alike distributions and neither
    rejects everything nor collapses."""
    spec = get_preset(preset)
    data, k = spec["data"], spec["data"].get("num_classes")
    if "biggan" not in spec.get("gan", {}) or not k:
        raise SystemExit(f"--synthetic {preset}: a classification preset with a BigGAN is needed")
    c, size = data["channels"], data["img_size"]
    labels = np.arange(k * per_class) % k
    placeholder = torch.zeros((k, c, size, size), dtype=torch.uint8, device=device)
    cfg = gan_config("biggan", spec["gan"]["biggan"], gan_overrides)
    trainer = GanTrainer("biggan", cfg, GanData(placeholder, torch.arange(k, device=device), num_classes=k),
                         RunDir(root / "gan"), device=device, quiet=True)
    trainer.setup()
    trainer.save()
    images = load_gan(root / "gan", device=device).generate(torch.as_tensor(labels), seed=1)
    real = root / "real.h5"
    write_dataset_h5(real, Split(images, labels), Split(images[:k], labels[:k]), {"task": "classification"})
    arch = teacher_arch or spec.get("teacher", "resnet8x4")
    kwargs = {"num_classes": k, "in_channels": c, "img_size": size, "task": "classification"}
    teacher = root / "teacher.pt"
    save_model_checkpoint(teacher, build_model(arch, **kwargs), arch=arch, model_kwargs=kwargs,
                          task=Task("classification", num_classes=k),
                          pixel_norm=PixelNorm.from_spec("dataset", images).to_dict())
    return str(root / "gan"), str(teacher), str(real)


def timed_make(gan, judge, real, preset: str, nfake: int, device, **values) -> tuple[float, dict]:
    """One fake set with the preset's settings (the demo's sizes for the embedded datasets)."""
    settings = preset_settings(preset, nfake=nfake, **values)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seed_everything(0)
    start = time.perf_counter()
    fakes = make_fake_set(gan, judge, real, settings, feature_net=judge.net, device=device, progress=False)
    return time.perf_counter() - start, fakes.stats


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default="demo_out/fashion-mnist", help="a demo task folder (gan/, teacher/, subset h5)")
    p.add_argument("--gan"), p.add_argument("--teacher"), p.add_argument("--data")
    p.add_argument("--nfake", type=int, default=2000)
    p.add_argument("--preset", default="fashion-mnist", help="preset whose fake settings are used")
    p.add_argument("--device", default="auto")
    p.add_argument("--synthetic", metavar="PRESET", help="untrained nets and random images of this preset")
    p.add_argument("--real-per-class", type=int, default=500, help="with --synthetic: real images per class")
    p.add_argument("--teacher-arch", help="with --synthetic: the teacher (default: the preset's)")
    p.add_argument("--gan-set", action="append", default=[], metavar="KEY=VALUE",
                   help="with --synthetic: a GAN setting (repeatable)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a fake-making setting for every pipeline, e.g. --set filter_burn_in=200 (repeatable)")
    p.add_argument("--pipelines", nargs="+", type=int, default=[0, 1, 2],
                   help="which of the three pipelines to time (0: teacher labels, 1: filter, 2: cDR-RS + filter)")
    args = p.parse_args()
    device = pick_device(args.device)
    if args.synthetic:
        args.preset = args.synthetic
        root = Path(tempfile.mkdtemp(prefix="fake_throughput_"))
        gan_dir, teacher, data = synthetic_inputs(args.synthetic, root, device, args.real_per_class,
                                                  parse_settings(args.gan_set, "--gan-set"), args.teacher_arch)
    else:
        gan_dir, teacher, data = demo_paths(Path(args.root)) if not args.gan else (args.gan, args.teacher, args.data)
    extra = parse_settings(args.set)
    judge = TeacherJudge(TrainedNet.load(teacher, device, "teacher"))
    gan = load_gan(gan_dir, device=device)
    real = load_dataset(data, task=judge.task.kind).train
    print(f"device {device}, GAN {gan_dir}, teacher {teacher}, NFAKE {args.nfake}")
    print(f"{'pipeline':<36} {'seconds':>8} {'fakes/s':>9} {'GAN samples':>12} {'vs GAN':>9}")
    start = time.perf_counter()
    gan.generate(sample_labels(gan, args.nfake), seed=0)
    base_s = time.perf_counter() - start
    base = args.nfake / base_s
    print(f"{'GAN sampling alone':<36} {base_s:8.1f} {base:9.1f} {args.nfake:12d} {1.0:8.2f}x")
    pipelines = (("sample -> teacher labels", {"subsample": "none", "rho": 1.0}),
                 ("sample -> filter -> adjust", {"subsample": "none"}),
                 ("sample -> cDR-RS -> filter -> adjust", {"subsample": "cdr-rs"}))
    for name, values in (pipelines[i] for i in args.pipelines):
        seconds, stats = timed_make(gan, judge, real, args.preset, args.nfake, device, **{**extra, **values})
        rate = args.nfake / seconds
        print(f"{name:<36} {seconds:8.1f} {rate:9.1f} {stats['gan_samples']:12d} {rate / base:8.2f}x")
        if "cdr_rs_acceptance_rate" in stats:
            print(f"  cDR-RS acceptance {stats['cdr_rs_acceptance_rate']:.3f}, "
                  f"filter keep rate {stats['filter_keep_rate']:.3f}")


if __name__ == "__main__":
    main()
