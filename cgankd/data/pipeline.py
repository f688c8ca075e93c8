"""The device-side batch pipeline: the training set lives on the device as uint8, and every batch is
gathered, augmented and normalised there with batched tensor ops (no per-image Python).

Order within a batch: random-resized-crop / pad-and-crop and flip on raw pixels (so padding is
black, as in torchvision's RandomCrop before Normalize), then per-channel normalisation.

Sharding (DDP): a loader for process `rank` of `world_size` walks the same global batches as a
one-process loader and keeps rows rank, rank + world_size, ... of each. The augmentations draw their
random numbers for the whole global batch and apply the shard's rows of them, so every image is
augmented exactly as in a one-process run.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..common.errors import UserError
from .labels import LabelNorm


# ---------------------------------------------------------------- pixel normalisation

@dataclass
class PixelNorm:
    """x_norm = (x / 255 - mean) / std per channel; `denormalize` maps back to [0, 1]."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        self.mean = tuple(float(m) for m in np.atleast_1d(self.mean))
        self.std = tuple(float(s) for s in np.atleast_1d(self.std))
        if len(self.mean) != len(self.std) or not all(s > 0 for s in self.std):
            raise ValueError(f"pixel norm needs one positive std per mean, got mean {self.mean} std {self.std}")

    def __getstate__(self) -> dict:  # pickles (and deep copies) leave the per-device tensor cache out
        return {"mean": self.mean, "std": self.std}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["mean"], state["std"])

    def _coefficients(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        """(1 / (255 std), mean / std, std, mean) as (1, C, 1, 1) tensors, cached per device."""
        if device not in self._cache:
            mean = torch.tensor(self.mean, dtype=torch.float32).view(1, -1, 1, 1)
            std = torch.tensor(self.std, dtype=torch.float32).view(1, -1, 1, 1)
            self._cache[device] = tuple(t.to(device) for t in (1.0 / (255.0 * std), mean / std, std, mean))
        return self._cache[device]

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Pixels in 0..255 (uint8, or float after a resampling augmentation) -> normalised float32."""
        scale, shift, _, _ = self._coefficients(x.device)
        return x.to(torch.float32, copy=True).mul_(scale).sub_(shift)

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images -> [0, 1]."""
        _, _, std, mean = self._coefficients(x.device)
        return (x.float() * std + mean).clamp_(0.0, 1.0)

    @staticmethod
    def dataset_stats(images: np.ndarray | torch.Tensor | Sequence, chunk: int = 4096
                      ) -> tuple[list[float], list[float]]:
        """Per-channel mean and std in [0, 1] units over one or several N x C x H x W uint8 arrays."""
        arrays = images if isinstance(images, (list, tuple)) else [images]
        total = sq_total = None
        count = 0
        for array in arrays:
            for start in range(0, len(array), chunk):
                block = torch.as_tensor(array[start:start + chunk]).to(torch.float64).div_(255.0)
                s, sq = block.sum(dim=(0, 2, 3)), block.square().sum(dim=(0, 2, 3))
                total = s if total is None else total + s
                sq_total = sq if sq_total is None else sq_total + sq
                count += block.numel() // block.shape[1]
        if not count:
            raise ValueError("dataset_stats needs at least one image")
        mean = total / count
        std = (sq_total / count - mean.square()).clamp_min(1e-12).sqrt()
        return mean.tolist(), std.tolist()

    @classmethod
    def from_spec(cls, spec: Any, images: np.ndarray | torch.Tensor | Sequence | None = None) -> "PixelNorm":
        """"dataset" (per-channel stats of `images`), "minus_one_one" (x/255 -> [-1, 1]), or {"mean", "std"}."""
        if isinstance(spec, PixelNorm):
            return spec
        if spec == "minus_one_one":
            return cls((0.5,), (0.5,))
        if spec == "dataset":
            if images is None:
                raise ValueError('pixel norm "dataset" needs the training images')
            return cls(*cls.dataset_stats(images))
        if isinstance(spec, dict) and {"mean", "std"} <= set(spec):
            return cls(spec["mean"], spec["std"])
        raise UserError(f"pixel_norm {spec!r}: expected 'dataset', 'minus_one_one' or {{'mean': [...], 'std': [...]}}")

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict) -> "PixelNorm":
        return cls(d["mean"], d["std"])


