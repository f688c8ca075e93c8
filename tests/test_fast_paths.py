"""The trainers' speed work leaves CPU results alone: bitwise the plain loop's weights, no host read
per step; TensorBoard event files hold what log.jsonl holds; SyncBatchNorm is batch norm in one process."""

from __future__ import annotations

import json

import pytest
import torch

from cgankd.common.devices import autocast, cpu_has_bf16, memory_format
from cgankd.common.errors import UserError
from cgankd.common.optim import lr_at, set_lr
from cgankd.common.seeding import seed_everything
from cgankd.distill import build_distiller
from cgankd.models import build_model
from cgankd.train import loop
from cgankd.train.config import TrainConfig
from cgankd.train.dataset import build_training_data
from cgankd.train.loop import fit


def tiny_cfg(data: str, out, **kw) -> TrainConfig:
    base = dict(data=data, arch="resnet8", out=str(out), epochs=2, batch_size=64, lr=0.05, device="cpu", quiet=True,
                seed=5)
    return TrainConfig(**{**base, **kw})


def plain_loop_weights(cfg: TrainConfig) -> dict[str, torch.Tensor]:
    """The student loop as it was before DDP and the device-side sums: every step read back at once."""
    data = build_training_data(cfg)
    seed_everything(cfg.seed)
    student = build_model(cfg.arch, num_classes=data.task.num_classes, in_channels=1, img_size=28)
    distiller = build_distiller(None, student, None, data.task, {"n_real": data.n_real})
    distiller.to(device="cpu", memory_format=memory_format(torch.device("cpu")))
    train = data.loader(data.train, cfg.batch_size, torch.device("cpu"), train=True, seed=cfg.seed)
    optimizer = torch.optim.SGD(distiller.trainable_parameters(), lr=cfg.lr, momentum=cfg.momentum,
                                weight_decay=cfg.weight_decay)
    for epoch in range(cfg.epochs):
        train.set_epoch(epoch)
        for step, (x, y, index) in enumerate(train):
            set_lr(optimizer, lr_at(epoch + step / len(train), base_lr=cfg.lr, epochs=cfg.epochs,
                                    schedule=cfg.schedule, milestones=cfg.milestones))
            distiller.epoch = epoch + step / len(train)
            _, losses = distiller.forward_train(x, y, index)
            loss = sum(losses.values())
            assert torch.isfinite(loss).item()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss.item()
    return student.state_dict()


def test_the_trainer_gives_the_plain_loops_weights_bitwise_on_cpu(tiny_classification_h5, tmp_path):
    cfg = tiny_cfg(tiny_classification_h5, tmp_path / "run", preset="fashion-mnist")   # with crop + flip
    fit(cfg)
    saved = torch.load(tmp_path / "run" / "model.pt", weights_only=False)["model"]
    expected = plain_loop_weights(cfg)
    assert saved.keys() == expected.keys()
    for key in saved:
        assert torch.equal(saved[key], expected[key]), key


def test_the_hot_loop_reads_the_device_only_every_log_interval(tiny_classification_h5, tmp_path, monkeypatch):
    reads = {"n": 0}
    for name in ("item", "tolist"):
        original = getattr(torch.Tensor, name)

        def counted(self, *a, _original=original, **k):
            reads["n"] += 1
            return _original(self, *a, **k)
        monkeypatch.setattr(torch.Tensor, name, counted)
    monkeypatch.setattr(loop, "LOG_EVERY", 10)
    cfg = tiny_cfg(tiny_classification_h5, tmp_path / "run", epochs=1, batch_size=8)
    steps = 512 // 8
    fit(cfg)
    # 64 steps: a read every 10 steps and at the end of the epoch, plus the test evaluation's
    # (the loop before read the losses and the metric at every step: 128 reads or more).
    assert reads["n"] <= steps // 10 + 8


def _scalars(folder) -> dict[str, list]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}, \
        events.Tags()["images"]


