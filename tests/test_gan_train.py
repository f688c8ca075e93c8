"""`cgankd gan train | sample | eval` end to end on tiny data: run folders, resume equivalence,
fake h5 contents, eval numbers and error exits."""

import json

import h5py
import numpy as np
import pytest
import torch

from cgankd.cli import main
from cgankd.data import LabelNorm, PixelNorm, Split, load_dataset, read_fake_h5, write_dataset_h5
from cgankd.gans.metrics import EvalNet, Generator, evaluate_generator
from cgankd.models import build_model, save_model_checkpoint
from cgankd.tasks import Task

from conftest import cli, gan_train_args

torch.set_num_threads(2)

K = 3
TINY = ["g_ch=2", "d_ch=2", "dim_z=8", "d_steps=2", "ckpt_every=2", "log_every=1", "standing_stats=2",
        "grid_rows=3", "grid_cols=2"]
TINY_BIGGAN = TINY + ["ema_start=1", "ema_decay=0.9", "diffaug=color,translation,cutout"]
TINY_CCGAN = TINY + ["dim_embed=8", "g_attn=0", "d_attn=0", "embed_arch=resnet8", "embed_epochs=1",
                     "embed_batch_size=16", "y2h_epochs=2", "y2h_batch_size=16", "kappa=-2", "ema=true",
                     "label_values=4"]


def _images(rng, labels, n_levels):
    """28x28 grey images whose brightness encodes the label (learnable by tiny nets)."""
    base = (np.asarray(labels, np.float64) / max(n_levels, 1) * 200 + 20)[:, None, None, None]
    return np.clip(base + rng.normal(0, 10, (len(labels), 1, 28, 28)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def data_files(tmp_path_factory):
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("gan_data")
    y_cls = np.arange(60) % K
    y_cls_test = np.arange(30) % K
    cls = root / "tiny_cls.h5"
    write_dataset_h5(cls, Split(_images(rng, y_cls, K), y_cls.astype(np.int64)),
                     Split(_images(rng, y_cls_test, K), y_cls_test.astype(np.int64)), {"task": "classification"})
    y_reg = rng.uniform(-90, 90, 60).astype(np.float32)
    y_reg_test = rng.uniform(-90, 90, 40).astype(np.float32)
    reg = root / "tiny_reg.h5"
    write_dataset_h5(reg, Split(_images(rng, y_reg + 90, 180), y_reg), Split(_images(rng, y_reg_test + 90, 180),
                                                                                y_reg_test), {"task": "regression"})
    return cls, reg


def _train(data, kind, out, iters, extra=(), resume=False):
    sets = TINY_BIGGAN if kind == "biggan" else TINY_CCGAN
    argv = ["gan", "train", "--data", str(data), "--gan", kind, "--out", str(out), "--iters", str(iters),
            "--batch-size", "8", "--device", "cpu", "--quiet"]
    for s in list(sets) + list(extra):
        argv += ["--set", s]
    return main(argv + (["--resume"] if resume else []))


@pytest.fixture(scope="module")
def trained(data_files, tmp_path_factory):
    """One short run of each GAN, shared by the sampling / eval / error tests."""
    cls, reg = data_files
    root = tmp_path_factory.mktemp("gan_runs")
    assert _train(cls, "biggan", root / "b", 2) == 0
    assert _train(reg, "ccgan", root / "c", 2) == 0
    return root / "b", root / "c"


def _same_state(a, b):
    for key in ("G", "D", "G_ema"):
        assert a[key].keys() == b[key].keys()
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key}.{name} differs"
    for key in ("opt_G", "opt_D"):
        for pid, st in a[key]["state"].items():
            for name, t in st.items():
                assert torch.equal(t, b[key]["state"][pid][name]), f"{key} {pid} {name} differs"
    assert a["iteration"] == b["iteration"]


def _load(path):
    return torch.load(path, map_location="cpu", weights_only=False)


def test_biggan_run_folder_and_resume_equivalence(data_files, tmp_path):
    cls, _ = data_files
    assert _train(cls, "biggan", tmp_path / "full", 4) == 0
    run = tmp_path / "full"
    for name in ("config.json", "log.jsonl", "last.pt", "metrics.json", "samples_000000.png", "samples_000004.png"):
        assert (run / name).is_file(), name
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in log] == [1, 2, 3, 4]
    assert all(np.isfinite([r["d_real"], r["d_fake"], r["g_loss"], r["it_s"]]).all() for r in log)
    state = _load(run / "last.pt")
    assert state["kind"] == "biggan" and state["num_classes"] == K and state["iteration"] == 4
    # Stop after 2 iterations, resume to 4: the same weights, EMA and optimiser states.
    assert _train(cls, "biggan", tmp_path / "split", 2) == 0
    assert _train(cls, "biggan", tmp_path / "split", 4, resume=True) == 0
    _same_state(state, _load(tmp_path / "split" / "last.pt"))
    log2 = [json.loads(line)["iter"] for line in (tmp_path / "split" / "log.jsonl").read_text().splitlines()]
    assert log2 == [1, 2, 3, 4]


