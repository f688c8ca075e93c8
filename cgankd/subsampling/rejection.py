"""Rejection sampling with an estimated density ratio r = p / q (the "RS" of cDR-RS).

Draws from the proposal q (a GAN at a fixed label) are kept with probability r / M, which
turns them into draws from p when M >= sup r. M is unknown: it starts as the largest ratio
among `burn_in` proposals (discarded afterwards) and grows to the largest ratio seen in each
new batch before that batch is tested. With E_q[r] = 1 about 1/M of the proposals survive.

A batch is a tuple/list of tensors or a dict of tensors sharing their first dimension
(images, labels, and whatever else rides along); accepted items keep that structure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping, Sequence

import torch
from ..common.errors import UserError

Batch = Mapping[str, torch.Tensor] | Sequence[torch.Tensor]
Proposer = Callable[[int], Batch]
RatioFn = Callable[[Batch], torch.Tensor]


@dataclass
class RejectionStats:
    accepted: int            # items returned
    proposed: int            # proposals tested, burn-in not counted
    burn_in: int
    acceptance_rate: float   # accepted / proposed, counting acceptances beyond the target in the last batch
    M: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def batch_len(batch: Batch) -> int:
    items = list(batch.values()) if isinstance(batch, Mapping) else list(batch)
    if not items:
        raise UserError("a proposal batch must hold at least one tensor")
    n = len(items[0])
    if any(len(t) != n for t in items):
        raise UserError(f"the tensors of a proposal batch differ in length: {[len(t) for t in items]}")
    return n


def batch_take(batch: Batch, idx: torch.Tensor) -> Batch:
    if isinstance(batch, Mapping):
        return {k: v[idx.to(v.device)] for k, v in batch.items()}
    return type(batch)(t[idx.to(t.device)] for t in batch)


def batch_cat(batches: list[Batch]) -> Batch:
    first = batches[0]
    if isinstance(first, Mapping):
        return {k: torch.cat([b[k] for b in batches]) for k in first}
    return type(first)(torch.cat(parts) for parts in zip(*batches))


def _ratios(ratio: RatioFn, batch: Batch) -> torch.Tensor:
    r = torch.as_tensor(ratio(batch)).float().view(-1)
    if len(r) != batch_len(batch):
        raise UserError(f"the ratio function returned {len(r)} values for a batch of {batch_len(batch)}")
    if not torch.isfinite(r).all() or (r < 0).any():
        raise UserError("density ratios must be finite and non-negative")
    return r


def _propose(propose: Proposer, n: int) -> Batch:
    batch = propose(n)
    if batch_len(batch) != n:
        raise UserError(f"the proposer returned {batch_len(batch)} items when asked for {n}")
    return batch


def rejection_sample(propose: Proposer, ratio: RatioFn, n_target: int, *, burn_in: int, batch_size: int,
                     generator: torch.Generator | None = None, max_proposed: int | None = None,
                     initial_m: float = 0.0) -> tuple[Batch, RejectionStats]:
    """Accept proposals with probability r / M until `n_target` are kept (the first n_target).

    `initial_m` carries M over from earlier calls at the same label (then burn_in may be 0).
    `max_proposed` (default 1000 * n_target + burn_in) bounds the work when almost nothing
    is accepted; reaching it is an error that reports the acceptance so far."""
    if n_target < 1 or batch_size < 1 or burn_in < 0:
        raise UserError(f"rejection sampling needs n_target >= 1, batch_size >= 1, burn_in >= 0; got "
                        f"{n_target}, {batch_size}, {burn_in}")
    max_proposed = max_proposed or 1000 * n_target + burn_in
    m = initial_m
    for start in range(0, burn_in, batch_size):
        m = max(m, _ratios(ratio, _propose(propose, min(batch_size, burn_in - start))).max().item())
    if burn_in and m <= 0:
        raise UserError(f"all {burn_in} burn-in density ratios are 0: the density-ratio model finds every fake "
                        "unlike the real data (is the GAN trained?) or has collapsed (train it longer or with a "
                        "larger learning rate)")

    kept: list[Batch] = []
    n_kept = n_proposed = n_accepted = 0
    while n_kept < n_target:
        if n_proposed >= max_proposed:
            raise UserError(f"rejection sampling accepted {n_kept} of {n_proposed} proposals "
                            f"(M = {m:.4g}); it needs {n_target}: the density ratios are almost all zero")
        batch = _propose(propose, batch_size)
        r = _ratios(ratio, batch)
        n_proposed += len(r)
        m = max(m, r.max().item())
        if m <= 0:
            continue
        u = torch.rand(len(r), generator=generator,
                       device=generator.device if generator is not None else "cpu").to(r.device)
        accept = torch.nonzero(u <= r / m).view(-1)
        n_accepted += len(accept)
        if len(accept):
            kept.append(batch_take(batch, accept[:n_target - n_kept]))
            n_kept += min(len(accept), n_target - n_kept)
    stats = RejectionStats(accepted=n_kept, proposed=n_proposed, burn_in=burn_in,
                           acceptance_rate=n_accepted / max(n_proposed, 1), M=m)
    return batch_cat(kept), stats
