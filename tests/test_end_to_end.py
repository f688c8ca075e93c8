"""A miniature cGAN-KD run through the command line: teacher -> GAN -> fake sets (each processing
step on and off) -> students on real + fake -> report; plus the demo's plan options."""

from __future__ import annotations

import argparse
import csv
import json

import numpy as np
import pytest
import torch

from cgankd import demo
from cgankd.cli import main
from cgankd.common.errors import UserError
from cgankd.data import load_dataset, read_fake_h5

from conftest import SMALL_CDR_RS, cli

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def pipeline(tiny_classification_h5, cls_teacher, tiny_biggan, tmp_path_factory):
    """The fake sets of the paper's ablation arms, made through the CLI from the session's teacher and GAN."""
    root = tmp_path_factory.mktemp("e2e")
    (root / "teacher").symlink_to(cls_teacher.parent)
    arms = {"raw": ["--subsample", "none", "--rho", "1.0", "--no-adjust-labels"],
            "subsampled": ["--subsample", "cdr-rs", "--rho", "1.0", "--no-adjust-labels"],
            "filtered": ["--subsample", "none", "--rho", "0.7", "--no-adjust-labels"],
            "full": ["--subsample", "cdr-rs", "--rho", "0.7", "--adjust-labels"]}
    for name, flags in arms.items():
        assert cli("fake", "make", "--gan", tiny_biggan, "--teacher", cls_teacher, "--data",
                   tiny_classification_h5, "--nfake", 40, "--device", "cpu", "--out", root / f"{name}.h5", *flags,
                   "--set", "filter_burn_in=20", "--set", "fit_size=128", "--set", f"cdr_rs={SMALL_CDR_RS}") == 0
    return root


def test_fake_make_switches_each_step(pipeline):
    stats = {name: read_fake_h5(pipeline / f"{name}.h5")[1] for name in ("raw", "subsampled", "filtered", "full")}
    for name, attrs in stats.items():
        split, _ = read_fake_h5(pipeline / f"{name}.h5")
        assert len(split.labels) == 40, name
        if not bool(attrs["adjust_labels"]):      # adjusted labels are the teacher's, not the GAN's even split
            assert np.bincount(split.labels, minlength=4).tolist() == [10] * 4, name
    assert stats["raw"]["filter_keep_rate"] == 1.0 and "cdr_rs_acceptance_rate" not in stats["raw"]
    assert 0.0 < stats["subsampled"]["cdr_rs_acceptance_rate"] <= 1.0
    assert stats["filtered"]["filter_keep_rate"] < 1.0
    assert not bool(stats["raw"]["adjust_labels"]) and bool(stats["full"]["adjust_labels"])
    assert stats["full"]["teacher"].endswith("model.pt") and "git_commit" in stats["full"]


def test_students_on_real_plus_fake_and_report(pipeline, tiny_classification_h5, capsys):
    root = pipeline
    assert cli("train", "--data", tiny_classification_h5, "--arch", "resnet8", "--epochs", 1, "--device", "cpu",
               "--out", root / "nokd", "--quiet") == 0
    assert cli("train", "--data", tiny_classification_h5, "--arch", "resnet8", "--epochs", 1, "--device", "cpu",
               "--fake", root / "full.h5", "--init", root / "nokd" / "model.pt", "--out", root / "ckd",
               "--quiet") == 0
    config = json.loads((root / "ckd" / "config.json").read_text())
    assert config["fake"].endswith("full.h5") and config["recipe"] == "fake" and config["lr"] == 0.01
    metrics = json.loads((root / "ckd" / "metrics.json").read_text())
    assert metrics["n_fake"] == 40 and metrics["n_real"] == len(load_dataset(tiny_classification_h5).train.labels)
    assert cli("train", "--data", tiny_classification_h5, "--arch", "resnet8", "--epochs", 1, "--device", "cpu",
               "--same-steps-as", root / "full.h5", "--init", root / "nokd" / "model.pt", "--out", root / "ctrl",
               "--quiet") == 0
    assert cli("report", root / "nokd", root / "ckd", root / "ctrl", "--out", root / "report") == 0
    rows = list(csv.DictReader(open(root / "report" / "results.csv")))
    assert sorted(row["arm"] for row in rows) == [
        "NOKD", "cGAN-KD (cDR-RS, filter rho 0.7, relabelled, 40 fakes)",
        "control (real only, same steps as cDR-RS, filter rho 0.7, relabelled, 40 fakes)"]
    assert "|" in (root / "report" / "results.md").read_text()