def test_ccgan_resume_equivalence_and_embedding(data_files, tmp_path):
    _, reg = data_files
    assert _train(reg, "ccgan", tmp_path / "full", 4) == 0
    state = _load(tmp_path / "full" / "last.pt")
    info = state["embed"]["info"]
    assert state["label_norm"]["low"] < -80 and state["label_norm"]["high"] > 80   # min-max of the train labels
    train_y = load_dataset(reg).train.labels
    norm = LabelNorm.from_labels(train_y)
    y = norm.normalize(train_y.astype(np.float64))
    assert info["sigma"] == pytest.approx(1.06 * y.std() * len(y) ** -0.2, rel=1e-5)
    assert info["kappa"] == pytest.approx(1 / (2 * np.diff(np.unique(y)).max()) ** 2, rel=1e-4)   # soft: nu
    assert _train(reg, "ccgan", tmp_path / "split", 2) == 0
    assert _train(reg, "ccgan", tmp_path / "split", 4, resume=True) == 0
    _same_state(state, _load(tmp_path / "split" / "last.pt"))


def test_sample_writes_balanced_fakes(data_files, trained, tmp_path):
    cls, reg = data_files
    b_run, c_run = trained
    out = tmp_path / "fake.h5"
    assert main(["gan", "sample", "--ckpt", str(b_run), "--n", "10", "--out", str(out),
                 "--batch-size", "4", "--device", "cpu"]) == 0
    fake, attrs = read_fake_h5(out)
    assert fake.images.shape == (10, 1, 28, 28) and fake.images.dtype == np.uint8
    assert np.bincount(fake.labels, minlength=K).tolist() == [4, 3, 3]
    assert attrs["ema"] and attrs["n"] == 10 and attrs["seed"] == 0 and "git_commit" in attrs
    assert attrs["gan_checkpoint"].endswith("last.pt")
    # Same seed, same fakes; the raw generator differs from its EMA.
    out2 = tmp_path / "fake2.h5"
    assert main(["gan", "sample", "--ckpt", str(b_run / "last.pt"), "--n", "10", "--out", str(out2),
                 "--device", "cpu"]) == 0
    assert np.array_equal(read_fake_h5(out2)[0].images, fake.images)
    from PIL import Image
    grid = tmp_path / "grid.png"
    assert main(["gan", "sample", "--ckpt", str(b_run), "--n", "3", "--out", str(tmp_path / "f4.h5"),
                 "--grid", str(grid), "--grid-cols", "4", "--device", "cpu"]) == 0
    w, h = Image.open(grid).size
    assert h == 2 * (K * (28 + 2) + 2) and w > 2 * (4 * (28 + 2) + 2)   # K rows, 4 columns, a name margin
    out3 = tmp_path / "fake3.h5"
    assert main(["gan", "sample", "--ckpt", str(b_run), "--n", "10", "--out", str(out3), "--no-ema",
                 "--device", "cpu"]) == 0
    assert not read_fake_h5(out3)[1]["ema"]
    assert not np.array_equal(read_fake_h5(out3)[0].images, fake.images)

    out = tmp_path / "fake_reg.h5"
    assert main(["gan", "sample", "--ckpt", str(c_run), "--n", "10", "--out", str(out),
                 "--device", "cpu"]) == 0
    with h5py.File(out) as f:
        labels = f["fake_labels"][:]
    norm = LabelNorm.from_labels(load_dataset(reg).train.labels)
    grid = norm.denormalize(np.linspace(0, 1, 4))                 # label_values=4, 10 -> 3,3,2,2
    assert np.allclose(np.unique(labels), grid, atol=1e-3)
    assert [int((np.abs(labels - g) < 1e-3).sum()) for g in grid] == [3, 3, 2, 2]


def _eval_net(path, task, channels=1):
    torch.manual_seed(0)
    kind = task.kind
    model = build_model("resnet8", num_classes=task.num_classes, in_channels=channels, img_size=28, task=kind)
    save_model_checkpoint(path, model, arch="resnet8",
                          model_kwargs={"num_classes": task.num_classes, "in_channels": channels, "img_size": 28,
                                        "task": kind},
                          task=task, pixel_norm=PixelNorm((0.5,), (0.5,)))
    return path


