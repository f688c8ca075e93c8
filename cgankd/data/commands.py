"""`cgankd data prepare`, `cgankd data check` and `cgankd data holdout`."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .h5 import FAKE_KEYS, TRAIN_KEYS, h5_keys, load_dataset, read_fake_h5
from .holdout import HoldoutSizes, holdout as holdout_parts
from .prepare import prepare as prepare_dataset
from .validate import summarize, summarize_split


def prepare(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    path, written = prepare_dataset(args.name, args.out, seed=args.seed)
    if not written:
        print(f"{path} already exists, is valid and has the same settings; nothing to do "
              "(delete it to prepare it again)")
        return 0
    seconds = time.perf_counter() - start
    print(f"wrote {path} in {seconds:.1f} s")
    print(summarize(load_dataset(path)))
    return 0


def _is_fake_set(path: Path) -> bool:
    if path.is_dir():
        return False
    keys = h5_keys(path)
    return FAKE_KEYS[0] in keys and TRAIN_KEYS[0] not in keys


def check(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if _is_fake_set(path):
        split, attrs = read_fake_h5(path, task=args.task)
        task = "regression" if split.labels.dtype.kind == "f" else "classification"
        print(f"{path.name}: fake set, {task}")
        print(summarize_split("fake", split.images, split.labels, task, attrs.get("num_classes")))
    else:
        print(summarize(load_dataset(path, task=args.task, num_classes=args.num_classes)))
    print(f"ok: {path}")
    return 0


def holdout(args: argparse.Namespace) -> int:
    sizes = HoldoutSizes(real=args.n_real, val=args.n_val, extra=args.n_extra)
    for part, path in holdout_parts(args.data, args.out, sizes, seed=args.seed, force=args.force).items():
        print(f"{part}: {path}")
    return 0
