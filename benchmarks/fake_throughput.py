"""Fake-set throughput: accepted fakes per second through sample -> cDR-RS -> teacher filter ->
label adjustment, against bare GAN sampling (`LoadedGAN.generate`, every sample kept) measured in
the same run on the same GAN.

It needs a trained GAN and teacher; the demo's run folders serve (after `cgankd demo`):

    python benchmarks/fake_throughput.py                              # demo_out/fashion-mnist
    python benchmarks/fake_throughput.py --root demo_out/rotated-fashion-mnist --nfake 2000
    python benchmarks/fake_throughput.py --gan G_DIR --teacher T.pt --data REAL.h5 --device cuda

The cDR-RS fit (feature net, density-ratio MLP) and the filter's burn-in are part of each
pipeline's time, as they are in `cgankd fake make`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from cgankd.common.devices import pick_device
from cgankd.common.seeding import seed_everything
from cgankd.data import load_dataset
from cgankd.fake.commands import preset_settings
from cgankd.fake.judge import TeacherJudge
from cgankd.fake.make import make_fake_set
from cgankd.gans.sampling import load_gan, sample_labels
from cgankd.models.trained import TrainedNet


def demo_paths(root: Path) -> tuple[str, str, str]:
    subsets = sorted(root.glob("*_subset*.h5"))
    if not subsets:
        raise SystemExit(f"{root}: no demo subset file; run `cgankd demo` first or pass --gan/--teacher/--data")
    return str(root / "gan"), str(root / "teacher" / "model.pt"), str(subsets[0])


def timed_make(gan, judge, real, preset: str, nfake: int, device, **values) -> tuple[float, dict]:
    """One fake set with the preset's settings (the demo's sizes for the embedded datasets)."""
    settings = preset_settings(preset, nfake=nfake, **values)
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
    args = p.parse_args()
    gan_dir, teacher, data = demo_paths(Path(args.root)) if not args.gan else (args.gan, args.teacher, args.data)
    device = pick_device(args.device)
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
    for name, values in (("sample -> teacher labels", {"subsample": "none", "rho": 1.0}),
                         ("sample -> filter -> adjust", {"subsample": "none"}),
                         ("sample -> cDR-RS -> filter -> adjust", {"subsample": "cdr-rs"})):
        seconds, stats = timed_make(gan, judge, real, args.preset, args.nfake, device, **values)
        rate = args.nfake / seconds
        print(f"{name:<36} {seconds:8.1f} {rate:9.1f} {stats['gan_samples']:12d} {rate / base:8.2f}x")
        if "cdr_rs_acceptance_rate" in stats:
            print(f"  cDR-RS acceptance {stats['cdr_rs_acceptance_rate']:.3f}, "
                  f"filter keep rate {stats['filter_keep_rate']:.3f}")


if __name__ == "__main__":
    main()