def test_gan_eval_prints_and_writes_json(data_files, trained, tmp_path, capsys):
    cls, reg = data_files
    b_run, c_run = trained
    net = _eval_net(tmp_path / "cls_net.pt", Task("classification", num_classes=K))
    out = tmp_path / "eval.json"
    assert main(["gan", "eval", "--ckpt", str(b_run), "--data", str(cls), "--eval-net", str(net),
                 "--n", "60", "--out", str(out), "--device", "cpu"]) == 0
    r = json.loads(out.read_text())
    assert r["fid"] >= 0 and np.isfinite(r["intra_fid"]) and 0 <= r["class_share"] <= 100
    assert set(r["intra_fid_per_group"]) == {"0", "1", "2"}
    assert "class share" in capsys.readouterr().out

    net = _eval_net(tmp_path / "reg_net.pt", Task("regression", label_norm=LabelNorm(-90.0, 90.0)))
    out = tmp_path / "eval_reg.json"
    assert main(["gan", "eval", "--ckpt", str(c_run), "--data", str(reg), "--eval-net", str(net),
                 "--n", "40", "--out", str(out), "--device", "cpu"]) == 0
    r = json.loads(out.read_text())
    assert r["label_score"] >= 0 and np.isfinite(r["fid"]) and len(r["bin_edges"]) == 11


def test_fid_sanity_real_vs_real_much_lower_than_real_vs_noise(data_files, tmp_path):
    cls, _ = data_files
    bundle = load_dataset(cls)
    net = EvalNet(_eval_net(tmp_path / "net.pt", Task("classification", num_classes=K)))
    train = bundle.train

    def real(labels):
        # Train images of the asked classes (a "perfect" generator).
        picks = [np.flatnonzero(train.labels == c)[i // K % 20] for i, c in enumerate(labels.tolist())]
        return train.images[picks]
    rng = np.random.default_rng(0)
    noise = lambda labels: rng.integers(0, 256, (len(labels), 1, 28, 28), dtype=np.uint8)  # noqa: E731
    r_real = evaluate_generator(Generator(real, num_classes=K), bundle, net, n=60)
    r_noise = evaluate_generator(Generator(noise, num_classes=K), bundle, net, n=60)
    assert r_real["fid"] < 0.2 * r_noise["fid"]
    assert r_real["intra_fid"] < r_noise["intra_fid"]


def test_user_errors_exit_2(data_files, trained, tmp_path, capsys):
    cls, reg = data_files
    b_run, _ = trained
    assert _train(cls, "ccgan", tmp_path / "x", 1) == 2                        # classification data for CcGAN
    assert "needs a regression dataset" in capsys.readouterr().err
    assert _train(cls, "biggan", tmp_path / "y", 1, extra=["g_lrr=1"]) == 2
    assert "unknown biggan setting 'g_lrr'" in capsys.readouterr().err
    assert _train(cls, "biggan", b_run, 1) == 2                                # exists, no --resume
    assert "--resume" in capsys.readouterr().err
    assert main(["gan", "sample", "--ckpt", str(tmp_path / "nope"), "--n", "4", "--out",
                 str(tmp_path / "f.h5")]) == 2
    assert "no GAN checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "f.h5").exists()
    assert main(["gan", "eval", "--ckpt", str(b_run), "--data", str(cls)]) == 2
    assert "--eval-net" in capsys.readouterr().err
    net = _eval_net(tmp_path / "reg_net.pt", Task("regression", label_norm=LabelNorm(-90.0, 90.0)))
    assert main(["gan", "eval", "--ckpt", str(b_run), "--data", str(cls), "--eval-net", str(net),
                 "--n", "6"]) == 2
    assert "cannot score" in capsys.readouterr().err


def test_a_finished_gan_run_is_reused_untouched(tiny_biggan, tiny_classification_h5):
    """What was made from a GAN (its fake sets record its fingerprint) stays valid when a script
    or the demo asks for the same run again."""
    before = {p.name: p.read_bytes() for p in tiny_biggan.iterdir() if p.is_file()}
    assert cli(*gan_train_args(tiny_classification_h5, "biggan", tiny_biggan), "--resume") == 0
    assert {p.name: p.read_bytes() for p in tiny_biggan.iterdir() if p.is_file()} == before


def test_a_generator_only_checkpoint_keeps_what_sampling_needs_and_nothing_else(tiny_ccgan, tmp_path):
    """`generator_only` (the shipped demo GANs) drops exactly the training state of a checkpoint, and
    the cut-down file samples the same images."""
    from cgankd.common.files import save_torch
    from cgankd.gans.sampling import generator_only, load_gan, read_checkpoint
    state = read_checkpoint(tiny_ccgan)
    slim = generator_only(state)
    assert set(state) - set(slim) == {"D", "opt_G", "opt_D", "rng", "device_rng"}
    save_torch(tmp_path / "last.pt", slim)
    labels = torch.linspace(0, 1, 8)
    assert np.array_equal(load_gan(tmp_path / "last.pt").generate(labels, seed=3),
                          load_gan(tiny_ccgan).generate(labels, seed=3))
