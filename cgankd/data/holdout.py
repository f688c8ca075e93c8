"""`cgankd data holdout`: one training split cut into disjoint, stratified parts for a protocol with
a positive control.

From the training split of a file it draws, with one seed and without overlap:
- `real`: the images every arm trains on (the small real training set);
- `val` (optional): held-out training images that stand in for the test split while settings are
  chosen, so the test split is never used to choose them;
- `extra` (optional): more held-out real images with their true labels, written in the fake-set
  format (`fake_images`, `fake_labels`) so that `cgankd train --fake EXTRA.h5` trains the
  "+ extra real" arm exactly as it would a cGAN-KD fake set. Its attributes mark it as real
  (`origin = real`), which names the arm in the run's identity and in the report.

Files written (STEM is the source file's name, S the seed):
    STEM_real{N}_seed{S}.h5           train = real, test = the file's test split
    STEM_real{N}_val{V}_seed{S}.h5    train = real, test = val          (with --n-val)
    STEM_extra{E}_seed{S}.h5          fake-set format, true labels        (with --n-extra)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..common.errors import UserError
from ..common.files import check_output_dir, check_output_file, file_fingerprint
from .bundle import DataBundle, Split
from .h5 import load_dataset, write_dataset_h5, write_fake_h5
from .splits import balanced_quota, strata

PARTS = ("real", "val", "extra")


@dataclass(frozen=True)
class HoldoutSizes:
    real: int
    val: int = 0
    extra: int = 0

    def check(self, available: int) -> None:
        if self.real < 1:
            raise UserError(f"--n-real {self.real}: expected at least 1 image")
        for name in ("val", "extra"):
            if getattr(self, name) < 0:
                raise UserError(f"--n-{name} {getattr(self, name)}: expected 0 or more images")
        wanted = self.real + self.val + self.extra
        if wanted > available:
            raise UserError(f"--n-real {self.real} + --n-val {self.val} + --n-extra {self.extra} = {wanted} images; "
                            f"the training split has only {available}")


def split_indices(labels: np.ndarray, task: str, sizes: HoldoutSizes, seed: int) -> dict[str, np.ndarray]:
    """Disjoint sorted index sets per part, each balanced over the strata (classes or label bins).
    Parts are drawn in the order real, val, extra from what the earlier parts left."""
    rng = np.random.default_rng(seed)
    groups = strata(labels, task)
    left = np.ones(len(labels), dtype=bool)
    parts: dict[str, np.ndarray] = {}
    for name in PARTS:
        n = getattr(sizes, name)
        if n == 0:
            continue
        sizes_left = np.bincount(groups[left], minlength=groups.max() + 1)
        quota = balanced_quota(sizes_left, n, rng)
        picked = [rng.choice(np.flatnonzero(left & (groups == g)), size=int(q), replace=False)
                  for g, q in enumerate(quota) if q > 0]
        parts[name] = np.sort(np.concatenate(picked)).astype(np.int64)
        left[parts[name]] = False
    return parts


def _take(split: Split, index: np.ndarray) -> Split:
    return Split(split.images[index], split.labels[index])


def _paths(out: Path, stem: str, sizes: HoldoutSizes, seed: int) -> dict[str, Path]:
    paths = {"real": out / f"{stem}_real{sizes.real}_seed{seed}.h5"}
    if sizes.val:
        paths["val"] = out / f"{stem}_real{sizes.real}_val{sizes.val}_seed{seed}.h5"
    if sizes.extra:
        paths["extra"] = out / f"{stem}_extra{sizes.extra}_seed{seed}.h5"
    return paths


def holdout(data: str | Path, out: str | Path, sizes: HoldoutSizes, seed: int = 0, force: bool = False
            ) -> dict[str, Path]:
    """Write the parts' files (see the module docstring); returns their paths by part."""
    bundle = load_dataset(data)
    sizes.check(len(bundle.train))
    folder = check_output_dir(out)
    paths = _paths(folder, Path(data).stem, sizes, seed)
    for path in paths.values():
        check_output_file(path, force)
    folder.mkdir(parents=True, exist_ok=True)
    parts = split_indices(bundle.train.labels, bundle.task, sizes, seed)
    origin = _origin(data, bundle, sizes, seed)
    write_dataset_h5(paths["real"], _take(bundle.train, parts["real"]), bundle.test,
                     {**_kept_attrs(bundle), **origin, "part": "real", "test_split": "test"})
    if "val" in paths:
        write_dataset_h5(paths["val"], _take(bundle.train, parts["real"]), _take(bundle.train, parts["val"]),
                         {**_kept_attrs(bundle), **origin, "part": "real", "test_split": "val"})
    if "extra" in paths:
        extra = _take(bundle.train, parts["extra"])
        write_fake_h5(paths["extra"], extra.images, extra.labels,
                      {**_kept_attrs(bundle), **origin, "origin": "real", "labels": "true", "n": sizes.extra,
                       "source_fingerprint": file_fingerprint(data)})
    return paths


def _kept_attrs(bundle: DataBundle) -> dict[str, Any]:
    """What the parts inherit from the source file: task, class count and names, preset."""
    keep = ("task", "num_classes", "class_names", "preset", "name", "label_range")
    attrs = {k: bundle.attrs[k] for k in keep if k in bundle.attrs}
    attrs["task"] = bundle.task
    if bundle.num_classes:
        attrs["num_classes"] = bundle.num_classes
    return attrs


def _origin(data: str | Path, bundle: DataBundle, sizes: HoldoutSizes, seed: int) -> dict[str, Any]:
    return {"holdout": {"source": str(data), "source_fingerprint": file_fingerprint(data), "seed": seed,
                        "n_real": sizes.real, "n_val": sizes.val, "n_extra": sizes.extra,
                        "train_size": len(bundle.train)}}
