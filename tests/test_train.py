"""The student trainer: it learns, resumes exactly, writes its run folder, and refuses bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from cgankd.cli import main
from cgankd.data import LabelNorm, write_fake_h5
from cgankd.train.config import TrainConfig
from cgankd.train.loop import fit
from cgankd.common.optim import lr_at


def run_cli(*args: str) -> int:
    return main([str(a) for a in args])


def tiny_cfg(data: str, out: Path, **kw) -> TrainConfig:
    base = dict(data=data, arch="resnet8", out=str(out), epochs=2, batch_size=64, lr=0.05,
                schedule="cosine", device="cpu", quiet=True)
    base.update(kw)
    return TrainConfig(**base)


def test_step_schedule_matches_reference_milestones():
    kw = dict(base_lr=0.05, epochs=240, schedule="step", milestones=[150, 180, 210])
    assert lr_at(149.9, **kw) == pytest.approx(0.05)
    assert lr_at(150.0, **kw) == pytest.approx(0.005)
    assert lr_at(185.0, **kw) == pytest.approx(0.0005)
    assert lr_at(239.0, **kw) == pytest.approx(0.00005)


def test_cosine_schedule_endpoints():
    kw = dict(base_lr=0.1, epochs=10, schedule="cosine")
    assert lr_at(0, **kw) == pytest.approx(0.1)
    assert lr_at(5, **kw) == pytest.approx(0.05)
    assert lr_at(10, **kw) == pytest.approx(0.0, abs=1e-12)


def test_warmup_ramps_linearly_then_follows_the_schedule():
    step = dict(base_lr=0.1, epochs=10, schedule="step", milestones=[5], warmup=2.0)
    assert [lr_at(e, **step) for e in (0.0, 0.5, 1.0, 2.0, 4.9, 5.0)] == pytest.approx([0, 0.025, 0.05, 0.1, 0.1, 0.01])
    cosine = dict(base_lr=0.1, epochs=10, schedule="cosine", warmup=2.0)
    assert lr_at(1.0, **cosine) == pytest.approx(0.5 * 0.5 * 0.1 * (1 + math.cos(math.pi * 0.1)))
    assert lr_at(5.0, **cosine) == pytest.approx(0.05)


def test_classification_run_learns_and_writes_run_folder(tiny_classification_h5, tmp_path):
    metrics = fit(tiny_cfg(tiny_classification_h5, tmp_path / "run", epochs=3))
    assert metrics["test_acc"] > 90.0          # 4 balanced classes: chance is 25 %
    for name in ("config.json", "log.jsonl", "last.pt", "metrics.json", "model.pt"):
        assert (tmp_path / "run" / name).exists(), name
    log = [json.loads(l) for l in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3]
    assert log[-1]["test_acc"] == metrics["test_acc"]
    assert metrics["best_test_acc"] >= metrics["test_acc"]
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["arch"] == "resnet8" and "git_commit" in config and config["n_real"] == 512


def test_regression_run_learns_in_raw_units(tiny_regression_h5, tmp_path):
    metrics = fit(tiny_cfg(tiny_regression_h5, tmp_path / "run", epochs=6, lr=0.01, batch_size=32))
    # Predicting the mean label gives an MAE of 40 degrees on uniform [-80, 80].
    assert metrics["test_mae"] < 22.0


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tiny_classification_h5, tmp_path):
    full = tiny_cfg(tiny_classification_h5, tmp_path / "full", seed=3)
    fit(full)
    part = tiny_cfg(tiny_classification_h5, tmp_path / "part", seed=3)
    assert fit(part, stop_after_epoch=1) == {"stopped_at_epoch": 1}
    assert not (tmp_path / "part" / "metrics.json").exists()
    fit(tiny_cfg(tiny_classification_h5, tmp_path / "part", seed=3, resume=True))
    a = torch.load(tmp_path / "full" / "model.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "part" / "model.pt", weights_only=False)["model"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    log = (tmp_path / "part" / "log.jsonl").read_text().splitlines()
    assert [json.loads(l)["epoch"] for l in log] == [1, 2]


def test_val_split_and_subset(tiny_classification_h5, tmp_path):
    metrics = fit(tiny_cfg(tiny_classification_h5, tmp_path / "run", epochs=1, subset=200, val_frac=0.25))
    assert metrics["n_real"] == 150 and "val_acc" in metrics and "best_val_acc" in metrics


def test_fake_data_joins_the_training_set(tiny_classification_h5, tmp_path):
    from cgankd.data import load_dataset
    real = load_dataset(tiny_classification_h5).train
    fake = tmp_path / "fake.h5"
    write_fake_h5(fake, real.images[:100], real.labels[:100], {"source": "test"})
    first = fit(tiny_cfg(tiny_classification_h5, tmp_path / "nokd", epochs=1))
    assert first["n_fake"] == 0
    metrics = fit(tiny_cfg(tiny_classification_h5, tmp_path / "kd", epochs=1, fake=str(fake), nfake=40,
                           init=str(tmp_path / "nokd" / "model.pt")))
    assert metrics["n_fake"] == 40   # 40 // 4 classes = 10 per class
    assert metrics["n_real"] == 512
    alone = fit(tiny_cfg(tiny_classification_h5, tmp_path / "fakes_only", epochs=1, fake=str(fake), nfake=40,
                         fake_only=True, batch_size=8))
    assert (alone["n_real"], alone["n_fake"]) == (0, 40)
    from cgankd.train.dataset import build_training_data
    data = build_training_data(tiny_cfg(tiny_classification_h5, tmp_path / "x", fake=str(fake), fake_only=True))
    assert np.array_equal(data.train.images, real.images[:100])
    assert np.array_equal(data.train.labels, real.labels[:100])


def test_real_only_control_takes_as_many_steps_as_the_fake_run(tiny_classification_h5, tmp_path):
    from cgankd.data import load_dataset
    real = load_dataset(tiny_classification_h5).train
    fake = tmp_path / "fake.h5"
    write_fake_h5(fake, real.images, real.labels, {"source": "test"})
    base = dict(epochs=2, batch_size=32, schedule="step", milestones=[1])
    with_fakes = fit(tiny_cfg(tiny_classification_h5, tmp_path / "fake", fake=str(fake), nfake=256, **base))
    control_cfg = tiny_cfg(tiny_classification_h5, tmp_path / "ctrl", same_steps_as=str(fake), nfake=256, **base)
    control = fit(control_cfg)
    assert (control_cfg.epochs, control_cfg.milestones) == (2, [1])   # the caller's config is left alone
    assert (with_fakes["n_real"], with_fakes["n_fake"], control["n_fake"]) == (512, 256, 0)
    assert control["epochs"] == 3       # 2 epochs over 512 + 256 images = 3 epochs over the 512 real ones
    config = json.loads((tmp_path / "ctrl" / "config.json").read_text())
    assert (config["epochs"], config["milestones"]) == (2, [1])               # as asked for ...
    assert config["schedule_used"] == {"epochs": 3, "milestones": [2]}        # ... and as run: still half-way
    logged = [json.loads(line) for line in (tmp_path / "ctrl" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in logged] == [1, 2, 3]


def test_cli_train_then_eval_reports_the_same_metric(tiny_classification_h5, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_cli("train", "--data", tiny_classification_h5, "--arch", "resnet8", "--out", out,
                   "--epochs", "1", "--device", "cpu", "--quiet") == 0
    acc = json.loads((out / "metrics.json").read_text())["test_acc"]
    capsys.readouterr()
    assert run_cli("eval", "--ckpt", out / "model.pt", "--data", tiny_classification_h5, "--device", "cpu") == 0
    printed = capsys.readouterr().out.strip()
    assert printed.startswith("test_acc=") and math.isclose(float(printed.split("=")[1]), acc, abs_tol=1e-3)


@pytest.mark.parametrize("extra, message", [
    (["--arch", "resnet9000"], "resnet9000"),
    (["--arch", "resnet8", "--nfake", "10"], "--nfake needs --fake"),
    (["--arch", "resnet8", "--fake", "/x.h5", "--same-steps-as", "/x.h5"], "cannot go with --fake"),
    (["--arch", "resnet8", "--fake-only"], "--fake-only needs --fake"),
    (["--arch", "resnet8", "--same-steps-as", "/nonexistent/fake.h5"], "/nonexistent/fake.h5"),
    (["--arch", "resnet8", "--val-frac", "1.5"], "--val-frac"),
    (["--arch", "resnet8", "--warmup", "1"], "--warmup must be in [0, --epochs)"),
    (["--arch", "resnet8", "--fake", "/nonexistent/fake.h5"], "/nonexistent/fake.h5"),
    (["--arch", "resnet8", "--distill", "takd"], "--ta-arch"),
    (["--arch", "resnet8", "--distill", "takd", "--ta-arch", "resnet8", "--init", "/x.pt"], "--ta CKPT"),
])
def test_cli_train_bad_input_exits_2(tiny_classification_h5, tmp_path, capsys, extra, message):
    code = run_cli("train", "--data", tiny_classification_h5, "--out", tmp_path / "run", "--epochs", "1",
                   "--device", "cpu", "--quiet", *extra)
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "run" / "config.json").exists()


def test_cli_refuses_to_overwrite_a_run_and_init_arch_mismatch(tiny_classification_h5, tmp_path, capsys):
    out = tmp_path / "run"
    common = ["--data", tiny_classification_h5, "--epochs", "1", "--device", "cpu", "--quiet"]
    assert run_cli("train", *common, "--arch", "resnet8", "--out", out) == 0
    assert run_cli("train", *common, "--arch", "resnet8", "--out", out) == 2
    assert "--resume" in capsys.readouterr().err
    assert run_cli("train", *common, "--arch", "resnet14", "--out", tmp_path / "b", "--init", out / "model.pt") == 2
    assert "is a resnet8" in capsys.readouterr().err
    assert run_cli("train", "--data", tmp_path / "missing.h5", "--arch", "resnet8", "--out", tmp_path / "c") == 2


def test_nfake_takes_equal_counts_per_class_and_the_control_counts_the_same(tmp_path):
    from cgankd.common.errors import UserError
    from cgankd.data import Split
    from cgankd.tasks import Task
    from cgankd.train.dataset import count_fakes, load_fakes
    task = Task("classification", num_classes=4)
    real = Split(np.zeros((8, 1, 28, 28), np.uint8), np.arange(8) % 4)
    path = tmp_path / "fake.h5"
    write_fake_h5(path, np.zeros((200, 1, 28, 28), np.uint8), np.repeat(np.arange(4), 50), {"task": "classification"})
    picked = load_fakes(str(path), real, task, 40, seed=0)
    assert np.bincount(picked.labels, minlength=4).tolist() == [10, 10, 10, 10]
    np.testing.assert_array_equal(count_fakes(str(path), real, task, 40, seed=0), picked.labels)
    assert len(count_fakes(str(path), real, task, None, seed=0)) == 200
    small = Split(np.zeros((8, 1, 32, 32), np.uint8), real.labels)
    with pytest.raises(UserError, match="fake_images are"):
        count_fakes(str(path), small, task, None, seed=0)
    three_classes = Task("classification", num_classes=3)
    for read in (load_fakes, count_fakes):
        with pytest.raises(UserError, match="'fake_labels' has class id 3, expected class ids 0..2"):
            read(str(path), real, three_classes, None, seed=0)


def test_config_records_the_preset_augmentation(tiny_classification_h5, tmp_path):
    from cgankd.data.pipeline import Augment
    from cgankd.presets import get_preset
    fit(tiny_cfg(tiny_classification_h5, tmp_path / "run", epochs=1, preset="fashion-mnist"))
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["augment"] == Augment.from_spec(get_preset("fashion-mnist")["data"]["augment"]).to_spec()
    assert config["augment"]["crop_pad"] > 0


def test_weighted_task_loss_matches_hand_computed_values():
    from cgankd.tasks import Task
    from cgankd.data import LabelNorm
    reg = Task("regression", label_norm=LabelNorm(0.0, 1.0))
    out, y, w = torch.tensor([[0.5], [0.0], [1.0]]), torch.tensor([0.0, 0.0, 0.5]), torch.tensor([1.0, 3.0, 0.5])
    # per-sample squared errors 0.25, 0, 0.25 -> (0.25 + 0 + 0.125) / 3
    assert math.isclose(reg.loss(out, y, w).item(), 0.125, rel_tol=1e-6)
    assert math.isclose(reg.loss(out, y).item(), 0.5 / 3, rel_tol=1e-6)
    cls = Task("classification", num_classes=2)
    logits, labels = torch.tensor([[0.0, 0.0], [2.0, 0.0]]), torch.tensor([0, 1])
    ce = [math.log(2), math.log(1 + math.exp(2))]
    assert math.isclose(cls.loss(logits, labels, torch.tensor([2.0, 0.0])).item(), 2 * ce[0] / 2, rel_tol=1e-6)


def test_fake_weight_scales_only_the_rows_after_the_real_ones():
    from cgankd.distill import build_distiller
    from cgankd.models import build_model
    from cgankd.tasks import Task
    task = Task("classification", num_classes=3)
    student = build_model("resnet8", num_classes=3, in_channels=1, img_size=28)
    distiller = build_distiller(None, student, None, task, {"n_real": 4, "fake_weight": 0.25})
    index = torch.tensor([0, 5, 3, 4])
    assert distiller.sample_weight(index).tolist() == [1.0, 0.25, 1.0, 0.25]
    x, y = torch.randn(4, 1, 28, 28), torch.tensor([0, 1, 2, 0])
    only_fakes = build_distiller(None, student, None, task, {"n_real": 4, "fake_weight": 0.0})
    _, losses = only_fakes.forward_train(x, y, torch.tensor([4, 5, 6, 7]))
    assert losses["ce"].item() == 0.0
    assert build_distiller(None, student, None, task, {"n_real": 4}).sample_weight(index) is None


def test_fake_weight_needs_a_mixed_real_and_fake_set(tiny_classification_h5, tmp_path):
    from cgankd.common.errors import UserError
    with pytest.raises(UserError, match="--fake-weight"):
        tiny_cfg(tiny_classification_h5, tmp_path / "a", fake_weight=0.5).check()
    with pytest.raises(UserError, match="--fake-weight"):
        tiny_cfg(tiny_classification_h5, tmp_path / "b", fake="f.h5", fake_only=True, fake_weight=0.5).check()
    with pytest.raises(UserError, match="at least 0"):
        tiny_cfg(tiny_classification_h5, tmp_path / "c", fake="f.h5", fake_weight=-1.0).check()


def test_fake_weight_zero_learns_nothing_from_the_fakes(tiny_classification_h5, tmp_path):
    """With fake weight 0 the fakes' labels cannot matter: scrambling them leaves the weights alone."""
    from cgankd.data import load_dataset
    real = load_dataset(tiny_classification_h5).train
    runs = []
    for name, labels in (("true", real.labels[:64]), ("scrambled", (real.labels[:64] + 1) % 4)):
        fake = tmp_path / f"{name}.h5"
        write_fake_h5(fake, real.images[:64], labels, {"source": "test"})
        fit(tiny_cfg(tiny_classification_h5, tmp_path / name, epochs=1, fake=str(fake), fake_weight=0.0))
        runs.append(torch.load(tmp_path / name / "model.pt", weights_only=False))
    a, b = (r["model"] for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_nfake_is_the_number_of_fakes_the_student_sees(tmp_path):
    """Relabelled fakes leave the classes unequal: NFAKE is still met exactly, spread as evenly as the
    file allows, and an NFAKE the file cannot supply is refused rather than capped."""
    from cgankd.common.errors import UserError
    from cgankd.tasks import Task
    from cgankd.train.dataset import fakes_per_class, pick_fake_indices
    task = Task("classification", num_classes=4)
    labels = np.repeat(np.arange(4), [100, 60, 20, 120])            # 300 fakes after relabelling
    for nfake in (4, 13, 150, 299, 300):
        picked = pick_fake_indices(labels, nfake, task, seed=1)
        assert len(picked) == nfake and len(np.unique(picked)) == nfake
    counts = fakes_per_class(labels[pick_fake_indices(labels, 200, task, seed=1)], task)
    assert counts[2] == 20 and sum(counts) == 200 and max(counts) - min(c for c in counts if c != 20) <= 1
    for bad, message in ((301, "holds only 300 fakes"), (0, "at least 1"), (-5, "at least 1"),
                         (3, "fewer than one fake per class")):
        with pytest.raises(UserError, match=message):
            pick_fake_indices(labels, bad, task, seed=1)
    regression = Task("regression", label_norm=LabelNorm(0.0, 1.0))
    assert len(pick_fake_indices(np.linspace(0, 1, 50), 17, regression, seed=0)) == 17


# ---------------------------------------------------------------- how fakes enter the batch

def test_fixed_fake_share_puts_that_many_fakes_in_every_batch():
    from cgankd.data import DeviceLoader, PixelNorm
    images = np.zeros((100, 1, 4, 4), np.uint8)
    loader = DeviceLoader(images, np.arange(100), 16, pixel_norm=PixelNorm((0.5,), (0.5,)), seed=3,
                          fake_from=70, fake_share=0.25)
    assert len(loader) == 100 // 16                              # as many batches as one shuffled set
    batches = [index for _, _, index in loader]
    assert all(len(b) == 16 and int((b >= 70).sum()) == 4 for b in batches)
    seen_real = torch.cat([b[b < 70] for b in batches])
    assert len(torch.unique(seen_real)) == len(seen_real) == 72 or len(torch.unique(seen_real)) == 70
    again = [index for _, _, index in loader]
    assert all(torch.equal(a, b) for a, b in zip(batches, again))          # same (seed, epoch), same batches
    loader.set_epoch(1)
    assert not torch.equal(torch.cat([i for _, _, i in loader]), torch.cat(batches))


def test_aux_bn_routes_fake_rows_through_their_own_layer_and_is_removed_after():
    from cgankd.models.batchnorm import attach_aux_bn, detach_aux_bn, set_fake_rows
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.BatchNorm2d(3))
    plain_keys = set(net.state_dict())
    duals = attach_aux_bn(net)
    assert len(duals) == 1
    x = torch.randn(8, 1, 6, 6)
    mask = torch.tensor([False, True] * 4)
    set_fake_rows(duals, mask)
    out = net(x)
    conv = net[0](x)
    real_bn, fake_bn = torch.nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3)
    torch.testing.assert_close(out[~mask], real_bn(conv[~mask]).detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[mask], fake_bn(conv[mask]).detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(duals[0].real.running_mean, real_bn.running_mean)
    torch.testing.assert_close(duals[0].fake.running_mean, fake_bn.running_mean)
    assert duals[0].running_mean is duals[0].real.running_mean          # KD methods read the real layer
    detach_aux_bn(net)
    assert set(net.state_dict()) == plain_keys and type(net[1]) is torch.nn.BatchNorm2d


def test_bn_recalibration_is_the_plain_average_over_the_given_batches():
    from cgankd.models.batchnorm import recalibrate_bn
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1, bias=False), torch.nn.BatchNorm2d(2))
    net[1].running_mean.fill_(5.0)
    batches = [torch.randn(4, 1, 3, 3) + 2.0, torch.randn(6, 1, 3, 3) - 1.0]
    assert recalibrate_bn(net.eval(), batches) == 10 and not net.training and net[1].momentum == 0.1
    means = [net[0](b).mean(dim=(0, 2, 3)) for b in batches]
    torch.testing.assert_close(net[1].running_mean, (means[0] + means[1]) / 2)   # averaged per batch


