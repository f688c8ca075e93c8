"""Data-parallel training over torchrun's processes (DDP), and what the loops need around it.

`torchrun --nproc_per_node=N -m cgankd train ...` starts N processes with RANK, WORLD_SIZE and
LOCAL_RANK set; `start` joins them into one process group (NCCL when each process has a GPU of its
own, gloo otherwise: CPUs, or several processes sharing one GPU). Without those variables every
helper here is a no-op, so a one-process run takes exactly the code path it always took.

How a global batch is split: every process draws the same seeded order (and the same random
numbers for augmentation, noise and labels) for the whole global batch of B rows, and keeps rows
rank, rank + N, ... of it (`shard_rows`). DDP averages the N per-process gradients, each the mean
over B / N rows, which is the gradient of the mean over all B rows: the same step as one process
with batch B, up to the order of floating-point sums. Batch-norm statistics are per process unless
`--sync-bn` (`SyncBatchNorm` here, which all-reduces them and works with gloo on CPUs too).
"""

from __future__ import annotations

import atexit
import copy
import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from .devices import pick_device
from .errors import UserError


@dataclass(frozen=True)
class World:
    """This process's place among the processes torchrun started (one process: rank 0 of 1)."""
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.size > 1


def launched_world() -> World:
    """The world torchrun describes in the environment (read without starting anything)."""
    env = os.environ
    size = int(env.get("WORLD_SIZE", "1"))
    return World(rank=int(env.get("RANK", "0")), size=size, local_rank=int(env.get("LOCAL_RANK", "0")),
                 local_size=int(env.get("LOCAL_WORLD_SIZE", str(size))))


def is_main_process() -> bool:
    """True in a one-process run and in rank 0 of a DDP run: the process that writes files and logs."""
    return launched_world().is_main


def start(device_name: str | None) -> tuple[World, torch.device]:
    """This process's world and device; joins the process group on the first call of a DDP run.

    Under DDP, 'auto' and 'cuda' mean this process's GPU (LOCAL_RANK, wrapping around when there are
    more processes than GPUs); an explicit 'cuda:K' or 'cpu' is taken as given."""
    world = launched_world()
    if not world.is_distributed:
        return world, pick_device(device_name)
    device = pick_device(device_name)
    if device.type == "cuda" and device_name in (None, "", "auto", "cuda"):
        device = torch.device("cuda", world.local_rank % torch.cuda.device_count())
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        own_gpus = device.type == "cuda" and world.local_size <= torch.cuda.device_count()
        # NCCL refuses two processes on one GPU; gloo moves CUDA tensors through the host instead.
        dist.init_process_group("nccl" if own_gpus else "gloo", timeout=datetime.timedelta(minutes=60))
        atexit.register(_finish)
    return world, device


def _finish() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def barrier() -> None:
    if active():
        dist.barrier()


def sum_across(values: torch.Tensor) -> torch.Tensor:
    """`values` summed over the processes (in place; unchanged in a one-process run)."""
    if active():
        dist.all_reduce(values)
    return values


def any_across(flag: bool, device: torch.device) -> bool:
    """True when `flag` is true in any process (every process gets the same answer)."""
    if not active():
        return flag
    return bool(sum_across(torch.tensor([float(flag)], device=device)).item() > 0)


def broadcast_state(module: nn.Module, parameters: bool = True) -> None:
    """Rank 0's buffers (and parameters), copied into every process's `module`."""
    if active():
        tensors = list(module.buffers()) + (list(module.parameters()) if parameters else [])
        for tensor in tensors:
            dist.broadcast(tensor.data, src=0)


def shard_rows(batch: int, world: World, device: torch.device) -> torch.Tensor | None:
    """Positions of this process's rows in a global batch of `batch` rows (None: all of them)."""
    if not world.is_distributed:
        return None
    return torch.arange(world.rank, batch, world.size, device=device)


def check_global_batch(batch: int, world: World, flag: str = "--batch-size") -> None:
    if world.is_distributed and batch % world.size:
        raise UserError(f"{flag} {batch} is the global batch, split over {world.size} processes: "
                        f"it must be a multiple of {world.size}")


def data_parallel(module: nn.Module, device: torch.device, find_unused: bool = False) -> nn.Module:
    """`module` wrapped in DistributedDataParallel (its state is broadcast from rank 0 on the way)."""
    if not active():
        return module
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids, find_unused_parameters=find_unused,
                                               gradient_as_bucket_view=True)


# ---------------------------------------------------------------- synchronised batch norm

