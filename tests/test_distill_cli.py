"""Every KD method through `cgankd train`: two epochs on a tiny subset, run folder complete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cgankd.cli import main

METHOD_TERM = {"kd": "kd", "hint": "hint", "attention": "at", "similarity": "sp", "correlation": "cc",
               "vid": "vid", "rkd": "rkd", "pkt": "pkt", "abound": None, "factor": "ft", "fsp": None,
               "nst": "nst", "crd": "crd", "sskd": "ss", "takd": "kd", "reviewkd": "review"}
STAGE_SETTINGS = {"hint": ["init_epochs=1"], "abound": ["init_epochs=1"], "factor": ["init_epochs=1"],
                  "fsp": ["init_epochs=1"], "sskd": ["t_epochs=1"]}
COMMON = ["--epochs", "2", "--batch-size", "32", "--subset", "64", "--device", "cpu", "--quiet"]


def run_cli(*args) -> int:
    return main([str(a) for a in args])


def distill(data: str, teacher: Path, method: str, out: Path) -> tuple[dict, list[dict]]:
    args = ["train", "--data", data, "--arch", "resnet8", "--out", out, "--teacher", teacher,
            "--distill", method, *COMMON]
    for setting in STAGE_SETTINGS.get(method, []):
        args += ["--distill-set", setting]
    if method == "takd":
        args += ["--ta-arch", "resnet8"]
    assert run_cli(*args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return metrics, log


@pytest.mark.parametrize("method", sorted(METHOD_TERM))
def test_each_method_trains_two_epochs_through_the_cli(method, tiny_classification_h5, cls_teacher, tmp_path):
    metrics, log = distill(tiny_classification_h5, cls_teacher, method, tmp_path / "run")
    assert metrics["distill"] == method and metrics["epochs"] == 2
    assert 0.0 <= metrics["test_acc"] <= 100.0
    epochs = [r for r in log if "stage" not in r]
    assert [r["epoch"] for r in epochs] == [1, 2]
    term = METHOD_TERM[method]
    for record in epochs:
        assert "loss_ce" in record and all(v == v for v in record.values() if isinstance(v, float))
        if term:
            assert f"loss_{term}" in record, sorted(record)
    stage = [r for r in log if r.get("stage") == "prepare"]
    assert len(stage) == (1 if method in STAGE_SETTINGS else 0)
    if method == "takd":
        assert (tmp_path / "run" / "ta" / "model.pt").exists()
    for name in ("config.json", "last.pt", "model.pt"):
        assert (tmp_path / "run" / name).exists()


@pytest.mark.parametrize("method", ["kd", "crd"])
def test_regression_students_distil_through_the_cli(method, tiny_regression_h5, reg_teacher, tmp_path):
    metrics, log = distill(tiny_regression_h5, reg_teacher, method, tmp_path / "run")
    assert metrics["test_mae"] >= 0.0 and metrics["distill"] == method
    assert f"loss_{METHOD_TERM[method]}" in log[-1] and "loss_mse" in log[-1]


def test_classification_only_method_is_refused_on_regression(tiny_regression_h5, reg_teacher, tmp_path, capsys):
    code = run_cli("train", "--data", tiny_regression_h5, "--arch", "resnet8", "--out", tmp_path / "run",
                   "--teacher", reg_teacher, "--distill", "sskd", *COMMON)
    assert code == 2
    assert "sskd is defined for classification only" in capsys.readouterr().err


def test_takd_reuses_a_trained_assistant_when_finetuning(tiny_classification_h5, cls_teacher, tmp_path):
    first, _ = distill(tiny_classification_h5, cls_teacher, "takd", tmp_path / "scratch")
    ta = tmp_path / "scratch" / "ta" / "model.pt"
    out = tmp_path / "finetune"
    assert run_cli("train", "--data", tiny_classification_h5, "--arch", "resnet8", "--out", out,
                   "--teacher", cls_teacher, "--distill", "takd", "--ta", ta,
                   "--init", tmp_path / "scratch" / "model.pt", *COMMON) == 0
    assert not (out / "ta").exists()                        # no second assistant was trained
    config = json.loads((out / "config.json").read_text())
    assert config["teacher"] == str(ta) and config["recipe"] == "fake"