# ---------------------------------------------------------------- augmentation

@dataclass(frozen=True)
class Rows:
    """Which rows of a drawn batch a tensor holds: random numbers are drawn for `drawn` rows and
    those at `index` applied (a DDP shard of a global batch). None everywhere means all rows."""
    drawn: int
    index: torch.Tensor

    def pick(self, t: torch.Tensor, dim: int = 0) -> torch.Tensor:
        return t.index_select(dim, self.index)


def _draw_count(x: torch.Tensor, rows: Rows | None) -> int:
    return x.shape[0] if rows is None else rows.drawn


def crop_and_flip(x: torch.Tensor, pad: int, flip: bool, generator: torch.Generator, rows: Rows | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad by `pad` and crop back at a random offset per image, and mirror a random half of the
    images when `flip`; both in one gather. Returns the images and the mask of flipped ones."""
    b, c, h, w = x.shape
    wp = w + 2 * pad
    source = F.pad(x, (pad, pad, pad, pad)) if pad else x
    n = _draw_count(x, rows)
    offsets = torch.randint(0, 2 * pad + 1, (2, n), generator=generator, device=x.device)
    if flip:
        flipped = torch.rand(n, generator=generator, device=x.device) < 0.5
    else:
        flipped = torch.zeros(n, dtype=torch.bool, device=x.device)
    if rows is not None:
        offsets, flipped = rows.pick(offsets, 1), rows.pick(flipped)
    j = torch.arange(w, device=x.device)
    cols = torch.where(flipped[:, None], w - 1 - j, j) + offsets[1, :, None]            # B x W
    rows = (torch.arange(h, device=x.device) + offsets[0, :, None]) * wp                 # B x H
    index = (rows[:, :, None] + cols[:, None, :]).view(b, 1, h * w).expand(b, c, h * w)
    return source.reshape(b, c, -1).gather(2, index).view(b, c, h, w), flipped


def _crop_boxes(b: int, h: int, w: int, scale: tuple[float, float], ratio: tuple[float, float],
                generator: torch.Generator, device: torch.device, attempts: int = 10) -> torch.Tensor:
    """torchvision's RandomResizedCrop box rule, batched: (B, 4) float (top, left, height, width)."""
    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(b, attempts, generator=generator, device=device) * (high - low) + low

    area = uniform(*scale) * (h * w)
    aspect = torch.exp(uniform(math.log(ratio[0]), math.log(ratio[1])))
    cw, ch = torch.sqrt(area * aspect).round(), torch.sqrt(area / aspect).round()
    ok = (cw >= 1) & (cw <= w) & (ch >= 1) & (ch <= h)
    first = ok.float().argmax(dim=1, keepdim=True)                        # first valid attempt
    cw, ch = cw.gather(1, first).squeeze(1), ch.gather(1, first).squeeze(1)
    # No valid attempt: the centre crop of the closest allowed aspect ratio (the whole image when square).
    in_ratio = w / h
    fw, fh = ((w, round(w / ratio[0])) if in_ratio < ratio[0] else
              (round(h * ratio[1]), h) if in_ratio > ratio[1] else (w, h))
    found = ok.any(dim=1)
    cw = torch.where(found, cw, torch.full_like(cw, fw))
    ch = torch.where(found, ch, torch.full_like(ch, fh))
    u = torch.rand(2, b, generator=generator, device=device)
    top = torch.where(found, torch.floor(u[0] * (h - ch + 1)), torch.full_like(ch, (h - fh) // 2))
    left = torch.where(found, torch.floor(u[1] * (w - cw + 1)), torch.full_like(cw, (w - fw) // 2))
    return torch.stack([top, left, ch, cw], dim=1)


def random_resized_crop(x: torch.Tensor, generator: torch.Generator, scale: tuple[float, float] = (0.08, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3), rows: Rows | None = None) -> torch.Tensor:
    """A random box per image resized back to H x W (bilinear), in one affine_grid + grid_sample."""
    b, _, h, w = x.shape
    boxes = _crop_boxes(_draw_count(x, rows), h, w, scale, ratio, generator, x.device)
    top, left, ch, cw = (boxes if rows is None else rows.pick(boxes)).unbind(1)
    zero = torch.zeros_like(top)
    # Output [-1, 1] maps onto the box's pixel edges [left, left + cw] (align_corners=False units).
    theta = torch.stack([torch.stack([cw / w, zero, (2 * left + cw) / w - 1], 1),
                         torch.stack([zero, ch / h, (2 * top + ch) / h - 1], 1)], 1)
    grid = F.affine_grid(theta, [b, x.shape[1], h, w], align_corners=False)
    return F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)


_AUGMENT_KEYS = {"crop_pad", "flip", "flip_label", "random_resized_crop", "scale", "ratio"}


@dataclass
class Augment:
    """Batched train-time augmentation of raw pixels (and, for a flip that negates, of labels)."""

    crop_pad: int = 0
    flip: bool = False
    flip_label: str = "keep"                      # "keep" | "negate" (flip negates the raw label)
    random_resized_crop: bool = False
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    label_norm: LabelNorm | None = None           # to negate normalised labels; None: labels are raw

    def __post_init__(self):
        if self.flip_label not in ("keep", "negate"):
            raise UserError(f"augment flip_label {self.flip_label!r}: expected 'keep' or 'negate'")
        if self.crop_pad < 0:
            raise UserError(f"augment crop_pad {self.crop_pad}: expected >= 0")

    @classmethod
    def from_spec(cls, spec: dict | None, label_norm: LabelNorm | None = None) -> "Augment":
        """From a preset's "augment" dict; None or {} is the identity."""
        spec = dict(spec or {})
        unknown = set(spec) - _AUGMENT_KEYS
        if unknown:
            raise UserError(f"augment: unknown setting(s) {', '.join(sorted(unknown))}; "
                            f"expected some of {', '.join(sorted(_AUGMENT_KEYS))}")
        for key in ("scale", "ratio"):
            if key in spec:
                spec[key] = tuple(float(v) for v in spec[key])
        return cls(**spec, label_norm=label_norm)

    @property
    def is_identity(self) -> bool:
        return not (self.crop_pad or self.flip or self.random_resized_crop)

    def to_spec(self) -> dict:
        """The settings as a preset would write them (recorded in a run's config.json)."""
        return {"crop_pad": self.crop_pad, "flip": self.flip, "flip_label": self.flip_label,
                "random_resized_crop": self.random_resized_crop, "scale": list(self.scale),
                "ratio": list(self.ratio)}

    def negate(self, y: torch.Tensor) -> torch.Tensor:
        """-y in raw units, expressed in the labels' own (normalised or raw) units."""
        if self.label_norm is None:
            return -y
        return self.label_norm.normalize(-self.label_norm.denormalize(y))

    def __call__(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, rows: Rows | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """x: B x C x H x W pixels in 0..255 (uint8; float after random_resized_crop); y: the batch's labels;
        `rows`: x holds these rows of a larger drawn batch (a DDP shard)."""
        if self.random_resized_crop:
            x = random_resized_crop(x, generator, self.scale, self.ratio, rows)
        if self.crop_pad or self.flip:
            x, flipped = crop_and_flip(x, self.crop_pad, self.flip, generator, rows)
            if self.flip and self.flip_label == "negate":
                if not y.is_floating_point():
                    raise ValueError("flip_label 'negate' needs float (regression) labels")
                y = torch.where(flipped, self.negate(y), y)
        return x, y


# ---------------------------------------------------------------- loader

def stream_seed(seed: int, epoch: int, stream: int) -> int:
    """A 63-bit seed that depends only on (seed, epoch, stream)."""
    state = np.random.SeedSequence([seed % 2**64, epoch, stream]).generate_state(1, np.uint64)[0]
    return int(state) & (2**63 - 1)


def _as_device_tensor(array: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    if isinstance(array, np.ndarray):
        array = torch.from_numpy(np.ascontiguousarray(array))
    return array.to(device)


class DeviceLoader:
    """Batches of (x normalised float N x C x H x W, y, index) from device-resident uint8 images.

    Labels are class ids (long) or already-normalised float32 regression values. The order of an
    epoch depends only on (seed, epoch), as does the augmentation stream, so a resumed run sees the
    same batches. `index` is each sample's position in this loader's arrays. With drop_last, a set
    smaller than one batch still gives one (short) batch rather than none.

    With `fake_share`, rows from `fake_from` on are fakes and every batch holds round(share * B) of
    them and the rest real rows, each part drawn from its own reshuffled stream; an epoch keeps the
    same number of batches as one shuffled set of all rows.

    With `world_size` > 1 the loader yields process `rank`'s shard of each batch (module docstring):
    `batch_size` and `len()` stay those of the global batches; a shard that would be empty (the short
    last batch of an evaluation) is skipped.
    """

    _ORDER, _AUGMENT = 0, 1

    def __init__(self, images: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor, batch_size: int, *,
                 pixel_norm: PixelNorm, augment: Augment | None = None, shuffle: bool = True,
                 drop_last: bool = True, seed: int = 0, device: str | torch.device = "cpu",
                 memory_format: torch.memory_format = torch.contiguous_format, fake_from: int | None = None,
                 fake_share: float | None = None, rank: int = 0, world_size: int = 1):
        self.device = torch.device(device)
        self.images = _as_device_tensor(images, self.device)
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"DeviceLoader needs uint8 N x C x H x W images, got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
        labels = _as_device_tensor(labels, self.device).reshape(-1)
        self.labels = labels.float() if labels.is_floating_point() else labels.long()
        if len(self.labels) != len(self.images):
            raise ValueError(f"DeviceLoader got {len(self.images)} images but {len(self.labels)} labels")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size, self.pixel_norm, self.shuffle = batch_size, pixel_norm, shuffle
        self.augment = None if augment is None or augment.is_identity else augment
        self.drop_last, self.seed, self.memory_format = drop_last, seed, memory_format
        self.fake_from, self.fake_share = fake_from, fake_share
        if fake_share is not None and not (shuffle and drop_last and fake_from and 0 < fake_from < len(self.labels)):
            raise ValueError("a fixed fake share needs shuffled full batches and real rows before fake rows")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not one of {world_size} processes")
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def sharded(self, rank: int, world_size: int) -> "DeviceLoader":
        """This loader for process `rank` of `world_size` (1: the whole batches), sharing its tensors."""
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not one of {world_size} processes")
        other = copy.copy(self)
        other.rank, other.world_size = rank, world_size
        return other

    @property
    def num_samples(self) -> int:
        return len(self.images)

    def __len__(self) -> int:
        n, b = self.num_samples, self.batch_size
        if self.drop_last:
            return max(n // b, 1 if n else 0)
        return -(-n // b)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self) -> torch.Tensor:
        """This epoch's sample order, drawn on the CPU so it is the same on every device."""
        if not self.shuffle:
            return torch.arange(self.num_samples, device=self.device)
        gen = torch.Generator().manual_seed(stream_seed(self.seed, self.epoch, self._ORDER))
        if self.fake_share is None:
            return torch.randperm(self.num_samples, generator=gen).to(self.device)
        return self._shared_order(gen).to(self.device)

    def _shared_order(self, gen: torch.Generator) -> torch.Tensor:
        """Batches of b_fake fake and b - b_fake real rows, each part cycling through its own permutations."""
        n_batches, b = len(self), self.batch_size
        b_fake = min(b - 1, max(1, round(self.fake_share * b)))

        def stream(start: int, stop: int, count: int) -> torch.Tensor:
            laps = -(-count // (stop - start))
            return torch.cat([start + torch.randperm(stop - start, generator=gen) for _ in range(laps)])[:count]

        real = stream(0, self.fake_from, n_batches * (b - b_fake)).view(n_batches, b - b_fake)
        fake = stream(self.fake_from, self.num_samples, n_batches * b_fake).view(n_batches, b_fake)
        return torch.cat([real, fake], dim=1).view(-1)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        order = self.order()
        gen = torch.Generator(device=self.device)
        gen.manual_seed(stream_seed(self.seed, self.epoch, self._AUGMENT))
        for i in range(len(self)):
            index = order[i * self.batch_size:(i + 1) * self.batch_size]
            rows = None
            if self.world_size > 1:
                rows = Rows(len(index), torch.arange(self.rank, len(index), self.world_size, device=self.device))
                index = index[self.rank::self.world_size]
                if not len(index):
                    continue
            x, y = self.images.index_select(0, index), self.labels.index_select(0, index)
            if self.augment is not None:
                x, y = self.augment(x, y, gen, rows)
            x = self.pixel_norm.normalize(x).contiguous(memory_format=self.memory_format)
            yield x, y, index