def test_tensorboard_holds_the_logged_scalars_and_a_resumed_run_continues_them(tiny_classification_h5, tmp_path,
                                                                               monkeypatch):
    monkeypatch.setattr(loop, "LOG_EVERY", 4)
    run = tmp_path / "run"
    assert fit(tiny_cfg(tiny_classification_h5, run, epochs=3, tensorboard=True), stop_after_epoch=1) == \
        {"stopped_at_epoch": 1}
    fit(tiny_cfg(tiny_classification_h5, run, epochs=3, tensorboard=True, resume=True))
    scalars, _ = _scalars(run)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    steps = 512 // 64
    for key in ("test_acc", "train_acc", "loss_ce", "lr", "img_per_s"):
        assert [s for s, _ in scalars[f"epoch/{key}"]] == [steps, 2 * steps, 3 * steps], key
    assert [v for _, v in scalars["epoch/test_acc"]] == pytest.approx([r["test_acc"] for r in log])
    assert [s for s, _ in scalars["step/loss"]] == [4, 8, 12, 16, 20, 24]
    assert {"step/lr", "step/img_per_s"} <= set(scalars)


def test_tensorboard_of_a_gan_run_has_its_losses_and_sample_grids(tiny_classification_h5, tmp_path):
    from conftest import cli, gan_train_args
    run = tmp_path / "gan"
    assert cli(*gan_train_args(tiny_classification_h5, "biggan", run, iters=4,
                               extra=("log_every=2", "ckpt_every=2")), "--tensorboard") == 0
    scalars, images = _scalars(run)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [s for s, _ in scalars["gan/g_loss"]] == [2, 4]
    assert [v for _, v in scalars["gan/d_real"]] == pytest.approx([r["d_real"] for r in log])
    assert "gan/it_s" in scalars and images == ["samples"]


def test_sync_batchnorm_is_batch_norm_in_one_process_and_converts_back():
    from cgankd.common.distributed import SyncBatchNorm, plain_batchnorm, sync_batchnorm
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.Flatten(),
                              torch.nn.Linear(48, 4), torch.nn.BatchNorm1d(4))
    twin = sync_batchnorm(__import__("copy").deepcopy(net))
    assert [type(m) for m in twin if isinstance(m, SyncBatchNorm)] == [SyncBatchNorm, SyncBatchNorm]
    x = torch.randn(5, 1, 6, 6)
    torch.testing.assert_close(twin(x), net(x), rtol=0, atol=0)
    assert twin.state_dict().keys() == net.state_dict().keys()
    back = plain_batchnorm(twin)
    assert [type(m) for m in back] == [type(m) for m in net]
    for key, value in net.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no native bf16 kernels")
def test_amp_on_a_cpu_trains_in_bf16_and_stays_near_the_float32_run(tiny_classification_h5, tmp_path):
    seen = []
    model = build_model("resnet8", num_classes=10, in_channels=1, img_size=28).to(memory_format=torch.channels_last)
    x = torch.randn(4, 1, 28, 28).to(memory_format=torch.channels_last)
    with autocast(torch.device("cpu"), True):
        seen.append(model(x).dtype)
    assert seen == [torch.bfloat16]
    f32 = fit(tiny_cfg(tiny_classification_h5, tmp_path / "f32"))
    bf16 = fit(tiny_cfg(tiny_classification_h5, tmp_path / "bf16", amp=True))
    assert json.loads((tmp_path / "bf16" / "config.json").read_text())["amp"] is True
    first = [json.loads((tmp_path / run / "log.jsonl").read_text().splitlines()[0])["loss_ce"]
             for run in ("f32", "bf16")]
    assert first[1] == pytest.approx(first[0], rel=0.05)        # bf16 rounding, not another run
    assert abs(bf16["test_acc"] - f32["test_acc"]) < 15


def test_amp_on_a_cpu_without_bf16_kernels_is_refused(monkeypatch):
    from cgankd.common import devices
    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: False)
    with pytest.raises(UserError, match="no native bfloat16 kernels"):
        devices.amp_enabled(True, torch.device("cpu"))
    assert devices.amp_enabled(None, torch.device("cpu")) is False