def test_fake_share_aux_bn_and_recalibration_through_the_trainer(tiny_classification_h5, tmp_path):
    from cgankd.data import load_dataset
    from cgankd.models import load_model
    real = load_dataset(tiny_classification_h5).train
    fake = tmp_path / "fake.h5"
    write_fake_h5(fake, real.images[:128], real.labels[:128], {"source": "test"})
    metrics = fit(tiny_cfg(tiny_classification_h5, tmp_path / "run", epochs=1, fake=str(fake), fake_share=0.25,
                           aux_bn=True, bn_recalibrate=True))
    assert metrics["n_fake"] == 128
    model, _ = load_model(tmp_path / "run" / "model.pt")                     # the plain architecture
    assert not any(".fake." in k for k in model.state_dict())
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["stage"] == "bn_recalibrate" and log[-1]["bn_recalibrated_on"] == 512
    arm = json.loads((tmp_path / "run" / "config.json").read_text())["arm"]
    assert arm["mixing"] == {"fake_only": False, "fake_weight": 1.0, "fake_share": 0.25, "aux_bn": True,
                             "bn_recalibrate": True}
    from cgankd.common.errors import UserError
    with pytest.raises(UserError, match="--fake-share"):
        fit(tiny_cfg(tiny_classification_h5, tmp_path / "bad", epochs=1, fake_share=0.25))
