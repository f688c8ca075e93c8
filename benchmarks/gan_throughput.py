"""GAN throughput: G+D training iterations per second and sampling images per second, for BigGAN
and CcGAN with a dataset preset's settings, on synthetic data (no dataset file needed).

    python benchmarks/gan_throughput.py                      # the two demo presets (28 px, CPU-sized)
    python benchmarks/gan_throughput.py --presets cifar100 steeringangle --device cuda
    python benchmarks/gan_throughput.py --batch-size 64 --iters 5
    python benchmarks/gan_throughput.py --compare-memory-format   # trainer's channels_last vs NCHW, ratio
    python benchmarks/gan_throughput.py --presets cifar100 --device cuda --amp   # bf16 autocast as well

One training iteration = d_steps discriminator steps + one generator step + the EMA update.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from _common import gan_trainer
from cgankd.common.devices import pick_device, tune_for
from cgankd.common.settings import parse_settings


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench(name: str, device: torch.device, iters: int, batch_size: int | None, sample_n: int,
          fmt: torch.memory_format | None = None, amp: bool = False, settings: dict | None = None) -> float:
    """Print and return G+D training iterations per second (`fmt`: force a memory format; `amp`:
    the trainer's bf16 autocast; `settings`: GAN settings on top of the preset's)."""
    trainer, cfg = gan_trainer(name, device, batch_size, settings, layout=fmt, amp=amp)
    kind, bs = trainer.kind, cfg["batch_size"]

    def iteration() -> None:
        for _ in range(cfg["d_steps"]):
            trainer.d_step(bs)
        trainer.g_step(cfg["g_batch_size"] or bs)
        if trainer.G_ema is not None:
            trainer.ema.update(trainer.iteration)
    iteration()                     # warm-up
    sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        iteration()
    sync(device)
    train_its = iters / (time.perf_counter() - t0)

    g = trainer.sampling_generator()
    labels = trainer.cond.random_labels(sample_n)
    sample_batch = 500 if device.type == "cpu" else 2000
    with torch.inference_mode():
        z = torch.randn(sample_n, g.dim_z, device=device)
        g(z[:8], trainer.cond.embed(labels[:8]))
        sync(device)
        t0 = time.perf_counter()
        for i in range(0, sample_n, sample_batch):
            g(z[i:i + sample_batch], trainer.cond.embed(labels[i:i + sample_batch]))
        sync(device)
        sample_ips = sample_n / (time.perf_counter() - t0)
    label = "" if fmt is None else ("  channels_last" if fmt == torch.channels_last else "  NCHW")
    label += "  bf16 autocast" if amp and device.type == "cuda" else ""
    print(f"{name:>22} {kind:>7}  {cfg['batch_size']:>5}x{cfg['d_steps']} D  "
          f"train {train_its:7.2f} it/s ({train_its * bs * cfg['d_steps']:8.0f} real img/s)   "
          f"sample {sample_ips:9.0f} img/s{label}", flush=True)
    return train_its


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["fashion-mnist", "rotated-fashion-mnist"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--batch-size", type=int, help="override the presets' batch size")
    parser.add_argument("--sample-n", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--compare-memory-format", action="store_true",
                        help="train each preset in NCHW and in channels_last, alternating, and print the ratio")
    parser.add_argument("--repeats", type=int, default=3, help="with --compare-memory-format: rounds per format")
    parser.add_argument("--amp", action="store_true", help="also time each preset with bf16 autocast (GPU)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a GAN setting on top of every preset's (repeatable), e.g. --set g_ch=8")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    tune_for(device)
    settings = parse_settings(args.set)
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    for name in args.presets:
        if not args.compare_memory_format:
            for amp in (False, True) if args.amp else (False,):
                bench(name, device, args.iters, args.batch_size, args.sample_n, amp=amp, settings=settings)
            continue
        rates: dict[torch.memory_format, list[float]] = {torch.contiguous_format: [], torch.channels_last: []}
        for _ in range(args.repeats):          # alternate, so that a change in machine load hits both
            for fmt, found in rates.items():
                found.append(bench(name, device, args.iters, args.batch_size, args.sample_n, fmt, settings=settings))
        nchw, cl = (statistics.median(rates[f]) for f in (torch.contiguous_format, torch.channels_last))
        print(f"{name:>22}  median train it/s: NCHW {nchw:.2f}, channels_last {cl:.2f}, ratio {cl / nchw:.2f}x")


if __name__ == "__main__":
    main()
