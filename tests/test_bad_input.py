"""A corpus of bad input, generated here, run through the real command line.

Every case in CASES runs `cgankd ARGS...` (in this process, as `cgankd.cli.main`) and must end the way
every error a user can cause ends: exit code 2, one line on stderr that starts with `error:` and names
the problem, no traceback, and nothing that was on disk before changed or added (checked before any
work starts). A few cases that need more than a table row (an unwritable folder, a real process, a
report that must NOT fail) are tests of their own below.

`CGANKD_BAD_INPUT_TABLE=path.md pytest tests/test_bad_input.py` also writes the corpus as a markdown
table (command, case, the exact error line) to that path when the module ends.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import h5py
import numpy as np
import pytest
import torch

from cgankd.cli import main
from cgankd.data import Split, write_dataset_h5, write_fake_h5
from cgankd.data.labels import LabelNorm
from cgankd.models import build_model
from cgankd.models.checkpoint import save_model_checkpoint
from cgankd.tasks import Task

from conftest import gan_train_args

REPO = Path(__file__).resolve().parents[1]
TABLE_ENV = "CGANKD_BAD_INPUT_TABLE"
NOBODY = 65534                      # the unprivileged user the unwritable-folder cases run as under root
TRAIN = ("--device", "cpu", "--quiet")
GAN_ITERS = 2
# The flags the session's cls_teacher was trained with (tests/conftest.py): a copy of its run folder
# resumes only with exactly these.
TEACHER_FLAGS = ("--arch", "resnet8", "--epochs", 3, "--batch-size", 64, "--lr", 0.05, "--device", "cpu", "--quiet")


# ---------------------------------------------------------------- files the cases read

def _images(n: int, channels: int = 1, size: int = 28, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, channels, size, size), dtype=np.uint8)


def _raw_h5(path: Path, **datasets) -> Path:
    """An h5 file with exactly these datasets, unchecked (the writers refuse bad ones)."""
    with h5py.File(path, "w") as f:
        for key, value in datasets.items():
            f.create_dataset(key, data=value)
    return path


def _class_keys(train_labels, test_labels, channels: int = 1, size: int = 28) -> dict:
    train_labels, test_labels = np.asarray(train_labels, np.int64), np.asarray(test_labels, np.int64)
    return {"images_train": _images(len(train_labels), channels, size), "labels_train": train_labels,
            "images_test": _images(len(test_labels), channels, size, seed=1), "labels_test": test_labels}


def _classification(path: Path, classes: int, channels: int = 1, size: int = 28, n: int = 40) -> Path:
    labels = np.arange(n) % classes
    write_dataset_h5(path, Split(_images(n, channels, size), labels),
                     Split(_images(classes, channels, size, 1), np.arange(classes)), {"task": "classification"})
    return path


def _regression(path: Path, low: float, high: float, n: int = 40) -> Path:
    angles = np.linspace(low, high, n).astype(np.float32)
    write_dataset_h5(path, Split(_images(n), angles), Split(_images(8, seed=1), angles[:8]), {"task": "regression"})
    return path


def _fakes(path: Path, n: int = 40, channels: int = 1, size: int = 28, classes: int = 4) -> Path:
    write_fake_h5(path, _images(n, channels, size, seed=2), np.arange(n) % classes,
                  {"task": "classification", "num_classes": classes})
    return path


def _net(path: Path, *, classes: int = 4, channels: int = 1, task: str = "classification") -> Path:
    """A model.pt as `cgankd train` writes it (untrained weights: the cases never get to use them)."""
    kwargs = {"num_classes": classes if task == "classification" else 1, "in_channels": channels, "img_size": 28,
              "task": task}
    spec = Task("classification", num_classes=classes) if task == "classification" else \
        Task("regression", label_norm=LabelNorm(-80.0, 80.0))
    save_model_checkpoint(path, build_model("resnet8", **kwargs), arch="resnet8", model_kwargs=kwargs, task=spec,
                          pixel_norm={"mean": [0.5] * channels, "std": [0.25] * channels})
    return path


@dataclass
class Inputs:
    """Every input file the cases share: the session's fixtures and this module's own small files."""
    root: Path              # this module's files
    cls_data: Path          # the session's 4-class 28 px quadrants
    reg_data: Path          # the session's line angles in [-80, 80]
    teacher: Path           # the session's cls_teacher model.pt (its run folder beside it)
    gan: Path               # a BigGAN run folder on `rgb` (2 iterations: 4 classes, 3 x 28 x 28)
    ten: Path               # 10 classes, 1 x 28 x 28
    rgb: Path               # 4 classes, 3 x 28 x 28
    rgb10: Path             # 10 classes, 3 x 28 x 28
    gray32: Path            # 4 classes, 1 x 32 x 32
    gap: Path               # class 3 of 10 relabelled 250
    wide: Path              # angles in [-120, 120]
    fakes: Path             # 40 fakes, 4 classes, 1 x 28 x 28
    fakes_rgb: Path
    fakes_32: Path
    rgb_net: Path           # a 3-channel 4-class model.pt
    net100: Path            # a 100-class model.pt
    reg_net: Path           # a regression model.pt
    mislabelled_net: Path   # resnet8 weights in a file that says resnet20

    @property
    def teacher_dir(self) -> Path:
        return self.teacher.parent

    def watched(self) -> list[Path]:
        """Folders whose files no case may change."""
        return [self.root, self.teacher_dir, Path(self.cls_data).parent, Path(self.reg_data).parent]


def _mislabelled(source: Path, path: Path) -> Path:
    state = torch.load(source, map_location="cpu", weights_only=False)
    torch.save({**state, "arch": "resnet20"}, path)
    return path


def _gan_flags(i: Inputs, out) -> list:
    """The flags the module's GAN was trained with: a copy of its run folder resumes only with these."""
    return gan_train_args(str(i.rgb), "biggan", out, iters=GAN_ITERS)


