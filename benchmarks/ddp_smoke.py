"""DDP smoke run: `cgankd train` (with --sync-bn and --tensorboard) and `cgankd gan train` in one
torchrun group, on whatever devices the processes get; rank 0 reports what ran where.

    torchrun --standalone --nproc_per_node=2 benchmarks/ddp_smoke.py DATA.h5 OUT [--device cuda] [--epochs 2]
        [--batch-size 128] [--iters 20] [--gan-set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch.distributed as dist

from cgankd.cli import main as cgankd
from cgankd.common import distributed


def run(argv: list) -> float:
    start = time.perf_counter()
    code = cgankd([str(a) for a in argv])
    if code != 0:
        raise SystemExit(f"cgankd {' '.join(map(str, argv[:2]))} exited with {code}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("out")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--gan-set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    world, device = distributed.start(args.device)
    places = [None] * world.size
    dist.all_gather_object(places, f"rank {world.rank}: {device}")
    out = Path(args.out)
    train_s = run(["train", "--data", args.data, "--arch", "resnet8", "--out", out / "train", "--epochs", args.epochs,
                   "--batch-size", args.batch_size, "--device", args.device, "--sync-bn", "--tensorboard", "--quiet"])
    sets = [x for s in args.gan_set for x in ("--set", s)]
    gan_s = run(["gan", "train", "--data", args.data, "--gan", "biggan", "--out", out / "gan", "--iters", args.iters,
                 "--batch-size", 2 * world.size * 4, "--device", args.device, "--sync-bn", "--quiet", *sets])
    if world.is_main:
        metrics = json.loads((out / "train" / "metrics.json").read_text())
        log = (out / "train" / "log.jsonl").read_text().splitlines()
        gan_log = (out / "gan" / "log.jsonl").read_text().splitlines()
        print(f"DDP smoke: {world.size} processes, backend {dist.get_backend()}, {'; '.join(places)}")
        print(f"DDP smoke: train {len(log)} epochs in {train_s:.1f} s, last epoch "
              f"{json.loads(log[-1])['img_per_s']:.0f} img/s, test_acc {metrics['test_acc']:.2f}; "
              f"gan train {len(gan_log)} log lines in {gan_s:.1f} s; ok")


if __name__ == "__main__":
    main()