class _AllGather(torch.autograd.Function):
    """(N, ...) stack of every process's tensor; the backward sums the gradients of all processes
    and hands each its own row. Built on all_reduce, which gloo also runs on CUDA tensors."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        stack = x.new_zeros((dist.get_world_size(), *x.shape))
        stack[dist.get_rank()] = x
        dist.all_reduce(stack)
        return stack

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad[dist.get_rank()]


class SyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are those of the global batch (all processes).

    torch's own SyncBatchNorm runs on GPUs only; this one runs wherever the process group does
    (gloo on CPUs, so CI tests it). Each process sends (count, mean, variance) per channel; the
    pooled mean and variance follow Chan's formula. Outside training, or in one process, it is
    plain batch norm. The state dict is a BatchNorm's, so checkpoints load into either."""

    def __init__(self, plain: nn.modules.batchnorm._BatchNorm):
        super().__init__(plain.num_features, plain.eps, plain.momentum, plain.affine, plain.track_running_stats)
        self.plain_type = type(plain)
        # Share the original tensors, so an optimiser or EMA built on the plain layer still sees them.
        if plain.affine:
            self.weight, self.bias = plain.weight, plain.bias
        if plain.track_running_stats:
            self.running_mean, self.running_var = plain.running_mean, plain.running_var
            self.num_batches_tracked = plain.num_batches_tracked
        self.train(plain.training)

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and active()):
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x     # statistics in float32 at least
        var, mean = torch.var_mean(xf, dim=dims, unbiased=False)
        count = torch.full((1,), xf.numel() / xf.shape[1], device=x.device, dtype=xf.dtype)
        stats = _AllGather.apply(torch.cat([count, mean, var]))         # N x (1 + 2C)
        c = x.shape[1]
        counts, means, variances = stats[:, :1], stats[:, 1:c + 1], stats[:, c + 1:]
        n = counts.sum()
        mean_all = (counts * means).sum(0) / n
        var_all = (counts * (variances + (means - mean_all) ** 2)).sum(0) / n
        if self.track_running_stats:
            self._update_running_stats(mean_all.detach(), var_all.detach(), n.detach())
        shape = [1, c] + [1] * (x.dim() - 2)
        out = (xf - mean_all.view(shape)) * torch.rsqrt(var_all + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out.to(x.dtype)

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, var: torch.Tensor, n: torch.Tensor) -> None:
        """As plain batch norm does: the running variance is the unbiased one (no host sync)."""
        self.num_batches_tracked.add_(1)
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean.mul_(1 - factor).add_(mean, alpha=factor)
        self.running_var.mul_(1 - factor).add_(var * n / (n - 1).clamp_min(1), alpha=factor)

    def to_plain(self) -> nn.modules.batchnorm._BatchNorm:
        plain = self.plain_type(self.num_features, self.eps, self.momentum, self.affine, self.track_running_stats)
        if self.affine:
            plain.weight, plain.bias = self.weight, self.bias
        if self.track_running_stats:
            plain.running_mean, plain.running_var = self.running_mean, self.running_var
            plain.num_batches_tracked = self.num_batches_tracked
        return plain.train(self.training)


def _swap(model: nn.Module, swap) -> nn.Module:
    if (new := swap(model)) is not None:
        return new
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if (new := swap(child)) is not None:
                setattr(parent, name, new)
    return model


def sync_batchnorm(model: nn.Module) -> nn.Module:
    """Every batch-norm layer of `model` as a SyncBatchNorm (in place, sharing its tensors)."""
    return _swap(model, lambda m: SyncBatchNorm(m) if isinstance(m, nn.modules.batchnorm._BatchNorm)
                 and not isinstance(m, SyncBatchNorm) else None)


def plain_batchnorm(model: nn.Module) -> nn.Module:
    """The inverse of `sync_batchnorm` (in place): for work one process does alone, such as sampling."""
    return _swap(model, lambda m: m.to_plain() if isinstance(m, SyncBatchNorm) else None)


def plain_copy(model: nn.Module) -> nn.Module:
    """A deep copy of `model` with plain batch-norm layers."""
    return plain_batchnorm(copy.deepcopy(model))


# ---------------------------------------------------------------- the device's random stream

def device_rng_state(device: torch.device) -> torch.Tensor | None:
    """This process's CUDA generator state (each DDP process draws from its own GPU's generator)."""
    return torch.cuda.get_rng_state(device) if device.type == "cuda" else None


def set_device_rng_state(state: torch.Tensor | None, device: torch.device) -> None:
    """Give this process's GPU the saved stream of rank 0's GPU (the same stream in every process)."""
    if state is not None and device.type == "cuda":
        torch.cuda.set_rng_state(state.cpu(), device)
