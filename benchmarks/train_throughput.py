"""Student-training throughput: this trainer's device-side pipeline vs a reference-style loop.

Both train the same model with the same batch size and SGD settings for the same number of
steps; the reference-style loop feeds it through torch's DataLoader with torchvision's PIL
transforms (random crop with padding, horizontal flip, ToTensor, Normalize) and 2 workers, as
the reference code does. Prints img/s of each and the ratio.

    python benchmarks/train_throughput.py [--data datasets/FashionMNIST/FashionMNIST_28x28.h5]
        [--arch resnet20] [--batch-size 128] [--steps 60] [--device auto]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image

from cgankd.common.devices import autocast, memory_format, pick_device
from cgankd.data import DeviceLoader, PixelNorm, load_dataset
from cgankd.data.pipeline import Augment
from cgankd.distill import build_distiller
from cgankd.models import build_model
from cgankd.tasks import Task


class PilDataset(torch.utils.data.Dataset):
    def __init__(self, images: np.ndarray, labels: np.ndarray, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        image = self.images[i]
        pil = Image.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0))
        return self.transform(pil), int(self.labels[i])


def time_steps(batches, step, n_steps: int, warmup: int = 5) -> float:
    """img/s over `n_steps` steps after `warmup` untimed ones."""
    it = iter(batches)
    for _ in range(warmup):
        step(*next(it)[:2])
    seen, start = 0, time.perf_counter()
    for _ in range(n_steps):
        x, y = next(it)[:2]
        step(x, y)
        seen += len(y)
    return seen / (time.perf_counter() - start)


def forever(make_iter):
    while True:
        yield from make_iter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="datasets/FashionMNIST/FashionMNIST_28x28.h5")
    parser.add_argument("--arch", default="resnet20")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--amp", action="store_true")
    args = parser.parse_args()
    if not Path(args.data).exists():
        raise SystemExit(f"{args.data} not found: run `cgankd data prepare fashion-mnist` first")
    device = pick_device(args.device)
    bundle = load_dataset(args.data)
    images, labels = bundle.train.images, bundle.train.labels.astype(np.int64)
    channels, size = images.shape[1], images.shape[2]
    task = Task("classification", num_classes=bundle.num_classes)
    norm = PixelNorm.from_spec("dataset", images)

    def make_step():
        torch.manual_seed(0)
        model = build_model(args.arch, num_classes=task.num_classes, in_channels=channels, img_size=size)
        distiller = build_distiller(None, model, None, task).to(device=device, memory_format=memory_format(device))
        opt = torch.optim.SGD(distiller.trainable_parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)

        def step(x, y):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with autocast(device, args.amp):
                _, losses = distiller.forward_train(x, y)
                loss = sum(losses.values())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return step

    ours = DeviceLoader(images, labels, args.batch_size, pixel_norm=norm, seed=0, device=device,
                        augment=Augment.from_spec({"crop_pad": 2, "flip": True, "flip_label": "keep"}))
    ours_rate = time_steps(forever(lambda: iter(ours)), make_step(), args.steps)

    transform = T.Compose([T.RandomCrop(size, padding=2), T.RandomHorizontalFlip(), T.ToTensor(),
                           T.Normalize(norm.mean, norm.std)])
    reference = torch.utils.data.DataLoader(PilDataset(images, labels, transform), batch_size=args.batch_size,
                                            shuffle=True, num_workers=2, drop_last=True, persistent_workers=True,
                                            pin_memory=device.type == "cuda")
    ref_rate = time_steps(forever(lambda: iter(reference)), make_step(), args.steps)

    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"model {args.arch}, batch {args.batch_size}, {size}px x{channels}, {args.steps} timed steps, {where}")
    print(f"cgankd trainer (device-side batches): {ours_rate:8.0f} img/s")
    print(f"reference-style DataLoader + PIL    : {ref_rate:8.0f} img/s")
    print(f"ratio: {ours_rate / ref_rate:.2f}x")


if __name__ == "__main__":
    main()
