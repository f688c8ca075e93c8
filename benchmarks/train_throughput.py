"""Student-training throughput: this trainer against a reference-style loop, side by side in one run.

The trainer is `cgankd train` itself, run as a command, with the CIFAR-100 preset's augmentation
(device-resident uint8 data, batched on-device crop and flip, channels_last, OpenMP threads that
sleep while they wait, and on CUDA bf16 autocast, fused SGD and no host sync per step), timed over
its second epoch as the img/s it logs. The reference-style loop is what the reference code runs,
in a Python process of its own with the environment as given: torch's DataLoader with
torchvision's PIL transforms (RandomCrop(padding=4), flip, ToTensor, Normalize) and 2 workers, the
model in the default memory format and float32, plain SGD, and the loss and accuracy read back
every step. A third column gives that loop everything of the trainer but its data pipeline
(channels_last, the trainer's autocast, fused SGD, sleeping OpenMP threads), so the pipeline's
share shows.

Data: CIFAR-shaped random images (3 x 32 x 32, 100 classes), written to a temporary h5 file.

    python benchmarks/train_throughput.py                                   # resnet8x4, resnet20; batch 128
    python benchmarks/train_throughput.py --archs resnet8x4 wrn_40_2 --batch-sizes 64 512 --device cuda
    python benchmarks/train_throughput.py --amp --device cpu             # bf16 on a CPU with native bf16 kernels
    python benchmarks/train_throughput.py --procs 2 --device cpu         # the trainer as 2 DDP processes, 1 core each
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms as T
from PIL import Image

from cgankd.common.devices import amp_enabled, autocast, memory_format, optimizer_options, pick_device, tune_for
from cgankd.data import PixelNorm, Split, write_dataset_h5
from cgankd.models import build_model

CLASSES = 100


class PilDataset(torch.utils.data.Dataset):
    def __init__(self, images: np.ndarray, labels: np.ndarray, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.images[i].transpose(1, 2, 0))), int(self.labels[i])


def synthetic_h5(folder: Path, n_train: int, size: int) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n_train, 3, size, size), dtype=np.uint8)
    labels = np.arange(n_train, dtype=np.int64) % CLASSES
    test = Split(images[:256], labels[:256])          # scored after each epoch, outside the timed part
    path = folder / f"random_{size}px_{n_train}.h5"
    write_dataset_h5(path, Split(images, labels), test, {"task": "classification"})
    return path, images, labels


def trainer_rate(data: Path, arch: str, batch: int, device: str, compile_: bool, amp: bool | None, out: Path,
                 procs: int = 1) -> float:
    """img/s of `cgankd train`'s second epoch (the first one warms up kernels and allocations); with
    `procs` > 1 under torchrun (DDP, the global batch split over the processes, each with an equal
    share of the CPU's cores as its threads), as the trainer's command line runs it on several cores."""
    launch, env = [sys.executable, "-m", "cgankd"], dict(os.environ)
    if procs > 1:
        launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}",
                  "-m", "cgankd"]
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or procs) // procs)))
    argv = [*launch, "train", "--data", data, "--arch", arch, "--out", out, "--epochs", 2,
            "--batch-size", batch, "--lr", 0.05, "--schedule", "cosine", "--preset", "cifar100", "--num-classes",
            CLASSES, "--device", device, "--quiet", *(["--compile"] if compile_ else []), *amp_flag(amp)]
    subprocess.run([str(a) for a in argv], check=True, stdout=subprocess.DEVNULL, env=env)
    return json.loads((out / "log.jsonl").read_text().splitlines()[1])["img_per_s"]


def amp_flag(amp: bool | None) -> list[str]:
    """The command-line form of the --amp choice (none: each device's default)."""
    return [] if amp is None else ["--amp" if amp else "--no-amp"]


def reference_process_rate(data: Path, arch: str, batch: int, args: argparse.Namespace, fast_model: bool) -> float:
    """reference_rate in a Python process of its own (the environment as given; `fast_model`: with
    the trainer's OpenMP waiting policy)."""
    env = {**os.environ, **({"OMP_WAIT_POLICY": "PASSIVE"} if fast_model else {})}
    argv = [sys.executable, __file__, "--reference-of", data, "--archs", arch, "--batch-sizes", batch, "--steps",
            args.steps, "--warmup", args.warmup, "--workers", args.workers, "--device", args.device,
            *(["--fast-model"] if fast_model else []), *(["--threads", args.threads] if args.threads else []),
            *amp_flag(args.amp)]
    done = subprocess.run([str(a) for a in argv], check=True, capture_output=True, text=True, env=env)
    return float(done.stdout.split()[-1])


def reference_rate(images: np.ndarray, labels: np.ndarray, arch: str, batch: int, device: torch.device,
                   steps: int, warmup: int, workers: int, fast_model: bool, amp: bool | None = None) -> float:
    """img/s of the reference-style loop over `steps` steps after `warmup` untimed ones."""
    mean, std = PixelNorm.dataset_stats(images[:4096])
    transform = T.Compose([T.RandomCrop(images.shape[-1], padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                           T.Normalize(mean, std)])
    loader = torch.utils.data.DataLoader(PilDataset(images, labels, transform), batch_size=batch, shuffle=True,
                                         num_workers=workers, drop_last=True, persistent_workers=workers > 0,
                                         pin_memory=device.type == "cuda")
    torch.manual_seed(0)
    model = build_model(arch, num_classes=CLASSES, in_channels=3, img_size=images.shape[-1]).to(device)
    fmt, amp = (memory_format(device), amp_enabled(amp, device)) if fast_model else (torch.contiguous_format, False)
    model = model.to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4,
                          **(optimizer_options(device) if fast_model else {}))

    def batches():
        while True:
            yield from loader
    it = iter(batches())
    seen, start = 0, None
    for step in range(warmup + steps):
        if step == warmup:
            seen, start = 0, time.perf_counter()
        x, y = next(it)
        x = x.to(device, non_blocking=True).contiguous(memory_format=fmt)
        y = y.to(device, non_blocking=True)
        with autocast(device, amp):
            out = model(x)
            loss = F.cross_entropy(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item(), (out.argmax(1) == y).float().mean().item()        # the reference's meters, every step
        seen += len(y)
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=["resnet8x4", "resnet20"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[128])
    parser.add_argument("--steps", type=int, default=20, help="timed steps (the trainer's epoch length)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps of the reference-style loop")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the reference-style loop")
    parser.add_argument("--repeats", type=int, default=2, help="alternating rounds; medians are reported")
    parser.add_argument("--compile", action="store_true", help="the trainer with --compile")
    parser.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                        help="the trainer (and the third column) with --amp / --no-amp (default: the device's "
                             "default: bf16 on CUDA, float32 on CPUs); the reference-style loop stays float32")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--procs", type=int, default=1,
                        help="the trainer under torchrun with this many processes (DDP over the CPU's cores, "
                             "OMP_NUM_THREADS = cores / procs unless set); the reference-style loop stays one process")
    parser.add_argument("--out", help="folder for the temporary data and run folders (default: a temp dir)")
    parser.add_argument("--reference-of", metavar="H5", help=argparse.SUPPRESS)   # one reference measurement
    parser.add_argument("--fast-model", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    tune_for(device)
    if args.reference_of:
        from cgankd.data import load_dataset
        train = load_dataset(args.reference_of, num_classes=CLASSES).train
        print(reference_rate(train.images, train.labels.astype(np.int64), args.archs[0], args.batch_sizes[0],
                             device, args.steps, args.warmup, args.workers, args.fast_model, args.amp))
        return
    root = Path(args.out or tempfile.mkdtemp(prefix="train_throughput_"))
    root.mkdir(parents=True, exist_ok=True)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{where}; torch {torch.__version__}; {args.size}px x3, {args.steps} timed steps; trainer amp "
          f"{amp_enabled(args.amp, device)}, compile {args.compile}, processes {args.procs}; reference loop with {args.workers} workers", flush=True)
    print(f"{'arch':>10} {'batch':>5} {'trainer':>10} {'reference':>10} {'ratio':>6} {'ref+our model':>14} "
          f"{'ratio':>6}   (img/s, medians of {args.repeats})", flush=True)
    for batch in args.batch_sizes:
        data, _, _ = synthetic_h5(root, max(args.steps, args.warmup + 1) * batch, args.size)
        for arch in args.archs:
            rates: dict[str, list[float]] = {"trainer": [], "reference": [], "fast_model": []}
            for round_ in range(args.repeats):          # alternate, so that a change in load hits every column
                rates["trainer"].append(trainer_rate(data, arch, batch, args.device, args.compile, args.amp,
                                                     root / f"{arch}_{batch}_{round_}", args.procs))
                for key, fast in (("reference", False), ("fast_model", True)):
                    rates[key].append(reference_process_rate(data, arch, batch, args, fast))
            ours, ref, fast = (statistics.median(rates[k]) for k in ("trainer", "reference", "fast_model"))
            print(f"{arch:>10} {batch:>5} {ours:10.0f} {ref:10.0f} {ours / ref:5.2f}x {fast:14.0f} {ours / fast:5.2f}x",
                  flush=True)


if __name__ == "__main__":
    main()
