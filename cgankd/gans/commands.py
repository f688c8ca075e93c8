"""`cgankd gan train | sample | eval`."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..common import distributed
from ..common.board import Board
from ..common.devices import amp_enabled, pick_device, tune_for
from ..common.errors import UserError
from ..common.files import check_output_dir, check_output_file, file_fingerprint, write_json
from ..common.runs import METRICS, RunDir, git_commit
from ..common.settings import parse_settings
from ..data import LabelNorm, load_dataset, write_fake_h5
from ..data.preset_choice import choose_preset
from ..presets import get_preset
from .config import gan_config
from .grid import grid_labels, save_grid, to_uint8
from .sampling import load_gan, raw_labels, read_checkpoint, resolve_checkpoint, sample_labels
from .networks import gan_task
from .trainer import GanData, GanTrainer

def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out = parse_settings(args.set)
    if args.iters is not None:
        out["iters"] = args.iters
    if args.batch_size is not None:
        out["batch_size"] = args.batch_size
    return out


def label_norm_for(preset: dict, train_labels: np.ndarray) -> LabelNorm:
    return LabelNorm.from_spec(preset.get("data", {}).get("label_norm", "minmax"), train_labels)


def gan_data(path: str, kind: str, preset: dict, device: torch.device, num_classes: int | None = None) -> GanData:
    bundle = load_dataset(path, task=preset.get("data", {}).get("task"), num_classes=num_classes)
    if bundle.task != gan_task(kind):
        raise UserError(f"{path}: a {bundle.task} dataset; --gan {kind} needs a {gan_task(kind)} dataset")
    images = torch.as_tensor(bundle.train.images).to(device)
    meta = {"data": str(path), "dataset": bundle.name}
    if bundle.attrs.get("class_names") is not None:
        meta["class_names"] = [str(c) for c in bundle.attrs["class_names"]]
    if gan_task(kind) == "classification":
        labels = torch.as_tensor(bundle.train.labels.astype(np.int64)).to(device)
        return GanData(images, labels, num_classes=bundle.num_classes, meta=meta)
    norm = label_norm_for(preset, bundle.train.labels)
    y = norm.normalize(bundle.train.labels.astype(np.float64))
    if y.min() < -1e-6 or y.max() > 1 + 1e-6:
        raise UserError(f"{path}: training labels span [{bundle.train.labels.min()}, {bundle.train.labels.max()}], "
                        f"outside the preset's label range [{norm.low}, {norm.high}]")
    labels = torch.as_tensor(np.clip(y, 0.0, 1.0).astype(np.float32)).to(device)
    return GanData(images, labels, label_norm=norm, meta=meta)


# Settings that may change when a GAN run is resumed: more iterations, and bookkeeping.
GAN_RESUME_FREE = frozenset({"device", "config.iters", "config.ckpt_every", "config.log_every",
                             "config.keep_snapshots",
                             "data", "inputs.data.path"})   # the data may move; its fingerprint must match


def train_gan(data_path: str, kind: str, out: str, *, preset: str | None = None, overrides: dict | None = None,
              seed: int = 0, device: str = "auto", resume: bool = False, quiet: bool = False,
              num_classes: int | None = None, amp: bool = False, sync_bn: bool = False,
              tensorboard: bool = False) -> dict[str, Any]:
    """Train (or, with resume, continue) a GAN run in `out`; returns its metrics. A resumed run must
    have the same settings, except for its number of iterations (a finished GAN can be grown).
    Under torchrun the batch sizes are global batches, split over the processes."""
    world, dev = distributed.start(device)
    tune_for(dev)
    amp = amp_enabled(amp, dev)
    check_output_dir(out)
    preset_name, how = choose_preset(data_path, preset)
    preset_dict = get_preset(preset_name) if preset_name else {}
    cfg = gan_config(kind, preset_dict.get("gan"), overrides)
    if cfg["iters"] < 1:
        raise UserError(f"--iters {cfg['iters']}: a GAN needs at least one iteration")
    distributed.check_global_batch(cfg["batch_size"], world)
    distributed.check_global_batch(cfg["g_batch_size"] or cfg["batch_size"], world, "--set g_batch_size")
    run = RunDir(out, resume=resume)
    settings = {"command": "gan train", "gan": kind, "data": data_path, "preset": preset_name, "seed": seed,
                "num_classes": num_classes, "device": str(dev), "config": cfg,
                "inputs": {"data": {"path": data_path, "fingerprint": file_fingerprint(data_path)}}}
    # Recorded only when on, so that runs made before these switches existed still resume.
    settings.update({name: True for name, on in (("amp", amp), ("sync_bn", sync_bn and world.is_distributed)) if on})
    resuming = run.check(settings, GAN_RESUME_FREE)
    distributed.barrier()                    # every process has looked at the folder before rank 0 writes
    state = read_checkpoint(run.checkpoint) if resuming and run.has_checkpoint() else None
    if state is not None and run.file(METRICS).exists() and int(state["iteration"]) == cfg["iters"]:
        # Finished with these settings: reused untouched, so that what was made from it stays valid.
        if world.is_main and not quiet:
            print(f"{out}: finished earlier with the same settings; kept as it is")
        return json.loads(run.file(METRICS).read_text())
    if state is not None and state.get("D") is None:
        raise UserError(f"{run.checkpoint}: holds the generator alone (a shipped or exported GAN), so it cannot "
                        f"be trained on to {cfg['iters']} iterations; train a new run in another --out")
    quiet = quiet or not world.is_main
    if not quiet:
        print(f"gan train: {how}")
    data = gan_data(data_path, kind, preset_dict, dev, num_classes)
    data.meta["preset"] = preset_name
    run.start(settings, replace=True)
    if state is not None:
        run.truncate_log(int(state["iteration"]), key="iter")
    board = Board(run.path, tensorboard and run.writes, resume_step=int(state["iteration"]) if state else None)
    trainer = GanTrainer(kind, cfg, data, run, device=dev, seed=seed, quiet=quiet, amp=amp, sync_bn=sync_bn,
                         world=world, board=board)
    try:
        trainer.setup(state)
    except RuntimeError as err:
        if state is not None and "state_dict" in str(err):
            raise UserError(f"{run.checkpoint}: does not fit the settings given now ({str(err).splitlines()[0]})")
        raise
    try:
        result = trainer.train()
    finally:
        board.close()
    metrics = {"kind": kind, "iterations": result["iterations"], "seconds_this_session": result["seconds"],
               "checkpoint": str(run.checkpoint)}
    if trainer.embed_info:
        metrics["label_embedding"] = trainer.embed_info
    run.write_metrics(metrics)
    distributed.barrier()                    # the files exist before any process goes on
    if world.is_main:
        print(f"{kind}: {result['iterations']} iterations; checkpoint {run.checkpoint}; "
              f"sample grid {run.file(f'samples_{trainer.iteration:06d}.png')}")
    return metrics


def train(args: argparse.Namespace) -> int:
    train_gan(args.data, args.gan, args.out, preset=args.preset, overrides=_overrides(args), seed=args.seed,
              device=args.device, resume=args.resume, quiet=args.quiet, num_classes=args.num_classes,
              amp=args.amp, sync_bn=args.sync_bn, tensorboard=args.tensorboard)
    return 0


def sample(args: argparse.Namespace) -> int:
    if args.n < 1:
        raise UserError(f"--n {args.n}: expected at least 1 sample")
    if args.batch_size < 1:
        raise UserError(f"--batch-size {args.batch_size}: expected at least 1")
    check_output_file(args.out, args.force)
    if args.grid:
        check_output_file(args.grid, True, "--grid")
    device = pick_device(args.device)
    t0 = time.time()
    gan = load_gan(args.ckpt, device=device, ema=not args.no_ema, seed=args.seed, preset=args.preset)
    labels = sample_labels(gan, args.n)
    images = gan.generate(labels, batch_size=args.batch_size, seed=args.seed)
    attrs = {"gan_checkpoint": gan.path, "gan": gan.kind, "gan_iteration": gan.iteration, "ema": gan.ema,
             "seed": args.seed, "n": args.n, "git_commit": git_commit(), "subsampling": "none",
             "label_units": "raw" if gan.is_regression else "class"}
    write_fake_h5(args.out, images, raw_labels(gan, labels), attrs)
    if args.grid:
        rows = gan.config.get("grid_rows", 10)
        grid_y, names = grid_labels(rows, args.grid_cols, num_classes=gan.num_classes,
                                    class_names=gan.meta.get("class_names"), label_norm=gan.label_norm)
        # One noise vector per column, shared by all rows: each column is one z across labels.
        z = torch.randn(args.grid_cols, gan.dim_z, generator=torch.Generator().manual_seed(args.seed))
        with torch.inference_mode():
            x = gan.generator(z.repeat(len(names), 1).to(device), gan.embed(grid_y.to(device)))
        save_grid(to_uint8(x), len(names), args.grid, names)
        print(f"wrote sample grid {args.grid}")
    seconds = time.time() - t0
    print(f"wrote {args.n} fakes ({'EMA' if gan.ema else 'raw'} G, iteration {gan.iteration}) to {args.out} "
          f"in {seconds:.1f}s ({args.n / seconds:.0f} img/s)")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    from .metrics import format_report
    if not args.eval_net:
        raise UserError("gan eval needs --eval-net: a classifier (BigGAN) or regressor (CcGAN) checkpoint, "
                        "e.g. from `cgankd train --data FILE --arch resnet20 --out DIR`")
    results = gan_quality(args.ckpt, args.data, args.eval_net, device=args.device, n=args.n, seed=args.seed,
                          ema=not args.no_ema)
    print(format_report(results))
    out = Path(args.out) if args.out else resolve_checkpoint(args.ckpt).parent / "gan_eval.json"
    write_json(out, results)
    print(f"wrote {out}")
    return 0


def gan_quality(ckpt: str | Path, data: str | Path, eval_net: str | Path, *, device: str = "auto", n: int = 10_000,
                seed: int = 0, ema: bool = True) -> dict[str, Any]:
    """FID / intra-FID against the data's test split and class share or Label Score of `n` fakes,
    in the feature space of `eval_net` (a `cgankd train` classifier or regressor)."""
    from .metrics import EvalNet, Generator, evaluate_generator
    device = pick_device(device)
    if n < 1:
        raise UserError(f"--n {n}: expected at least 1 sample")
    gan = load_gan(ckpt, device=device, ema=ema, seed=seed)
    bundle = load_dataset(data, task=gan_task(gan.kind))
    if bundle.train.images.shape[1:] != (gan.channels, gan.img_size, gan.img_size):
        raise UserError(f"{data}: images {bundle.train.images.shape[1:]} differ from the GAN's "
                        f"{(gan.channels, gan.img_size, gan.img_size)}")
    gen = Generator(lambda labels: gan.generate(labels, seed=seed), num_classes=gan.num_classes,
                    label_norm=gan.label_norm,
                    info={"gan": gan.kind, "gan_checkpoint": gan.path, "iteration": gan.iteration, "ema": gan.ema,
                          "data": str(data)})
    return evaluate_generator(gen, bundle, EvalNet(eval_net, device), n=n, seed=seed)
