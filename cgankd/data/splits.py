"""Seeded, stratified index subsets: a smaller training set (--subset) and a validation split (--val-frac).

Strata are the classes (classification) or label-quantile bins (regression). Both functions
return sorted int64 index arrays into the given labels.
"""

from __future__ import annotations

import numpy as np

from ..common.errors import UserError

REGRESSION_BINS = 10


def strata(labels: np.ndarray, task: str, n_bins: int = REGRESSION_BINS) -> np.ndarray:
    """A stratum id per sample: the class id, or the label's quantile bin."""
    labels = np.asarray(labels).reshape(-1)
    if task == "classification":
        return np.unique(labels, return_inverse=True)[1]
    edges = np.unique(np.quantile(labels.astype(np.float64), np.linspace(0, 1, n_bins + 1)[1:-1]))
    return np.searchsorted(edges, labels, side="right")


def balanced_quota(sizes: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Split n over the strata as evenly as their sizes allow (water filling); leftovers go to random strata."""
    quota = np.zeros_like(sizes)
    left = n
    while left > 0:
        open_ = np.flatnonzero(quota < sizes)
        share = left // len(open_)
        if share == 0:  # fewer items left than open strata: one each to a random few
            quota[rng.choice(open_, size=left, replace=False)] += 1
            break
        add = np.minimum(share, sizes[open_] - quota[open_])
        quota[open_] += add
        left -= int(add.sum())
    return quota


def _proportional_quota(sizes: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n split in proportion to the stratum sizes (largest remainder, ties broken at random)."""
    exact = sizes * (n / sizes.sum())
    quota = np.floor(exact).astype(np.int64)
    remainder = exact - quota
    order = np.lexsort((rng.random(len(sizes)), -remainder))
    quota[order[: n - int(quota.sum())]] += 1
    return quota


def _take(groups: np.ndarray, quota: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    picked = [rng.choice(np.flatnonzero(groups == g), size=int(q), replace=False)
              for g, q in enumerate(quota) if q > 0]
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)


def stratified_subset(labels: np.ndarray, n: int, seed: int, task: str) -> np.ndarray:
    """n indices: class-balanced (classification) or spread over label-quantile bins (regression)."""
    total = len(labels)
    if not 0 < n <= total:
        raise UserError(f"--subset {n}: expected a size between 1 and the training split's {total} samples")
    rng = np.random.default_rng(seed)
    groups = strata(labels, task)
    sizes = np.bincount(groups)
    return _take(groups, balanced_quota(sizes, n, rng), rng).astype(np.int64)


def train_val_split(labels: np.ndarray, val_frac: float, seed: int, task: str) -> tuple[np.ndarray, np.ndarray]:
    """(train, val) indices; every stratum gives the same fraction of its samples to val."""
    if not 0.0 <= val_frac < 1.0:
        raise UserError(f"--val-frac {val_frac}: expected a fraction in [0, 1)")
    total = len(labels)
    n_val = int(round(val_frac * total))
    if val_frac > 0 and not 0 < n_val < total:
        raise UserError(f"--val-frac {val_frac}: gives {n_val} of {total} samples to validation, "
                        "expected at least one sample in each part")
    if n_val == 0:
        return np.arange(total, dtype=np.int64), np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    groups = strata(labels, task)
    val = _take(groups, _proportional_quota(np.bincount(groups), n_val, rng), rng).astype(np.int64)
    return np.setdiff1d(np.arange(total, dtype=np.int64), val), val