@pytest.fixture(scope="module")
def inputs(tiny_classification_h5, tiny_regression_h5, cls_teacher, tmp_path_factory) -> Inputs:
    """The module's files; its one GAN is a 2-iteration 3-channel BigGAN (no case samples from it)."""
    root = tmp_path_factory.mktemp("bad_input")
    gap_labels = np.arange(40) % 10
    gap_labels[gap_labels == 3] = 250
    rgb = _classification(root / "rgb.h5", 4, channels=3)
    gan = root / "gan"
    assert main([str(a) for a in gan_train_args(str(rgb), "biggan", gan, iters=GAN_ITERS)]) == 0
    return Inputs(
        root=root, cls_data=Path(tiny_classification_h5), reg_data=Path(tiny_regression_h5), teacher=cls_teacher,
        gan=gan, ten=_classification(root / "ten.h5", 10), rgb=rgb, rgb10=_classification(root / "rgb10.h5", 10, 3),
        gray32=_classification(root / "gray32.h5", 4, size=32),
        gap=_raw_h5(root / "gap.h5", **_class_keys(gap_labels, np.arange(10))),
        wide=_regression(root / "wide.h5", -120.0, 120.0), fakes=_fakes(root / "fakes.h5"),
        fakes_rgb=_fakes(root / "fakes_rgb.h5", channels=3), fakes_32=_fakes(root / "fakes_32.h5", size=32),
        rgb_net=_net(root / "rgb_net.pt", channels=3), net100=_net(root / "net100.pt", classes=100),
        reg_net=_net(root / "reg_net.pt", task="regression"),
        mislabelled_net=_mislabelled(cls_teacher, root / "mislabelled.pt"))


# ---------------------------------------------------------------- per-case files (made in the case's folder)

def _truncated(path: Path, source: Path, keep: int = 4096) -> Path:
    path.write_bytes(Path(source).read_bytes()[:keep])
    return path


def _bad_h5(path: Path, **changes) -> Path:
    """A 4-class 28 px dataset file with some keys replaced."""
    return _raw_h5(path, **{**_class_keys(np.arange(16) % 4, np.arange(4)), **changes})


def _file(path: Path, text: str = "not a folder\n") -> Path:
    path.write_text(text)
    return path


def _teacher_run(i: Inputs, tmp: Path, *, finished: bool = True, last_pt: bytes | None = None) -> Path:
    """A copy of the session teacher's run folder; unfinished: as if killed after its last epoch."""
    run = tmp / "earlier"
    shutil.copytree(i.teacher_dir, run)
    if not finished:
        (run / "metrics.json").unlink()
        (run / "model.pt").unlink()
    if last_pt is not None:
        (run / "last.pt").write_bytes(last_pt)
    return run