def test_report_keeps_arms_that_differ_in_any_one_setting_apart(pipeline, tiny_classification_h5):
    """The ablation arms, an NFAKE variant and a KD method on the same fakes: one row each."""
    root = pipeline
    base = ["train", "--data", tiny_classification_h5, "--arch", "resnet8", "--epochs", 1, "--device", "cpu",
            "--quiet"]
    assert cli(*base, "--out", root / "arms" / "nokd") == 0
    init = ["--init", root / "arms" / "nokd" / "model.pt"]
    for name in ("raw", "subsampled", "filtered", "full"):
        assert cli(*base, *init, "--fake", root / f"{name}.h5", "--out", root / "arms" / name) == 0
    assert cli(*base, *init, "--fake", root / "full.h5", "--nfake", 20, "--out", root / "arms" / "nfake20") == 0
    assert cli(*base, *init, "--fake", root / "full.h5", "--teacher", root / "teacher" / "model.pt",
               "--distill", "kd", "--out", root / "arms" / "blkd") == 0
    assert cli("report", root / "arms", "--out", root / "arms_report") == 0
    arms = sorted(row["arm"] for row in csv.DictReader(open(root / "arms_report" / "results.csv")))
    assert arms == sorted([
        "NOKD",
        "cGAN-KD (no subsampling, no filter, GAN labels, 40 fakes)",
        "cGAN-KD (cDR-RS, no filter, GAN labels, 40 fakes)",
        "cGAN-KD (no subsampling, filter rho 0.7, GAN labels, 40 fakes)",
        "cGAN-KD (cDR-RS, filter rho 0.7, relabelled, 40 fakes)",
        "cGAN-KD (cDR-RS, filter rho 0.7, relabelled, 20 fakes)",
        "cGAN-KD + BLKD (cDR-RS, filter rho 0.7, relabelled, 40 fakes)"])


def test_demo_settings_change_the_plan():
    plan = demo.apply_settings(demo.DEFAULT[0], ["n_real=1000", "seeds=[0]", "gan_overrides.iters=10"])
    assert plan.n_real == 1000 and plan.seeds == (0,)
    assert plan.gan_overrides == {**demo.DEFAULT[0].gan_overrides, "iters": 10}
    assert plan.nfake == demo.DEFAULT[0].nfake
    with pytest.raises(UserError, match="unknown demo setting"):
        demo.apply_settings(plan, ["n_rea1=5"])
    with pytest.raises(UserError, match="at most nfake"):
        demo.apply_settings(plan, ["nfake=1000", "nfake_sweep=[500,2000]"])


def test_validation_subset_never_touches_the_test_split(tiny_classification_h5, tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "prepare_dataset", lambda name, folder: (tiny_classification_h5, False))
    monkeypatch.setattr(demo, "VALIDATION_SIZE", 100)
    plan = demo.apply_settings(demo.DEFAULT[0], ["n_real=200", "nfake=150", "nfake_sweep=[]"])
    full = load_dataset(tiny_classification_h5)
    val_path, val_extra = demo.subset_files(plan, tmp_path, validate=True)
    test_path, _ = demo.subset_files(plan, tmp_path, validate=False)
    val, test = load_dataset(val_path), load_dataset(test_path)
    assert len(val.train.labels) == len(test.train.labels) == 200
    np.testing.assert_array_equal(val.train.images, test.train.images)       # the same real subset
    np.testing.assert_array_equal(test.test.images, full.test.images)        # the whole test split
    assert len(val.test.labels) == 100
    train_rows = {img.tobytes() for img in full.train.images}
    subset_rows = {img.tobytes() for img in val.train.images}
    val_rows = [img.tobytes() for img in val.test.images]
    assert all(r in train_rows for r in val_rows)                            # held-out training images...
    assert not subset_rows & set(val_rows)                                   # ...outside the subset
    extra_rows = {img.tobytes() for img in read_fake_h5(val_extra)[0].images}
    assert extra_rows <= train_rows and not extra_rows & (subset_rows | set(val_rows))   # + extra real: a third part


def test_demo_cli_rejects_unknown_settings(capsys):
    assert main(["demo", "--quick", "--set", "bogus=1", "--out", "/nonexistent/x"]) == 2
    assert "unknown demo setting" in capsys.readouterr().err


def test_demo_parser_accepts_task_and_validate():
    from cgankd.cli import build_parser
    args = build_parser().parse_args(["demo", "--task", "fashion-mnist", "--validate", "--set", "n_real=10"])
    assert isinstance(args, argparse.Namespace) and args.task == ["fashion-mnist"] and args.validate
