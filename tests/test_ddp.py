"""Data-parallel training under torchrun: 2 processes with gloo on this CPU, checked against one process
with the same global batch, and a run killed with SIGKILL that resumes to the uninterrupted result.

Tolerances. With the student in float64, a DDP step (sharded loader, augmentation, SyncBatchNorm,
DDP's gradient average) gives the one-process gradients to 1e-9 (measured: 5e-14): only the order of
the sums differs; the loss values agree to 1e-6 because the task loss is computed in float32. In float32 the
runs drift apart: on this CPU the channels_last batch-norm backward sums 25k values per channel
naively (1e-3 relative gradient error against float64 in one process, and a different one over two
shards of half the rows), and SGD compounds that from step to step; so end-to-end float32 runs are
compared loosely. A resumed DDP run repeats exactly what the uninterrupted one did: bitwise equal.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from cgankd.cli import main
from cgankd.common.distributed import World
from cgankd.common.errors import UserError
from cgankd.data import load_dataset, write_fake_h5
from cgankd.train.config import TrainConfig
from cgankd.train.loop import check_parallel, fit

from conftest import same_tensors

HERE = Path(__file__).parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def torchrun_argv(*args, nproc: int = 2) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
            *map(str, args)]


def torchrun(*args, nproc: int = 2) -> subprocess.CompletedProcess:
    done = subprocess.run(torchrun_argv(*args, nproc=nproc), env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def fake_h5(tiny_classification_h5, tmp_path_factory) -> str:
    real = load_dataset(tiny_classification_h5).train
    path = tmp_path_factory.mktemp("ddp_fake") / "fake.h5"
    write_fake_h5(path, real.images[:96], (real.labels[:96] + 1) % 4, {"source": "test"})
    return str(path)


@pytest.fixture(scope="module")
def worker_run(tiny_classification_h5, tiny_regression_h5, fake_h5, cls_teacher, tmp_path_factory) -> Path:
    """tests/ddp_worker.py once under torchrun: gradients, a FitNet run, a tiny BigGAN."""
    out = tmp_path_factory.mktemp("ddp_worker")
    torchrun(HERE / "ddp_worker.py", out, tiny_classification_h5, tiny_regression_h5, fake_h5, cls_teacher)
    return out


def test_a_ddp_step_is_the_one_process_step_in_float64(worker_run, tiny_classification_h5, tiny_regression_h5,
                                                       fake_h5, cls_teacher):
    from ddp_worker import gradient_cases, step_gradients
    ddp = torch.load(worker_run / "gradients.pt", weights_only=False)
    for name, cfg in gradient_cases(tiny_classification_h5, tiny_regression_h5, fake_h5, str(cls_teacher)).items():
        one = step_gradients(cfg)
        assert one["losses"].keys() == ddp[name]["losses"].keys(), name
        for term, value in one["losses"].items():
            assert ddp[name]["losses"][term] == pytest.approx(value, rel=1e-6), (name, term)
        assert one["grads"].keys() == ddp[name]["grads"].keys(), name
        for param, grad in one["grads"].items():
            torch.testing.assert_close(ddp[name]["grads"][param], grad, rtol=1e-9, atol=1e-12, msg=f"{name} {param}")


def test_a_kd_method_with_its_own_stage_trains_under_ddp(worker_run):
    run = worker_run / "hint"
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r.get("stage") for r in log] == ["prepare", None]           # one line each: rank 0 alone wrote
    assert json.loads((run / "config.json").read_text())["processes"] == 2
    assert (run / "model.pt").exists() and (run / "metrics.json").exists()


def test_gan_training_under_ddp_matches_one_process(worker_run, tiny_classification_h5, tmp_path):
    from ddp_worker import tiny_gan
    tiny_gan(tiny_classification_h5, tmp_path / "one")
    logs = [[json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
            for run in (tmp_path / "one", worker_run / "gan")]
    for a, b in zip(*logs, strict=True):
        # float32 sums over shards in another order: 1.7e-4 relative by iteration 3 on an AVX512 CPU.
        for key in ("d_real", "d_fake", "g_loss"):
            assert b[key] == pytest.approx(a[key], rel=1e-3), (a["iter"], key)
    one, ddp = (torch.load(run / "last.pt", weights_only=False) for run in (tmp_path / "one", worker_run / "gan"))
    for name, value in one["D"].items():
        torch.testing.assert_close(ddp["D"][name], value, rtol=1e-4, atol=1e-5)
    # Every bias of this G feeds a batch norm: its exact gradient is 0, so Adam turns its round-off into
    # steps of +-lr, and the running means follow the biases. Everything else must agree.
    # Elsewhere in G, a near-zero gradient summed over shards in another order can flip sign too (seen
    # on an AVX512 CPU in the first linear layer), and Adam turns that into a step of lr (2e-4): up to
    # 3 lr apart after 3 iterations.
    for name, value in one["G"].items():
        if not name.endswith(("bias", "running_mean")):
            torch.testing.assert_close(ddp["G"][name], value, rtol=1e-4, atol=3 * 2e-4, msg=name)
    assert sorted(p.name for p in (worker_run / "gan").glob("samples_*.png")) == \
        ["samples_000000.png", "samples_000002.png", "samples_000003.png"]
    assert len(list((worker_run / "gan").glob("events.out.tfevents.*"))) == 1


def _student_args(data: str, out: Path) -> list:
    return ["-m", "cgankd", "train", "--data", data, "--arch", "resnet8", "--out", out, "--epochs", 4,
            "--batch-size", 64, "--device", "cpu", "--quiet", "--sync-bn"]


def _rank_pids(agent: int) -> dict[int, int]:
    """The workers torchrun's agent started, by rank (from their environment)."""
    found = {}
    for pid in map(int, Path(f"/proc/{agent}/task/{agent}/children").read_text().split()):
        env = dict(item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in item)
        if "RANK" in env:
            found[int(env["RANK"])] = pid
    return found