def _truncated_last_pt(i: Inputs) -> bytes:
    data = (i.teacher_dir / "last.pt").read_bytes()
    return data[:len(data) // 2]


def _gan_run(i: Inputs, tmp: Path, truncated: bool = False) -> Path:
    """A copy of the module's BigGAN run folder, its last.pt cut short when `truncated`."""
    run = tmp / "gan"
    shutil.copytree(i.gan, run)
    if truncated:
        _truncated(run / "last.pt", i.gan / "last.pt", 2000)
    return run


def _train(data, out, *flags) -> list:
    return ["train", "--data", data, "--arch", "resnet8", "--out", out, "--epochs", 1, "--batch-size", 16,
            *TRAIN, *flags]


def _fake_make(i: Inputs, out, *flags, gan=None, teacher=None, data=None) -> list:
    return ["fake", "make", "--gan", gan or i.gan, "--teacher", teacher or i.teacher, "--data", data or i.cls_data,
            "--nfake", 8, "--out", out, "--device", "cpu", *flags]


def _gan_train(i: Inputs, out, *flags, data=None, gan: str = "biggan") -> list:
    return ["gan", "train", "--data", data or i.cls_data, "--gan", gan, "--out", out, "--iters", 2,
            "--device", "cpu", "--quiet", *flags]


def _sample(i: Inputs, out, *flags, ckpt=None) -> list:
    return ["gan", "sample", "--ckpt", ckpt or i.gan, "--n", 8, "--out", out, "--device", "cpu", *flags]


# ---------------------------------------------------------------- the corpus

Builder = Callable[[Inputs, Path], list]

def _check(path, *flags) -> list:
    return ["data", "check", path, *flags]


CASES: list[tuple[str, Builder, str]] = [
    # data check
    ("data-check/class-id-gap", lambda i, t: _check(i.gap),
     r"no image of class id 3, 10, 11, .*--num-classes K"),
    ("data-check/empty-class",
     lambda i, t: _check(_raw_h5(t / "empty.h5", **_class_keys([0, 1, 3] * 4, [0, 1, 2, 3]))),
     r"'labels_train' has no image of class id 2 of 0\.\.3"),
    ("data-check/num-classes-below-ids", lambda i, t: _check(i.gap, "--num-classes", 10),
     r"class id 250, expected class ids 0\.\.9"),
    ("data-check/top-class-absent",
     lambda i, t: _check(_raw_h5(t / "top.h5", **_class_keys(np.arange(36) % 9, np.arange(10)))),
     r"no image of class id 9 of 0\.\.9"),
    ("data-check/truncated-h5", lambda i, t: _check(_truncated(t / "cut.h5", i.cls_data)),
     r"cut\.h5: cannot be read as HDF5"),
    ("data-check/not-hdf5", lambda i, t: _check(_file(t / "notes.h5", "just text\n")),
     r"notes\.h5: not an HDF5 file"),
    ("data-check/missing-file", lambda i, t: _check(t / "nowhere.h5"),
     r"nowhere\.h5: no such file"),
    ("data-check/float-images",
     lambda i, t: _check(_bad_h5(t / "f.h5", images_train=_images(16).astype(np.float32))),
     r"'images_train' has dtype float32, expected uint8"),
    ("data-check/images-rank-3", lambda i, t: _check(_bad_h5(t / "r3.h5", images_train=_images(16)[:, 0])),
     r"'images_train' has shape \(16, 28, 28\), expected 4 dimensions"),
    ("data-check/non-square-images",
     lambda i, t: _check(_bad_h5(t / "ns.h5", images_train=_images(16)[..., :24], images_test=_images(4)[..., :24])),
     r"H x W = 28 x 24, expected square images"),
    ("data-check/nan-labels",
     lambda i, t: _check(_bad_h5(t / "nan.h5", labels_train=np.full(16, np.nan, np.float32))),
     r"'labels_train' has 16 NaN/inf values"),
    ("data-check/inf-labels",
     lambda i, t: _check(_bad_h5(t / "inf.h5", labels_test=np.array([0, 1, np.inf, 2], np.float32))),
     r"'labels_test' has 1 NaN/inf values"),
    ("data-check/missing-key",
     lambda i, t: _check(_raw_h5(t / "nokey.h5", images_train=_images(4), labels_train=np.arange(4))),
     r"missing key 'images_test'"),
    # train: the data
    ("train/class-id-gap", lambda i, t: _train(i.gap, t / "run"),
     r"gap\.h5: key 'labels_train' has no image of class id 3"),
    ("train/num-classes-below-ids", lambda i, t: _train(i.gap, t / "run", "--num-classes", 10),
     r"class id 250, expected class ids 0\.\.9"),
    ("train/truncated-h5", lambda i, t: _train(_truncated(t / "cut.h5", i.cls_data), t / "run"),
     r"cut\.h5: cannot be read as HDF5"),
    ("train/nan-labels",
     lambda i, t: _train(_bad_h5(t / "nan.h5", labels_train=np.r_[np.arange(15.0), np.nan]), t / "run",
                         "--task", "regression"),
     r"'labels_train' has 1 NaN/inf values"),
    ("train/labels-outside-preset-range",
     lambda i, t: _train(i.wide, t / "run", "--preset", "rotated-fashion-mnist"),
     r"wide\.h5: training labels span \[-120, 120\], outside the preset's label range \[-90, 90\]"),
    ("train/constant-regression-labels", lambda i, t: _train(_regression(t / "flat.h5", 5.0, 5.0), t / "run"),
     r"flat\.h5: every training label is 5"),
    ("train/fake-image-size", lambda i, t: _train(i.cls_data, t / "run", "--fake", i.fakes_32),
     r"fakes_32\.h5: fake_images are \(1, 32, 32\) per image, the real data \(1, 28, 28\)"),
    ("train/fake-channels", lambda i, t: _train(i.cls_data, t / "run", "--fake", i.fakes_rgb),
     r"fakes_rgb\.h5: fake_images are \(3, 28, 28\) per image"),
    # train: checkpoints
    ("train/init-other-arch", lambda i, t: _train(i.cls_data, t / "run", "--init", i.teacher, "--arch", "resnet20"),
     r"--init .*model\.pt is a resnet8, not a resnet20"),
    ("train/init-other-class-count", lambda i, t: _train(i.ten, t / "run", "--init", i.teacher),
     r"classification \(4 classes\) does not match the data's classification \(10 classes\)"),
    ("train/init-3-channel-on-1-channel", lambda i, t: _train(i.cls_data, t / "run", "--init", i.rgb_net),
     r"rgb_net\.pt: the net takes 3x28x28 images, .*quadrants\.h5 has 1x28x28"),
    ("train/init-trainer-checkpoint",
     lambda i, t: _train(i.cls_data, t / "run", "--init", i.teacher_dir / "last.pt"),
     r"last\.pt: a trainer checkpoint .*; pass .*model\.pt \(the finished model\)"),
    ("train/teacher-3-channel-on-1-channel",
     lambda i, t: _train(i.cls_data, t / "run", "--teacher", i.rgb_net, "--distill", "kd"),
     r"rgb_net\.pt: the net takes 3x28x28 images"),
    ("train/teacher-of-an-unfinished-run",
     lambda i, t: _train(i.cls_data, t / "run", "--distill", "kd", "--teacher",
                         _teacher_run(i, t, finished=False) / "last.pt"),
     r"a trainer checkpoint .*that run has not finished: finish it with `cgankd train \.\.\. --resume`"),
    ("train/regression-teacher-on-classification",
     lambda i, t: _train(i.cls_data, t / "run", "--teacher", i.reg_net, "--distill", "kd"),
     r"checkpoint task regression .*does not match the data's classification"),
    # train: sizes and the output folder
    ("train/epochs-0", lambda i, t: _train(i.cls_data, t / "run", "--epochs", 0),
     r"--epochs and --batch-size must be positive \(got 0, 16\)"),
    ("train/epochs-negative", lambda i, t: _train(i.cls_data, t / "run", "--epochs", -3),
     r"--epochs and --batch-size must be positive \(got -3, 16\)"),
    ("train/batch-size-0", lambda i, t: _train(i.cls_data, t / "run", "--batch-size", 0),
     r"must be positive \(got 1, 0\)"),
    ("train/batch-size-negative", lambda i, t: _train(i.cls_data, t / "run", "--batch-size", -8),
     r"must be positive \(got 1, -8\)"),
    ("train/epochs-not-a-number", lambda i, t: _train(i.cls_data, t / "run", "--epochs", "ten"),
     r"argument --epochs: invalid int value: 'ten'"),
    ("train/out-is-a-file", lambda i, t: _train(i.cls_data, _file(t / "run")),
     r"--out .*run: a file is there, expected a folder"),
    ("train/out-under-a-file", lambda i, t: _train(i.cls_data, _file(t / "file") / "run"),
     r"--out .*file/run: .*file is a file, so no folder can be made under it"),
    # train: resuming
    ("train/resume-truncated-last-pt",
     lambda i, t: ["train", "--data", i.cls_data, *TEACHER_FLAGS, "--resume", "--out",
                   _teacher_run(i, t, finished=False, last_pt=_truncated_last_pt(i))],
     r"last\.pt: cannot be read \(\w+\); it is damaged or truncated"),
    ("train/resume-corrupt-last-pt",
     lambda i, t: ["train", "--data", i.cls_data, *TEACHER_FLAGS, "--resume", "--out",
                   _teacher_run(i, t, finished=False, last_pt=b"\x80\x04garbage" * 50)],
     r"last\.pt: cannot be read \(\w+\); it is damaged or truncated"),
    ("train/resume-other-arch",
     lambda i, t: ["train", "--data", i.cls_data, *TEACHER_FLAGS, "--arch", "resnet20", "--resume", "--out",
                   _teacher_run(i, t, finished=False)],
     r"was made with other settings, .*arch: \"resnet8\" there, \"resnet20\" now"),
    ("train/resume-other-lr",
     lambda i, t: ["train", "--data", i.cls_data, *TEACHER_FLAGS, "--lr", 0.1, "--resume", "--out",
                   _teacher_run(i, t, finished=False)],
     r"lr: 0\.05 there, 0\.1 now"),
    ("train/finished-run-without-resume",
     lambda i, t: ["train", "--data", i.cls_data, *TEACHER_FLAGS, "--out", _teacher_run(i, t)],
     r"already holds a run; pass --resume"),
    # train: fakes
    ("train/nfake-0", lambda i, t: _train(i.cls_data, t / "run", "--fake", i.fakes, "--nfake", 0),
     r"--nfake must be at least 1 \(got 0\)"),
    ("train/nfake-negative", lambda i, t: _train(i.cls_data, t / "run", "--fake", i.fakes, "--nfake", -5),
     r"--nfake must be at least 1 \(got -5\)"),
    ("train/nfake-fewer-than-classes", lambda i, t: _train(i.cls_data, t / "run", "--fake", i.fakes, "--nfake", 3),
     r"--nfake 3: fewer than one fake per class \(4 classes\)"),
    ("train/nfake-more-than-file", lambda i, t: _train(i.cls_data, t / "run", "--fake", i.fakes, "--nfake", 41),
     r"--nfake 41: .*fakes\.h5 holds only 40 fakes"),
    # train: names
    ("train/unknown-preset", lambda i, t: _train(i.cls_data, t / "run", "--preset", "mnist-3d"),
     r"unknown preset 'mnist-3d'; known: .*fashion-mnist"),
    ("train/unknown-distill",
     lambda i, t: _train(i.cls_data, t / "run", "--distill", "telepathy", "--teacher", i.teacher),
     r"argument --distill: invalid choice: 'telepathy'"),
    ("train/distill-without-teacher", lambda i, t: _train(i.cls_data, t / "run", "--distill", "kd"),
     r"--distill kd needs a --teacher checkpoint"),
    ("train/teacher-without-distill", lambda i, t: _train(i.cls_data, t / "run", "--teacher", i.teacher),
     r"--teacher was given without --distill METHOD"),
    ("train/classification-only-kd-on-regression",
     lambda i, t: _train(i.reg_data, t / "run", "--teacher", i.reg_net, "--distill", "sskd"),
     r"--distill sskd is defined for classification only, not regression"),
    # eval
    ("eval/3-channel-net-on-1-channel-data", lambda i, t: ["eval", "--ckpt", i.rgb_net, "--data", i.cls_data],
     r"rgb_net\.pt: the net takes 3x28x28 images, .*quadrants\.h5 has 1x28x28"),
    ("eval/100-class-net-on-10-class-data", lambda i, t: ["eval", "--ckpt", i.net100, "--data", i.ten],
     r"net100\.pt: a 100-class net, .*ten\.h5 has 10 classes"),
    ("eval/regression-net-on-classification-data",
     lambda i, t: ["eval", "--ckpt", i.reg_net, "--data", i.cls_data],
     r"reg_net\.pt: a regression net, .*quadrants\.h5 is a classification dataset"),
    ("eval/trainer-checkpoint", lambda i, t: ["eval", "--ckpt", i.teacher_dir / "last.pt", "--data", i.cls_data],
     r"last\.pt: a trainer checkpoint .*; pass .*model\.pt"),
    ("eval/weights-of-another-arch", lambda i, t: ["eval", "--ckpt", i.mislabelled_net, "--data", i.cls_data],
     r"mislabelled\.pt: weights do not fit arch 'resnet20'"),
    ("eval/truncated-checkpoint",
     lambda i, t: ["eval", "--ckpt", _truncated(t / "model.pt", i.teacher, 1000), "--data", i.cls_data],
     r"model\.pt: not a PyTorch checkpoint"),
    ("eval/missing-checkpoint", lambda i, t: ["eval", "--ckpt", t / "none.pt", "--data", i.cls_data],
     r"model checkpoint not found: .*none\.pt"),
    # gan train
    ("gan-train/iters-0", lambda i, t: _gan_train(i, t / "gan", "--iters", 0),
     r"--iters 0: a GAN needs at least one iteration"),
    ("gan-train/batch-size-0", lambda i, t: _gan_train(i, t / "gan", "--batch-size", 0),
     r"batch_size=0 must be >= 1"),
    ("gan-train/out-under-a-file", lambda i, t: _gan_train(i, _file(t / "file") / "gan"),
     r"--out .*file/gan: .*file is a file, so no folder can be made under it"),
    ("gan-train/unknown-preset", lambda i, t: _gan_train(i, t / "gan", "--preset", "mnist-3d"),
     r"unknown preset 'mnist-3d'"),
    ("gan-train/class-id-gap", lambda i, t: _gan_train(i, t / "gan", data=i.gap),
     r"no image of class id 3, 10, 11"),
    ("gan-train/biggan-on-regression-data", lambda i, t: _gan_train(i, t / "gan", data=i.reg_data),
     r"a regression dataset; --gan biggan needs a classification dataset"),
    ("gan-train/resume-other-settings",
     lambda i, t: [*_gan_flags(i, _gan_run(i, t)), "--seed", 1, "--resume"],
     r"was made with other settings, .*seed: 0 there, 1 now"),
    ("gan-train/resume-truncated-last-pt",
     lambda i, t: [*_gan_flags(i, _gan_run(i, t, truncated=True)), "--resume"],
     r"last\.pt: cannot read it as a torch checkpoint"),
    # gan sample
    ("gan-sample/out-exists-without-force", lambda i, t: _sample(i, _file(t / "fakes.h5", "earlier fakes\n")),
     r"--out .*fakes\.h5: the file exists; pass --force to replace it"),
    ("gan-sample/out-under-a-file", lambda i, t: _sample(i, _file(t / "file") / "fakes.h5"),
     r"--out .*file/fakes\.h5: .*file is a file, so no folder can be made under it"),
    ("gan-sample/n-0", lambda i, t: _sample(i, t / "fakes.h5", "--n", 0),
     r"--n 0: expected at least 1 sample"),
    ("gan-sample/missing-checkpoint", lambda i, t: _sample(i, t / "fakes.h5", ckpt=t / "nogan"),
     r"nogan: no GAN checkpoint there"),
    ("gan-sample/classifier-as-gan", lambda i, t: _sample(i, t / "fakes.h5", ckpt=i.teacher),
     r"model\.pt: not a GAN checkpoint"),
    # fake make
    ("fake-make/1-channel-teacher-3-channel-gan", lambda i, t: _fake_make(i, t / "fakes.h5", data=i.rgb),
     r"model\.pt: the net takes 1x28x28 images, the GAN \(.*gan/last\.pt\) has 3x28x28"),
    ("fake-make/data-of-another-image-size", lambda i, t: _fake_make(i, t / "fakes.h5", data=i.gray32),
     r"gray32\.h5: images are 1x32x32, the GAN \(.*\) makes 3x28x28"),
    ("fake-make/data-of-another-class-count", lambda i, t: _fake_make(i, t / "fakes.h5", data=i.rgb10),
     r"rgb10\.h5: 10 classes, the GAN \(.*\) was trained for 4 classes"),
    ("fake-make/out-exists-without-force", lambda i, t: _fake_make(i, _file(t / "fakes.h5", "earlier fakes\n")),
     r"--out .*fakes\.h5: the file exists; pass --force to replace it"),
    ("fake-make/out-under-a-file", lambda i, t: _fake_make(i, _file(t / "file") / "fakes.h5"),
     r"--out .*file/fakes\.h5: .*file is a file, so no folder can be made under it"),
    ("fake-make/nfake-0", lambda i, t: _fake_make(i, t / "fakes.h5", "--nfake", 0),
     r"--nfake must be positive \(got 0\)"),
    ("fake-make/nfake-negative", lambda i, t: _fake_make(i, t / "fakes.h5", "--nfake", -1),
     r"--nfake must be positive \(got -1\)"),
    ("fake-make/rho-above-1", lambda i, t: _fake_make(i, t / "fakes.h5", "--rho", 1.5),
     r"--rho must be in \(0, 1\] \(got 1\.5\)"),
    ("fake-make/teacher-trainer-checkpoint",
     lambda i, t: _fake_make(i, t / "fakes.h5", teacher=i.teacher_dir / "last.pt"),
     r"last\.pt: a trainer checkpoint .*; pass .*model\.pt"),
    ("fake-make/unknown-preset", lambda i, t: _fake_make(i, t / "fakes.h5", "--preset", "mnist-3d"),
     r"unknown preset 'mnist-3d'"),
    # report
    ("report/out-under-a-file", lambda i, t: ["report", i.teacher_dir, "--out", _file(t / "file") / "report"],
     r"--out .*file/report: .*file is a file, so no folder can be made under it"),
    ("report/no-finished-runs", lambda i, t: ["report", i.gan, "--out", t / "report"],
     r"no finished student runs \(metrics\.json \+ config\.json\) under .*gan"),
    ("report/missing-runs-folder", lambda i, t: ["report", t / "runs", "--out", t / "report"],
     r"runs: no such folder"),
    # demo
    ("demo/out-under-a-file", lambda i, t: ["demo", "--quick", "--out", _file(t / "file") / "demo"],
     r"--out .*file/demo: .*file is a file, so no folder can be made under it"),
    ("demo/out-is-a-file", lambda i, t: ["demo", "--quick", "--out", _file(t / "demo")],
     r"--out .*demo: a file is there, expected a folder"),
    ("demo/unknown-setting", lambda i, t: ["demo", "--quick", "--set", "n_fake=10", "--out", t / "demo"],
     r"--set n_fake: unknown demo setting"),
    ("demo/nfake-sweep-above-nfake", lambda i, t: ["demo", "--set", "nfake_sweep=[100000]", "--out", t / "demo"],
     r"--set nfake_sweep=\[100000\]: every value must be at most nfake"),
    ("demo/unknown-task", lambda i, t: ["demo", "--quick", "--task", "mnist", "--out", t / "demo"],
     r"argument --task: invalid choice: 'mnist'"),
    ("demo/from-scratch-and-assets", lambda i, t: ["demo", "--from-scratch", "--assets", t, "--out", t / "demo"],
     r"--from-scratch and --assets: give one"),
    ("demo/no-assets-there", lambda i, t: ["demo", "--data", i.cls_data, "--quick", "--assets", t / "none",
                                                "--out", t / "d"],
     r"none/\w+: no shipped assets for this task; pass --from-scratch"),
]


# ---------------------------------------------------------------- running a case

def _command(argv: list) -> str:
    words = [str(a) for a in argv]
    return " ".join(words[:2]) if words[0] in ("data", "gan", "fake") else words[0]


def run_cli(argv: list, capsys) -> tuple[int, str, str]:
    """`cgankd ARGV` in this process: (exit code, stdout, stderr). argparse's refusals exit via SystemExit."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as done:
        code = done.code
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(roots: list[Path]) -> dict[str, tuple]:
    """Every file (size, mtime, content hash) and folder under `roots`."""
    seen: dict[str, tuple] = {}
    for root in roots:
        for path in sorted(Path(root).rglob("*")):
            if path.is_file():
                stat = path.stat()
                seen[str(path)] = (stat.st_size, stat.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
            elif path.is_dir():
                seen[str(path)] = ("folder",)
    return seen


def assert_one_error_line(code: int, out: str, err: str, expected: str) -> str:
    """Exit code 2, exactly one non-empty stderr line `error: ...` matching `expected`; returns that line."""
    assert "Traceback" not in out + err, out + err
    assert code == 2, (code, out, err)
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), err
    line = lines[0]
    assert line.startswith("error: ") and line[len("error: "):].strip(), line
    assert re.search(expected, line), f"{expected!r} not in {line!r}"
    return line


@pytest.fixture(scope="module")
def corpus() -> Iterator[list[tuple[str, str, str]]]:
    """(command, case, error line) of every case run; written as markdown when TABLE_ENV names a file."""
    rows: list[tuple[str, str, str]] = []
    yield rows
    target = os.environ.get(TABLE_ENV)
    if target:
        Path(target).write_text(markdown(rows))


def markdown(rows: list[tuple[str, str, str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")
    lines = [f"# cgankd bad-input corpus ({len(rows)} cases, tests/test_bad_input.py)", "",
             "| command | case | error line |", "|---|---|---|"]
    lines += [f"| `{command}` | {case} | `` {cell(line)} `` |" for command, case, line in rows]
    return "\n".join(lines) + "\n"


def test_the_corpus_is_large_and_covers_every_command():
    ids = [case_id for case_id, _, _ in CASES]
    assert len(ids) >= 45 and len(set(ids)) == len(ids)
    assert {case_id.split("/")[0] for case_id in ids} == {"data-check", "train", "gan-train", "gan-sample",
                                                          "fake-make", "eval", "report", "demo"}


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_bad_input_is_one_error_line_and_exit_2(case, inputs, corpus, tmp_path, capsys):
    case_id, build, expected = case
    command, name = case_id.split("/")
    argv = build(inputs, tmp_path)
    assert _command(argv).replace(" ", "-") == command
    watched = [tmp_path, *inputs.watched()]
    before = snapshot(watched)
    code, out, err = run_cli(argv, capsys)
    line = assert_one_error_line(code, out, err, expected)
    assert snapshot(watched) == before, "files changed or added"
    corpus.append((_command(argv), name, line))


# ---------------------------------------------------------------- an unwritable output folder

@contextlib.contextmanager
def unprivileged() -> Iterator[None]:
    """Run as an ordinary user: under root, as `nobody` (real and effective ids; the saved id stays 0
    so that the test can switch back), since root may write anywhere. A no-op for other users."""
    if os.geteuid() != 0:
        yield
        return
    groups = os.getgroups()
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, 0)
    os.setresuid(NOBODY, NOBODY, 0)
    try:
        yield
    finally:
        os.setresuid(0, 0, 0)
        os.setresgid(0, 0, 0)
        os.setgroups(groups)


@pytest.fixture
def locked(tiny_classification_h5) -> Iterator[tuple[Path, Path]]:
    """(a folder no one may write into, a copy of the classification data anyone may read), in a
    place an ordinary user can reach (pytest's own folders are private to their owner)."""
    base = Path(tempfile.mkdtemp(prefix="cgankd-bad-input-"))
    base.chmod(0o755)
    data = base / "data.h5"
    shutil.copyfile(tiny_classification_h5, data)
    data.chmod(0o644)
    folder = base / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        yield folder, data
    finally:
        folder.chmod(0o755)
        shutil.rmtree(base)


UNWRITABLE: list[tuple[str, Callable[[Inputs, Path, Path], list], str]] = [
    ("train", lambda i, data, out: _train(data, out / "run"), "cgankd.train.commands"),
    ("gan train", lambda i, data, out: _gan_train(i, out / "gan", data=data), "cgankd.gans.commands"),
    ("gan sample", lambda i, data, out: _sample(i, out / "fakes.h5"), "cgankd.gans.commands"),
    ("fake make", lambda i, data, out: _fake_make(i, out / "fakes.h5", data=data), "cgankd.fake.commands"),
    ("report", lambda i, data, out: ["report", i.teacher_dir, "--out", out / "report"], "cgankd.report.commands"),
    ("demo", lambda i, data, out: ["demo", "--quick", "--out", out / "demo"], "cgankd.demo"),
]


@pytest.mark.parametrize("command, build, module", UNWRITABLE, ids=[c[0].replace(" ", "-") for c in UNWRITABLE])
def test_an_unwritable_output_folder_is_refused_before_any_work(command, build, module, inputs, locked, corpus,
                                                                capsys):
    folder, data = locked
    argv = build(inputs, data, folder)
    __import__(module)                       # imported while every file is readable
    before = snapshot([folder.parent, *inputs.watched()])
    with unprivileged():
        if os.access(folder, os.W_OK):
            pytest.skip("this user may write into a read-only folder")
        code, out, err = run_cli(argv, capsys)
    line = assert_one_error_line(code, out, err, rf"--out {re.escape(str(folder))}/\S+: {re.escape(str(folder))} "
                                                 "is not writable")
    assert snapshot([folder.parent, *inputs.watched()]) == before
    corpus.append((command, "unwritable-out", line))


# ---------------------------------------------------------------- a real process

def _run_process(argv: list, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "cgankd", *map(str, argv)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("argv_of, expected", [
    (lambda i, t: ["data", "check", _truncated(t / "cut.h5", i.cls_data)], r"cut\.h5: cannot be read as HDF5"),
    (lambda i, t: _train(i.cls_data, t / "run", "--distill", "telepathy"), r"invalid choice: 'telepathy'"),
], ids=["user-error", "argparse-error"])
def test_a_real_process_prints_one_line_and_exits_2(argv_of, expected, inputs, tmp_path):
    """What a shell sees: no warning, usage text or traceback around the one line."""
    argv = argv_of(inputs, tmp_path)
    before = snapshot([tmp_path])
    done = _run_process(argv, tmp_path)
    assert_one_error_line(done.returncode, done.stdout, done.stderr, expected)
    assert done.stdout == ""
    assert snapshot([tmp_path]) == before


# ---------------------------------------------------------------- not an error: a damaged run in a report

def test_report_warns_about_a_corrupt_metrics_file_and_reports_the_rest(inputs, tmp_path, capsys):
    runs = tmp_path / "runs"
    shutil.copytree(inputs.teacher_dir, runs / "good")
    shutil.copytree(inputs.teacher_dir, runs / "damaged")
    (runs / "damaged" / "metrics.json").write_text('{"test_acc": 9')
    code, out, err = run_cli(["report", runs, "--out", tmp_path / "report"], capsys)
    assert code == 0, err
    warnings = err.splitlines()
    assert len(warnings) == 1 and "Traceback" not in err, err
    assert warnings[0].startswith("warning: ") and str(runs / "damaged") in warnings[0], warnings[0]
    assert "metrics.json cannot be read" in warnings[0]
    results = (tmp_path / "report" / "results.md").read_text().splitlines()
    good = json.loads((runs / "good" / "metrics.json").read_text())
    assert len(results) == 3 and f"{good['test_acc']:.2f}" in results[2], results     # header, rule, one row
