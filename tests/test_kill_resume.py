"""Resumable runs under real interruptions: `cgankd train`, `gan train` and `fake make` started as
child processes, SIGKILLed mid-run and resumed give what an uninterrupted run gives, bitwise; a
non-finite loss ends `train` and `gan train` with one error line and the last good checkpoint kept;
and cDR-RS, through the driver `fake make` uses, rejects degraded fakes.

The children run on one thread (OMP_NUM_THREADS=1), so that an interrupted run and the uninterrupted
one compute in the same order; each pair runs side by side, to halve the wall time.
"""

from __future__ import annotations

import ast
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

from cgankd.data import load_dataset, read_fake_h5
from cgankd.fake import FakeSettings, TeacherJudge, make_fake_set
from cgankd.models.trained import TrainedNet

from conftest import SMALL_CDR_RS, cli, gan_train_args, quadrant_images, same_tensors

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
# The same CLI with fake make's progress state written after every round rather than once a minute, so
# that a kill can land after a state that holds a collection in progress.
SAVE_EVERY_ROUND = ["-c", "import runpy, cgankd.fake.work as w; w.SAVE_EVERY_S = 0.0; "
                          "runpy.run_module('cgankd', run_name='__main__')"]


pytestmark = pytest.mark.usefixtures("one_thread")


