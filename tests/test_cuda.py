"""The CUDA branches (marker `cuda`; skipped on machines without a GPU): the default fast paths of
student and GAN training, compiled steps, and the loader's order on the GPU.
`bash benchmarks/gpu_check.sh` runs these on a GPU machine."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cgankd.train.config import TrainConfig
from cgankd.train.loop import fit

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def cuda_cfg(data: str, out, **kw) -> TrainConfig:
    return TrainConfig(**{**dict(data=data, arch="resnet8", out=str(out), epochs=3, batch_size=64, lr=0.05,
                                 device="cuda", quiet=True), **kw})


def test_cuda_training_defaults_to_mixed_precision_and_learns(tiny_classification_h5, tmp_path):
    metrics = fit(cuda_cfg(tiny_classification_h5, tmp_path / "run"))
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["amp"] is True and config["device"] == "cuda"
    assert metrics["test_acc"] > 90.0
    off = fit(cuda_cfg(tiny_classification_h5, tmp_path / "fp32", amp=False))
    assert off["test_acc"] > 90.0


def test_cuda_compiled_training_step_learns(tiny_classification_h5, tmp_path):
    assert fit(cuda_cfg(tiny_classification_h5, tmp_path / "run", compile=True))["test_acc"] > 90.0


def test_cuda_resume_gives_the_uninterrupted_weights(tiny_classification_h5, tmp_path):
    torch.backends.cudnn.deterministic = True          # bitwise repeatable kernels for this comparison
    try:
        fit(cuda_cfg(tiny_classification_h5, tmp_path / "full", amp=False))
        assert fit(cuda_cfg(tiny_classification_h5, tmp_path / "part", amp=False), stop_after_epoch=1) == \
            {"stopped_at_epoch": 1}
        fit(cuda_cfg(tiny_classification_h5, tmp_path / "part", amp=False, resume=True))
    finally:
        torch.backends.cudnn.deterministic = False
    a, b = (torch.load(tmp_path / run / "model.pt", weights_only=False)["model"] for run in ("full", "part"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)


def test_cuda_loader_keeps_the_cpu_order_and_repeats_its_augmentation():
    from cgankd.data import Augment, DeviceLoader, PixelNorm
    images = np.random.default_rng(0).integers(0, 256, (100, 3, 8, 8), dtype=np.uint8)
    labels = np.arange(100)
    kw = dict(pixel_norm=PixelNorm((0.5,) * 3, (0.5,) * 3), augment=Augment(crop_pad=2, flip=True), seed=3)
    cpu = DeviceLoader(images, labels, 16, device="cpu", **kw)
    gpu = DeviceLoader(images, labels, 16, device="cuda", **kw)
    assert all(torch.equal(a[2], b[2].cpu()) for a, b in zip(cpu, gpu))         # order drawn on the CPU
    first, again = ([x for x, _, _ in gpu] for _ in range(2))
    assert all(torch.equal(a, b) for a, b in zip(first, again))


def test_cuda_gan_training_runs_with_and_without_amp(tiny_classification_h5, tmp_path):
    from conftest import cli, gan_train_args
    for name, extra in (("fp32", []), ("amp", ["--amp"])):
        args = [a if a != "cpu" else "cuda" for a in gan_train_args(tiny_classification_h5, "biggan", tmp_path / name,
                                                                   iters=6, extra=("log_every=2",))]
        assert cli(*args, *extra) == 0
        log = [json.loads(line) for line in (tmp_path / name / "log.jsonl").read_text().splitlines()]
        assert len(log) == 3 and all(np.isfinite([r["d_real"], r["d_fake"], r["g_loss"]]).all() for r in log)