def _kill_rank_after_first_checkpoint(argv: list, run: Path, rank: int) -> None:
    agent = subprocess.Popen(argv, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    deadline = time.monotonic() + 300
    while not (run / "last.pt").exists():
        assert agent.poll() is None, "the run ended before it could be killed: make it longer"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(_rank_pids(agent.pid)[rank], signal.SIGKILL)
    assert agent.wait(timeout=120) != 0                  # torchrun stops the other process and fails


def test_train_under_torchrun_matches_one_process_and_resumes_after_sigkill(tiny_classification_h5, tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    torchrun(*_student_args(tiny_classification_h5, whole), "--tensorboard")
    one = fit(TrainConfig(data=tiny_classification_h5, arch="resnet8", out=str(tmp_path / "one"), epochs=4,
                          batch_size=64, device="cpu", quiet=True, sync_bn=True))
    ddp = json.loads((whole / "metrics.json").read_text())
    log = [json.loads(line) for line in (whole / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3, 4]                        # rank 0 alone logs
    one_log = [json.loads(line) for line in (tmp_path / "one" / "log.jsonl").read_text().splitlines()]
    assert log[0]["loss_ce"] == pytest.approx(one_log[0]["loss_ce"], rel=2e-3)   # float32 drift: see the top
    assert ddp["train_acc"] == pytest.approx(one["train_acc"], abs=5.0)
    assert ddp["test_acc"] > 90.0 and one["test_acc"] > 90.0
    events = list(whole.glob("events.out.tfevents.*"))
    assert len(events) == 1

    # SIGKILL rank 0 (the writer) mid-run, after its first checkpoint; resume; the same weights.
    argv = torchrun_argv(*_student_args(tiny_classification_h5, killed))
    _kill_rank_after_first_checkpoint(argv, killed, rank=0)
    assert not (killed / "metrics.json").exists()
    torchrun(*_student_args(tiny_classification_h5, killed), "--resume")
    load = lambda run: torch.load(run / "model.pt", weights_only=False)["model"]  # noqa: E731
    same_tensors(load(whole), load(killed))
    resumed = [json.loads(line) for line in (killed / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in resumed] == [1, 2, 3, 4]
    assert [r["test_acc"] for r in resumed] == [r["test_acc"] for r in log]


def test_what_ddp_cannot_compute_like_one_process_is_refused(tiny_classification_h5, tmp_path):
    two = World(rank=0, size=2)
    base = dict(data=tiny_classification_h5, arch="resnet8", out=str(tmp_path / "r"), batch_size=64)
    check_parallel(TrainConfig(**base, distill="kd", teacher="t.pt"), two)      # per-sample losses: fine
    check_parallel(TrainConfig(**base, distill="crd", teacher="t.pt"), World())  # one process: anything
    for cfg, message in ((TrainConfig(**{**base, "batch_size": 63}), "multiple of 2"),
                         (TrainConfig(**base, distill="crd", teacher="t.pt"), "--distill crd relates"),
                         (TrainConfig(**base, distill="rkd", teacher="t.pt"), "--distill rkd relates"),
                         (TrainConfig(**base, fake="f.h5", aux_bn=True, sync_bn=True), "needs --fake-share")):
        with pytest.raises(UserError, match=message):
            check_parallel(cfg, two)


def test_only_rank_0_reports_a_user_error(tiny_classification_h5, tmp_path, monkeypatch, capsys):
    argv = ["train", "--data", tiny_classification_h5, "--arch", "resnet9000", "--out", str(tmp_path / "r"),
            "--device", "cpu", "--quiet"]
    monkeypatch.setenv("RANK", "1")
    assert main(argv) == 2 and capsys.readouterr().err == ""
    monkeypatch.setenv("RANK", "0")
    assert main(argv) == 2 and capsys.readouterr().err.count("\n") == 1


def test_a_shard_holds_its_rows_of_the_global_batch_augmented_as_in_one_process():
    from cgankd.data import Augment, DeviceLoader, PixelNorm
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (50, 1, 8, 8), dtype=np.uint8), rng.normal(size=50).astype(np.float32)
    augment = Augment(crop_pad=2, flip=True, flip_label="negate", random_resized_crop=True)
    for train in (True, False):
        whole = DeviceLoader(images, labels, 12, pixel_norm=PixelNorm((0.5,), (0.5,)), augment=augment if train else None,
                             shuffle=train, drop_last=train, seed=4)
        whole.set_epoch(3)
        shards = []
        for rank in range(3):
            shard = whole.sharded(rank, 3)
            shard.set_epoch(3)
            shards.append(list(shard))
        for i, (x, y, index) in enumerate(whole):
            parts = [(rank, batches[i]) for rank, batches in enumerate(shards) if i < len(batches)]
            assert torch.equal(torch.cat([p[2] for _, p in parts]).sort().values, index.sort().values)
            for rank, (xs, ys, idx) in parts:
                torch.testing.assert_close(xs, x[rank::3], rtol=0, atol=1e-6)
                assert torch.equal(ys, y[rank::3]) and torch.equal(idx, index[rank::3])
        assert [len(b) for b in shards] == ([4, 4, 4] if train else [5, 5, 4])   # an empty shard is skipped