class Child:
    """`python -m cgankd ARGS` (or `python PREFIX ARGS`) in a child process; its output goes to `log`."""

    def __init__(self, args: list, log: Path, prefix: list | None = None):
        self.log = log
        with open(log, "w") as out:
            self.proc = subprocess.Popen([sys.executable, *(prefix or ["-m", "cgankd"]), *map(str, args)], env=ENV,
                                         stdout=out, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text()[-3000:]

    def finish(self, timeout: float = 300) -> None:
        rc = self.proc.wait(timeout)
        assert rc == 0, f"exit {rc}:\n{self.output()}"

    def kill_when(self, ready: Callable[[], bool], what: str, timeout: float = 300) -> None:
        """SIGKILL as soon as `ready()`; fails when the run ends first (then make it longer)."""
        deadline = time.monotonic() + timeout
        while not ready():
            assert self.proc.poll() is None, f"the run ended (exit {self.proc.returncode}) before {what}:\n" \
                                             f"{self.output()}"
            assert time.monotonic() < deadline, f"no {what} after {timeout} s"
            time.sleep(0.01)
        os.kill(self.proc.pid, signal.SIGKILL)
        assert self.proc.wait(60) == -signal.SIGKILL, f"the run finished before the kill landed: make it longer\n" \
                                                     f"{self.output()}"


@pytest.fixture
def start(tmp_path):
    """start(name, args, prefix=None) -> a running Child logging to tmp_path/name.log; any child
    still running when the test ends (a failed assertion) is killed."""
    children: list[Child] = []

    def spawn(name: str, args: list, prefix: list | None = None) -> Child:
        children.append(Child(args, tmp_path / f"{name}.log", prefix))
        return children[-1]
    yield spawn
    for child in children:
        if child.proc.poll() is None:
            child.proc.kill()
            child.proc.wait()


def interrupted_and_whole(start, args: Callable[[Path], list], tmp_path: Path, ready: Callable[[Path], bool],
                          what: str, check_killed: Callable[[Path], None]) -> tuple[Path, Path]:
    """The command run whole, and run again, SIGKILLed once `ready(out)` (`check_killed(out)` then
    looks at what it left) and resumed; the two side by side."""
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    uninterrupted = start("whole", args(whole))
    start("killed", args(killed)).kill_when(lambda: ready(killed), what)
    check_killed(killed)
    start("resumed", args(killed) + ["--resume"]).finish()
    uninterrupted.finish()
    return whole, killed


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def read_log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def without_times(records: list[dict]) -> list[dict]:
    """Log lines or metrics less what depends on the clock (wall times, rates)."""
    return [{k: v for k, v in r.items() if not (k.endswith("_s") or "time" in k or "seconds" in k)} for r in records]


# ---------------------------------------------------------------- train

def train_args(data: str, out: Path, epochs: int = 3) -> list:
    return ["train", "--data", data, "--arch", "resnet8", "--out", out, "--epochs", epochs, "--subset", 192,
            "--batch-size", 32, "--lr", 0.05, "--device", "cpu", "--quiet"]


def test_train_killed_mid_run_resumes_to_the_uninterrupted_weights(tiny_classification_h5, tmp_path, start):
    def mid_run(run: Path) -> None:
        assert load(run / "last.pt")["epoch"] < 4 and not (run / "model.pt").exists()

    whole, killed = interrupted_and_whole(start, lambda out: train_args(tiny_classification_h5, out, epochs=4),
                                          tmp_path, lambda run: (run / "last.pt").exists(), "its first checkpoint",
                                          mid_run)
    same_tensors(load(whole / "model.pt")["model"], load(killed / "model.pt")["model"], "model.pt")
    assert [r["epoch"] for r in read_log(killed)] == [1, 2, 3, 4]
    assert without_times(read_log(killed)) == without_times(read_log(whole))
    metrics = [json.loads((run / "metrics.json").read_text()) for run in (whole, killed)]
    assert without_times([metrics[1]]) == without_times([metrics[0]])


def test_train_killed_after_its_last_checkpoint_still_reports_its_metrics(tiny_classification_h5, tmp_path):
    """The last window of a run: last.pt of the final epoch written, model.pt and metrics.json not yet."""
    run = tmp_path / "run"
    assert cli(*train_args(tiny_classification_h5, run, epochs=1)) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    model = load(run / "model.pt")["model"]
    (run / "model.pt").unlink()
    (run / "metrics.json").unlink()
    assert cli(*train_args(tiny_classification_h5, run, epochs=1), "--resume") == 0
    same_tensors(model, load(run / "model.pt")["model"], "model.pt")
    again = json.loads((run / "metrics.json").read_text())
    assert without_times([again]) == without_times([metrics])
    assert [r["epoch"] for r in read_log(run)] == [1]


def test_train_stops_at_a_non_finite_loss_and_keeps_the_last_good_checkpoint(tiny_classification_h5, tmp_path,
                                                                              monkeypatch, capsys):
    import cgankd.train.loop as loop
    lr_at = loop.lr_at
    # From epoch 2 on, a learning rate no network survives: the loss itself turns inf / NaN.
    monkeypatch.setattr(loop, "lr_at", lambda epoch, **kw: 1e30 if epoch >= 1 else lr_at(epoch, **kw))
    run = tmp_path / "run"
    capsys.readouterr()
    assert cli(*train_args(tiny_classification_h5, run)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: training diverged: the loss became "), err
    assert "at epoch 2, step " in err[0] and "last.pt keeps the last good state (end of epoch 1)" in err[0], err
    value = float(err[0].split("the loss became ")[1].split()[0])
    assert not math.isfinite(value)
    state = load(run / "last.pt")
    assert state["epoch"] == 1
    assert all(torch.isfinite(t).all() for t in state["distiller"].values() if t.is_floating_point())
    assert not (run / "model.pt").exists() and not (run / "metrics.json").exists()
    assert [r["epoch"] for r in read_log(run)] == [1]

    # The kept checkpoint is a good one: the run resumes from it and finishes.
    monkeypatch.undo()
    assert cli(*train_args(tiny_classification_h5, run), "--resume") == 0
    assert [r["epoch"] for r in read_log(run)] == [1, 2, 3]
    assert all(torch.isfinite(t).all() for t in load(run / "model.pt")["model"].values() if t.is_floating_point())


def test_train_with_a_huge_lr_fails_in_its_first_epoch_and_saves_nothing(tiny_classification_h5, tmp_path, capsys):
    run = tmp_path / "run"
    args = train_args(tiny_classification_h5, run, epochs=1)
    args[args.index("--lr") + 1] = 1e30
    capsys.readouterr()
    assert cli(*args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: training diverged: the loss became "), err
    assert "at epoch 1, step " in err[0] and "nothing was saved" in err[0], err
    assert not any((run / name).exists() for name in ("last.pt", "model.pt", "metrics.json"))


# ---------------------------------------------------------------- gan train

def gan_args(data: str, kind: str, out: Path, iters: int) -> list:
    return gan_train_args(data, kind, out, iters=iters, extra=("ckpt_every=5", "log_every=5"))


def checkpoint_at(iteration: int) -> Callable[[Path], bool]:
    # The grid of an iteration is written right after its checkpoint.
    return lambda run: (run / f"samples_{iteration:06d}.png").exists()


@pytest.mark.parametrize("kind", ["biggan", "ccgan"])
def test_gan_train_killed_mid_run_resumes_to_the_uninterrupted_weights(kind, tiny_classification_h5,
                                                                       tiny_regression_h5, tmp_path, start):
    def mid_run(run: Path) -> None:
        assert 5 <= load(run / "last.pt")["iteration"] < 20 and not (run / "metrics.json").exists()

    data = tiny_classification_h5 if kind == "biggan" else tiny_regression_h5
    whole, killed = interrupted_and_whole(start, lambda out: gan_args(data, kind, out, 20), tmp_path,
                                          checkpoint_at(5), "the checkpoint of iteration 5", mid_run)
    a, b = load(whole / "last.pt"), load(killed / "last.pt")
    assert a["iteration"] == b["iteration"] == 20
    for key in ("G", "D"):
        same_tensors(a[key], b[key], key)
    for key in ("opt_G", "opt_D"):
        for param, state in a[key]["state"].items():
            same_tensors(state, b[key]["state"][param], f"{key} {param}")
    if kind == "ccgan":                                  # trained once, before iteration 0, and kept
        same_tensors(a["embed"]["y2h"], b["embed"]["y2h"], "y2h")
    assert [r["iter"] for r in read_log(killed)] == [5, 10, 15, 20]
    assert without_times(read_log(killed)) == without_times(read_log(whole))


def nan_g_loss(monkeypatch, from_call: int) -> None:
    """The generator's loss turns NaN from its `from_call`-th computation (one per iteration) on."""
    import cgankd.gans.trainer as trainer
    hinge_g_loss, calls = trainer.hinge_g_loss, []

    def loss(out: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return hinge_g_loss(out) * (float("nan") if len(calls) >= from_call else 1.0)
    monkeypatch.setattr(trainer, "hinge_g_loss", loss)


def diverged_gan_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: GAN training diverged at iteration "), err
    return err[0]


def test_gan_train_stops_at_a_non_finite_loss_and_keeps_the_last_good_checkpoint(tiny_classification_h5, tmp_path,
                                                                                  monkeypatch, capsys):
    run = tmp_path / "gan"
    nan_g_loss(monkeypatch, from_call=8)
    capsys.readouterr()
    assert cli(*gan_args(tiny_classification_h5, "biggan", run, 20)) == 2
    err = diverged_gan_error(capsys)
    assert err.startswith("error: GAN training diverged at iteration 8 (") and "g_loss=nan" in err, err
    assert f"{run / 'last.pt'} keeps iteration 5" in err, err
    state = load(run / "last.pt")
    assert state["iteration"] == 5
    assert all(torch.isfinite(t).all() for t in state["G"].values() if t.is_floating_point())
    assert not (run / "metrics.json").exists()
    assert [r["iter"] for r in read_log(run)] == [5]


def test_gan_train_divergence_names_the_checkpoint_it_really_kept(tiny_classification_h5, tmp_path, monkeypatch,
                                                                  capsys):
    """A run grown with --resume from a checkpoint off the ckpt_every grid (its last iteration, 3)."""
    run = tmp_path / "gan"
    assert cli(*gan_args(tiny_classification_h5, "biggan", run, 3)) == 0
    nan_g_loss(monkeypatch, from_call=1)
    capsys.readouterr()
    assert cli(*gan_args(tiny_classification_h5, "biggan", run, 20), "--resume") == 2
    err = diverged_gan_error(capsys)
    assert "diverged at iteration 4 " in err and f"{run / 'last.pt'} keeps iteration 3;" in err, err
    assert load(run / "last.pt")["iteration"] == 3


# ---------------------------------------------------------------- fake make

def fake_args(gan: Path, teacher: Path, data: str, nfake: int, cdr_rs: str = SMALL_CDR_RS) -> Callable[[Path], list]:
    return lambda out: ["fake", "make", "--gan", gan, "--teacher", teacher, "--data", data, "--nfake", nfake,
                        "--device", "cpu", "--out", out.with_suffix(".h5"), "--set", "filter_burn_in=20",
                        "--set", "fit_size=128", "--set", f"cdr_rs={cdr_rs}"]


def work(out: Path) -> Path:
    return out.parent / f"{out.name}.h5.work"


def saved_state(out: Path) -> dict | None:
    path = work(out) / "state.pt"
    return torch.load(path, weights_only=False) if path.exists() else None   # written atomically: whole or old


def in_a_later_collection(out: Path) -> bool:
    """The saved state holds a collection in progress, past the first group (whose fakes are a part)."""
    state = saved_state(out)
    return state is not None and state["group"] >= 1 and state["collection"] is not None


def test_fake_make_killed_twice_resumes_to_the_uninterrupted_fakes(tiny_biggan, cls_teacher, tiny_classification_h5,
                                                                   tmp_path, start):
    """Killed once the collection starts (the state written at once), then, resumed with the state
    written every round, in a collection in progress; the last resume ends with the same fakes."""
    args = fake_args(tiny_biggan, cls_teacher, tiny_classification_h5, 200)
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    uninterrupted = start("whole", args(whole))
    start("killed", args(killed)).kill_when(lambda: saved_state(killed) is not None, "work/state.pt")
    assert saved_state(killed)["group"] == 0
    start("killed_again", args(killed) + ["--resume"], SAVE_EVERY_ROUND).kill_when(
        lambda: in_a_later_collection(killed), "a saved collection past the first group")
    assert (work(killed) / "parts" / "group_00000.pt").exists() and not killed.with_suffix(".h5").exists()
    start("resumed", args(killed) + ["--resume"]).finish()
    uninterrupted.finish()

    (a, attrs_a), (b, attrs_b) = (read_fake_h5(run.with_suffix(".h5")) for run in (whole, killed))
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    for attrs in (attrs_a, attrs_b):
        del attrs["wall_time_s"]
    # the same counts too: GAN samples made, fakes judged, cDR-RS acceptance, filter keep rate, cut-offs
    assert json.dumps(attrs_a, sort_keys=True, default=str) == json.dumps(attrs_b, sort_keys=True, default=str)
    kept = sorted(p.name for p in work(killed).iterdir() if not p.name.startswith("."))   # not a killed write's temp
    assert kept == ["cdr_rs.pt", "config.json", "fit_proposals.pt"]


# ---------------------------------------------------------------- cDR-RS rejects degraded fakes

def box_blur(images: np.ndarray, k: int = 5) -> np.ndarray:
    pad = np.pad(images.astype(np.float64), ((0, 0), (0, 0), (k // 2, k // 2), (k // 2, k // 2)), mode="edge")
    h, w = images.shape[2:]
    return (sum(pad[:, :, i:i + h, j:j + w] for i in range(k) for j in range(k)) / k ** 2).round().astype(np.uint8)


class HalfDegradedGAN:
    """A test double for a loaded GAN: class c gives fresh quadrant images of class c (the real
    distribution), half of them degraded: heavy noise, a 5x5 blur or a blank grey, a third each.
    It remembers the degraded images. (Milder noise, sigma 40, changes the teacher's features so
    little that cDR-RS keeps most of it: the density ratio sees what its features see.)"""

    def __init__(self):
        self.num_classes, self.is_regression, self.label_norm, self.y2h = 4, False, None, None
        self.channels, self.img_size, self.path, self.config = 1, 28, "half degraded", {}
        self.degraded: set[bytes] = set()

    def generate(self, labels: torch.Tensor, *, batch_size: int = 500, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        images = quadrant_images(labels.numpy(), rng)
        how = np.where(rng.random(len(images)) < 0.5, rng.integers(0, 3, len(images)), -1)
        noisy = images[how == 0] + rng.normal(0, 90, images[how == 0].shape)
        images[how == 0] = np.clip(noisy, 0, 255).astype(np.uint8)
        images[how == 1] = box_blur(images[how == 1])
        images[how == 2] = int(images.mean())
        self.degraded.update(img.tobytes() for img in images[how >= 0])
        return images


def test_cdr_rs_keeps_clean_fakes_and_rejects_degraded_ones(cls_teacher, tiny_classification_h5):
    """Through the driver `fake make` uses (make_fake_set: fit_cdr_rs, then SubsampledDraw), filter off."""
    judge = TeacherJudge(TrainedNet.load(cls_teacher))
    real = load_dataset(tiny_classification_h5).train
    cdr_rs = ast.literal_eval(SMALL_CDR_RS)
    cdr_rs["dr"]["epochs"] = 40            # on all 512 real images: with 20 epochs on 256, 10-20 % get through
    settings = dict(nfake=200, rho=1.0, adjust_labels=False, batch_size=64, fit_size=512, cdr_rs=cdr_rs)
    shares = {}
    for subsample in ("none", "cdr-rs"):
        gan = HalfDegradedGAN()
        fakes = make_fake_set(gan, judge, real, FakeSettings(subsample=subsample, **settings), feature_net=judge.net,
                              progress=False)
        assert len(fakes.labels) == 200 and np.bincount(fakes.labels).tolist() == [50] * 4
        shares[subsample] = np.mean([img.tobytes() in gan.degraded for img in fakes.images])
    assert 0.35 < shares["none"] < 0.65                  # the GAN's own share, about half
    assert shares["cdr-rs"] < 0.1, f"{shares['cdr-rs']:.0%} of the kept fakes are degraded"
    # Clean proposals pass at a healthy rate: the accepted share of all proposals, over the clean half.
    clean_rate = fakes.stats["cdr_rs_acceptance_rate"] * (1 - shares["cdr-rs"]) / 0.5
    assert clean_rate > 0.3, f"cDR-RS accepts {clean_rate:.0%} of the clean fakes"
