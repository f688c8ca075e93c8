"""Logit-based KD beyond the paper's baselines: DKD, DIST, MLKD and logit standardisation.

Values by hand on tiny tensors, where gradients go, invariances, the clear errors, and two-epoch
CLI runs (real only, with fakes, and the real-only control) on a Fashion-MNIST subset.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from cgankd.cli import main
from cgankd.common.errors import UserError
from cgankd.data.labels import LabelNorm
from cgankd.distill import build_distiller, display_name
from cgankd.distill._settings import method_settings
from cgankd.models import build_model
from cgankd.tasks import Task

CLS = Task("classification", num_classes=10)
TINY = Task("classification", num_classes=3)
REG = Task("regression", label_norm=LabelNorm(0.0, 1.0))
NEW = ["dkd", "dist", "mlkd"]
# The KD part of each method's loss dict (CE left out).
KD_TERMS = {"kd": ["kd"], "dkd": ["tckd", "nckd"], "dist": ["inter", "intra"], "mlkd": ["kd", "bc", "cc"]}


pytestmark = pytest.mark.usefixtures("one_thread")


def nets(seed=0):
    torch.manual_seed(seed)
    kw = {"num_classes": 10, "in_channels": 1, "img_size": 28, "task": "classification"}
    return build_model("resnet8", **kw), build_model("wrn_16_2", **kw)


def make(method, student=None, teacher=None, task=CLS, **cfg):
    if student is None:
        student, teacher = nets()
    return build_distiller(method, student, teacher, task, {"img_shape": (1, 28, 28), "with_fake": False, **cfg})


def batch(n=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g), torch.arange(n)


class FixedLogits(nn.Module):
    """A 'net' whose logits are a parameter: the loss can be checked on logits written out by hand."""

    def __init__(self, logits):
        super().__init__()
        self.logits = nn.Parameter(torch.tensor(logits, dtype=torch.float32))

    def forward(self, x, is_feat=False, preact=False):
        return self.logits * 1.0


class Affine(nn.Module):
    """A net's logits times `scale` plus `shift`."""

    def __init__(self, net, scale, shift):
        super().__init__()
        self.net, self.scale, self.shift = net, scale, shift

    def forward(self, x, is_feat=False, preact=False):
        return self.net(x) * self.scale + self.shift


def kd_part(losses, method):
    return sum(losses[k] for k in KD_TERMS[method]).item()


# ---------------------------------------------------------------------------------------------
# every method: finite, differentiable, gradients to the student only, teacher unchanged

@pytest.mark.parametrize("method,logit_std", [("dkd", False), ("dist", False), ("mlkd", False),
                                              ("kd", True), ("dkd", True), ("mlkd", True)])
def test_loss_is_finite_and_only_the_student_learns(method, logit_std):
    d = make(method, epochs=10, **({"logit_std": True} if logit_std else {})).train()
    d.epoch = 5.0
    teacher_before = {k: v.clone() for k, v in d.teacher.state_dict().items()}
    student_before = {k: v.clone() for k, v in d.student.state_dict().items()}
    optimizer = torch.optim.SGD(d.trainable_parameters(), lr=0.1)
    out, losses = d.forward_train(*batch())
    assert out.shape == (6, 10) and set(losses) == {"ce", *KD_TERMS[method]}
    assert all(torch.isfinite(v) and v.dim() == 0 for v in losses.values())
    sum(losses.values()).backward()
    assert all(p.grad is None for p in d.teacher.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in d.student.parameters())
    optimizer.step()
    assert all(torch.equal(teacher_before[k], v) for k, v in d.teacher.state_dict().items())
    assert any(not torch.equal(student_before[k], v) for k, v in d.student.state_dict().items())
    assert not {id(p) for p in d.trainable_parameters()} & {id(p) for p in d.teacher.parameters()}
    assert not any(k.startswith(("_teacher", "teacher")) for k in d.state_dict())


@pytest.mark.parametrize("method", NEW)
def test_losses_stay_float32_under_bf16_autocast(method):
    d = make(method, epochs=10).train()
    d.epoch = 5.0
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, losses = d.forward_train(*batch())
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()


def test_kd_terms_alone_give_the_student_logits_a_gradient():
    s, t = [[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]], [[0.0, 2.0, 0.5], [1.0, -1.0, 3.0]]
    for method in NEW:
        d = make(method, FixedLogits(s), FixedLogits(t), TINY, r=0.0)
        _, losses = d.forward_train(torch.zeros(2, 1, 28, 28), torch.tensor([0, 2]), None)
        (grad,) = torch.autograd.grad(sum(losses.values()), d.student.logits)
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0, method


# ---------------------------------------------------------------------------------------------
# values by hand: 2 samples x 3 classes

S = [[1.0, 2.0, 0.5], [0.0, -1.0, 1.5]]
T_ = [[0.3, -1.0, 2.0], [2.0, 0.5, 0.0]]
Y = [1, 2]


def softmax(row, T):
    e = [math.exp(v / T) for v in row]
    return [v / sum(e) for v in e]


def kl(p, q):
    return sum(a * math.log(a / b) for a, b in zip(p, q))


def dkd_by_hand(s, t, y, T):
    tckd = nckd = 0.0
    for sr, tr, c in zip(s, t, y):
        ps, pt = softmax(sr, T), softmax(tr, T)
        tckd += kl([pt[c], 1 - pt[c]], [ps[c], 1 - ps[c]])
        others = [j for j in range(len(sr)) if j != c]
        nckd += kl(softmax([tr[j] for j in others], T), softmax([sr[j] for j in others], T))
    return tckd * T * T / len(s), nckd * T * T / len(s)


def test_dkd_matches_hand_computed_tckd_and_nckd():
    d = make("dkd", FixedLogits(S), FixedLogits(T_), TINY, T=2.0, alpha=1.5, beta=3.0, r=0.0)
    d.epoch = 100.0                                   # past the warm-up
    _, losses = d.forward_train(torch.zeros(2, 1, 28, 28), torch.tensor(Y), None)
    tckd, nckd = dkd_by_hand(S, T_, Y, 2.0)
    assert losses["tckd"].item() == pytest.approx(1.5 * tckd, rel=1e-5)
    assert losses["nckd"].item() == pytest.approx(3.0 * nckd, rel=1e-5)
    # TCKD + NCKD weighted by the teacher's non-target mass is the whole KL (the DKD identity).
    whole = sum(kl(softmax(tr, 2.0), softmax(sr, 2.0)) for sr, tr in zip(S, T_)) * 4 / 2
    per_sample = [dkd_by_hand([sr], [tr], [c], 2.0) for sr, tr, c in zip(S, T_, Y)]
    mixed = sum(a + (1 - softmax(tr, 2.0)[c]) * b for (a, b), tr, c in zip(per_sample, T_, Y)) / 2
    assert whole == pytest.approx(mixed, rel=1e-9)


@pytest.mark.parametrize("run_epochs,points", [
    (24, [(0.0, 1 / 20), (0.55, 6 / 20), (1.0, 11 / 20), (1.95, 1.0), (2.5, 1.0)]),   # 10 reference epochs each
    (None, [(0.0, 1 / 20), (4.5, 5 / 20), (19.0, 1.0)]),                             # the 240-epoch reference run
])
def test_dkd_warms_up_like_mdistiller_over_the_same_share_of_the_run(run_epochs, points):
    d = make("dkd", FixedLogits(S), FixedLogits(T_), TINY, **({} if run_epochs is None else {"epochs": run_epochs}))
    x, y = torch.zeros(2, 1, 28, 28), torch.tensor(Y)
    tckd, nckd = dkd_by_hand(S, T_, Y, 4.0)
    for epoch, factor in points:
        d.epoch = epoch
        _, losses = d.forward_train(x, y, None)
        assert losses["tckd"].item() == pytest.approx(factor * 1.0 * tckd, rel=1e-5), epoch
        assert losses["nckd"].item() == pytest.approx(factor * 8.0 * nckd, rel=1e-5), epoch


def pearson(a, b):
    a, b = np.asarray(a) - np.mean(a), np.asarray(b) - np.mean(b)
    return float((a * b).sum() / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_dist_matches_hand_computed_inter_and_intra():
    T = 2.0
    s = [[1.0, 2.0, 0.5], [0.0, -1.0, 1.5], [0.5, 0.5, -2.0]]      # 3 samples, so intra is not just +-1s
    t = [[0.3, -1.0, 2.0], [2.0, 0.5, 0.0], [1.0, 0.0, -1.0]]
    d = make("dist", FixedLogits(s), FixedLogits(t), TINY, T=T, b=1.5, beta=1.0, gamma=0.5, r=0.0)
    _, losses = d.forward_train(torch.zeros(3, 1, 28, 28), torch.tensor([1, 2, 0]), None)
    ys, yt = [softmax(r, T) for r in s], [softmax(r, T) for r in t]
    inter = 1 - sum(pearson(a, b) for a, b in zip(ys, yt)) / 3
    intra = 1 - sum(pearson([row[j] for row in ys], [row[j] for row in yt]) for j in range(3)) / 3
    assert losses["inter"].item() == pytest.approx(1.5 * 1.0 * T * T * inter, rel=1e-5)
    assert losses["intra"].item() == pytest.approx(1.5 * 0.5 * T * T * intra, rel=1e-5)
    assert 0 < inter < 2 and 0 < intra < 2


def test_mlkd_batch_and_class_levels_match_numpy():
    from cgankd.distill.mlkd import batch_level, class_level, median_share
    p_s = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]])
    p_t = np.array([[0.1, 0.7, 0.2], [0.3, 0.3, 0.4]])
    batch = ((p_t @ p_t.T - p_s @ p_s.T) ** 2).sum() / 2
    classes = ((p_t.T @ p_t - p_s.T @ p_s) ** 2).sum() / 3
    ts, tt = torch.tensor(p_s), torch.tensor(p_t)
    assert batch_level(ts, tt).item() == pytest.approx(batch, rel=1e-9)
    assert class_level(ts, tt).item() == pytest.approx(classes, rel=1e-9)
    assert median_share(torch.tensor([0.1, 0.9, 0.3, 0.5])).item() == 0.5      # median 0.4
    assert median_share(torch.tensor([0.1, 0.9, 0.3])).item() == pytest.approx(2 / 3)
    assert median_share(torch.tensor([0.7, 0.7, 0.7, 0.7])).item() == 1.0


def test_mlkd_class_level_grows_as_batch_squared_over_classes_and_cc_weight_scales_it():
    from cgankd.distill.mlkd import class_level, class_level_scale
    g = torch.Generator().manual_seed(0)
    p_s, p_t = (torch.softmax(torch.randn(8, 5, generator=g, dtype=torch.float64), 1) for _ in range(2))
    # the batch repeated k times: every entry of P^T P is k times larger, the term k^2 times
    assert class_level(p_s.repeat(3, 1), p_t.repeat(3, 1)).item() == pytest.approx(9 * class_level(p_s, p_t).item())
    assert class_level_scale(64, 100) == 1.0
    assert class_level_scale(128, 10) == pytest.approx((64 ** 2 / 100) / (128 ** 2 / 10))   # 0.025
    x, y, _ = batch()

    def terms(**cfg):
        torch.manual_seed(3)                                       # the same strong view each time
        s, t = nets()
        return make("mlkd", s, t, **cfg).eval().forward_train(x, y, None)[1]
    full, quarter, none = terms(), terms(cc_weight=0.25), terms(cc_weight=0.0)
    assert full["cc"] > 0 and quarter["cc"].item() == pytest.approx(0.25 * full["cc"].item(), rel=1e-6)
    assert none["cc"].item() == 0.0
    for name in ("ce", "kd", "bc"):
        assert quarter[name].item() == pytest.approx(full[name].item(), rel=1e-6)


def test_mlkd_uses_the_base_temperature_and_four_more():
    assert make("mlkd").temperatures() == (4.0, 2.0, 3.0, 5.0, 6.0)
    assert make("mlkd", logit_std=True).temperatures() == (2.0, 2.0, 3.0, 5.0, 6.0)  # as the authors' code


# ---------------------------------------------------------------------------------------------
# MLKD's strong view

def test_strong_view_is_batched_random_and_reduces_to_the_identity():
    from cgankd.distill.mlkd import strong_view
    torch.manual_seed(0)
    x = torch.randn(1, 1, 28, 28).repeat(64, 1, 1, 1)
    view = strong_view(x)
    assert view.shape == x.shape and view.dtype == torch.float32 and torch.isfinite(view).all()
    changed = (view - x).flatten(1).abs().amax(dim=1) > 1e-3
    assert changed.float().mean() > 0.9                                     # nearly every copy differs
    assert len({tuple(v.flatten()[:50].tolist()) for v in view}) > 50      # and the copies differ from each other
    assert torch.allclose(strong_view(x, n_ops=0, max_cutout=0.0), x, atol=1e-5)


def test_strong_view_cutout_zeroes_one_square_per_image():
    from cgankd.distill.mlkd import strong_view
    torch.manual_seed(1)
    x = torch.full((200, 1, 28, 28), 3.0)
    zeroed = (strong_view(x, n_ops=0, max_cutout=0.5) == 0).flatten(1).sum(1).float()
    assert zeroed.max() <= 15 * 15 and zeroed.mean() > 10 and (zeroed == 0).any()


# ---------------------------------------------------------------------------------------------
# logit standardisation: invariant to a shift and a positive scale of either net's logits

@pytest.mark.parametrize("method", ["kd", "dkd", "mlkd"])
def test_logit_standardisation_ignores_shift_and_scale_of_either_net(method):
    x, y, _ = batch()

    def kd_loss(logit_std, s_affine=(1.0, 0.0), t_affine=(1.0, 0.0)):
        s, t = nets()
        d = make(method, Affine(s, *s_affine), Affine(t, *t_affine), epochs=10,
                 **({"logit_std": True} if logit_std else {})).eval()
        d.epoch = 5.0
        torch.manual_seed(3)                                       # MLKD's strong view
        return kd_part(d.forward_train(x, y, None)[1], method)

    base = kd_loss(True)
    assert base > 0
    for s_affine, t_affine in [((2.5, 3.0), (1.0, 0.0)), ((1.0, 0.0), (0.4, -7.0)), ((0.3, 1.0), (6.0, 2.0))]:
        assert kd_loss(True, s_affine, t_affine) == pytest.approx(base, rel=1e-4)
    assert kd_loss(False, (1.0, 0.0), (6.0, 2.0)) != pytest.approx(kd_loss(False), rel=1e-2)


def test_logit_standardisation_z_scores_before_the_base_temperature():
    s, t = [[1.0, 2.0, 0.5], [0.0, -1.0, 1.5]], [[0.3, -1.0, 2.0], [2.0, 0.5, 0.0]]

    def z(row):
        mean = sum(row) / 3
        std = math.sqrt(sum((v - mean) ** 2 for v in row) / 2)    # unbiased, as the authors' code
        return [(v - mean) / (std + 1e-7) for v in row]

    d = make("kd", FixedLogits(s), FixedLogits(t), TINY, logit_std=True)
    assert (d.opts["T"], d.opts["a"], d.opts["r"]) == (2.0, 9.0, 0.1)
    expected = sum(kl(softmax(z(tr), 2.0), softmax(z(sr), 2.0)) for sr, tr in zip(s, t)) * 4 / 2
    assert d.kd_loss(d.student.logits, d.teacher.logits).item() == pytest.approx(expected, rel=1e-5)


# ---------------------------------------------------------------------------------------------
# defaults and errors

def test_defaults_follow_the_papers_and_do_not_change_with_fakes():
    for fake in (False, True):
        dkd = method_settings("dkd", {"with_fake": fake})
        assert [dkd[k] for k in ("r", "a", "b", "alpha", "beta", "T", "warmup", "ref_epochs")] == \
            [1.0, 0.0, 0.0, 1.0, 8.0, 4.0, 20.0, 240]
        dist = method_settings("dist", {"with_fake": fake})
        assert [dist[k] for k in ("r", "a", "b", "beta", "gamma", "T")] == [1.0, 0.0, 2.0, 1.0, 1.0, 4.0]
        mlkd = method_settings("mlkd", {"with_fake": fake})
        assert [mlkd[k] for k in ("r", "a", "T", "extra_T", "strong_ops", "strong_cutout")] == \
            [0.1, 0.9, 4.0, (2.0, 3.0, 5.0, 6.0), 2, 0.5]
    ls = {m: method_settings(m, {"logit_std": True}) for m in ("kd", "dkd", "mlkd")}
    assert (ls["kd"]["a"], ls["kd"]["T"], ls["kd"]["r"]) == (9.0, 2.0, 0.1)
    assert (ls["dkd"]["alpha"], ls["dkd"]["beta"], ls["dkd"]["T"]) == (9.0, 72.0, 2.0)
    assert (ls["mlkd"]["a"], ls["mlkd"]["T"]) == (9.0, 2.0)
    assert method_settings("kd", {"logit_std": True, "T": 3})["T"] == 3.0      # explicit settings win
    assert method_settings("kd", {"logit_std": False})["T"] == 4.0
    assert [display_name(m) for m in NEW] == ["DKD", "DIST", "MLKD"]


@pytest.mark.parametrize("method", ["hint", "crd", "attention", "dist", "sskd"])
def test_logit_std_on_other_methods_is_one_clear_error(method):
    with pytest.raises(UserError, match=f"--distill {method}: logit_std .* kd, dkd, mlkd only"):
        make(method, n_data=40, logit_std=True)


@pytest.mark.parametrize("method", NEW)
def test_each_method_refuses_regression(method):
    kw = {"num_classes": 1, "in_channels": 1, "img_size": 28, "task": "regression"}
    with pytest.raises(UserError, match=f"{method} is defined for classification only"):
        build_distiller(method, build_model("resnet8", **kw), build_model("resnet8", **kw), REG, {})


def test_other_mistakes_are_clear_errors():
    kw = {"num_classes": 1, "in_channels": 1, "img_size": 28, "task": "regression"}
    with pytest.raises(UserError, match="logit_std .* does not apply to regression"):
        build_distiller("kd", build_model("resnet8", **kw), build_model("resnet8", **kw), REG, {"logit_std": True})
    with pytest.raises(UserError, match="dkd: weight a does not apply"):
        make("dkd", a=1.0)
    with pytest.raises(UserError, match="dist: weight a does not apply"):
        make("dist", a=0.5)
    with pytest.raises(UserError, match="mlkd: weight b does not apply"):
        make("mlkd", b=1.0)
    with pytest.raises(UserError, match="should be a bool"):
        make("kd", logit_std="maybe")
    with pytest.raises(UserError, match="needs a --teacher"):
        build_distiller("dkd", nets()[0], None, CLS, {})


# ---------------------------------------------------------------------------------------------
# through the CLI: a Fashion-MNIST subset, real only, with fakes, and the real-only control

COMMON = ["--epochs", "2", "--batch-size", "64", "--device", "cpu", "--quiet"]


def run_cli(*args) -> int:
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def fmnist(tmp_path_factory):
    """~300 train / 300 test real Fashion-MNIST images, 150 others as 'fakes', a teacher and a NOKD student."""
    from cgankd.data import Split, load_dataset, write_dataset_h5, write_fake_h5
    from cgankd.data.prepare import prepare
    root = tmp_path_factory.mktemp("fmnist")
    full, _ = prepare("fashion-mnist", root / "full", allow_download=False)
    bundle = load_dataset(full)
    rng = np.random.default_rng(0)
    train_idx = rng.permutation(len(bundle.train))[:450]
    test_idx = rng.permutation(len(bundle.test))[:300]
    data = root / "subset.h5"
    write_dataset_h5(data, Split(bundle.train.images[train_idx[:300]], bundle.train.labels[train_idx[:300]]),
                     Split(bundle.test.images[test_idx], bundle.test.labels[test_idx]), bundle.attrs)
    fake = root / "fake.h5"
    write_fake_h5(fake, bundle.train.images[train_idx[300:]], bundle.train.labels[train_idx[300:]],
                  {"source": "held-out real images"})
    for name, seed in (("teacher", 0), ("nokd", 1)):
        assert run_cli("train", "--data", data, "--arch", "resnet8", "--out", root / name, "--seed", seed,
                       *COMMON) == 0
    return {"data": data, "fake": fake, "teacher": root / "teacher" / "model.pt",
            "nokd": root / "nokd" / "model.pt"}


ARMS = {"real": [], "fake": ["fake"], "control": ["same_steps"]}


@pytest.mark.parametrize("arm", sorted(ARMS))
@pytest.mark.parametrize("method", NEW)
def test_each_method_trains_through_the_cli(method, arm, fmnist, tmp_path):
    out = tmp_path / "run"
    args = ["train", "--data", fmnist["data"], "--arch", "resnet8", "--out", out, "--teacher", fmnist["teacher"],
            "--distill", method, *COMMON]
    if arm == "fake":
        args += ["--fake", fmnist["fake"], "--init", fmnist["nokd"]]
    if arm == "control":
        args += ["--same-steps-as", fmnist["fake"], "--init", fmnist["nokd"]]
    assert run_cli(*args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert metrics["distill"] == method and 0.0 <= metrics["test_acc"] <= 100.0
    assert metrics["n_fake"] == (150 if arm == "fake" else 0) and metrics["n_real"] == 300
    epochs = [r for r in log if "epoch" in r and "stage" not in r]
    # The control runs as many steps as the run with fakes: 450 / 300 of its epochs.
    assert len(epochs) == metrics["epochs"] == (3 if arm == "control" else 2)
    for record in epochs:
        for term in ["ce", *KD_TERMS[method]]:
            assert math.isfinite(record[f"loss_{term}"]), (term, record)
    assert {k for k in epochs[-1] if k.startswith("loss_")} == {f"loss_{t}" for t in ["ce", *KD_TERMS[method]]}


def test_kd_with_logit_standardisation_through_the_cli(fmnist, tmp_path):
    out = tmp_path / "run"
    assert run_cli("train", "--data", fmnist["data"], "--arch", "resnet8", "--out", out, "--teacher",
                   fmnist["teacher"], "--distill", "kd", "--distill-set", "logit_std=true", *COMMON) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["distill_cfg"] == {"logit_std": True}
    assert all(math.isfinite(r["loss_kd"]) for r in map(json.loads, (out / "log.jsonl").read_text().splitlines()))


def test_logit_std_on_a_feature_method_is_refused_through_the_cli(fmnist, tmp_path, capsys):
    code = run_cli("train", "--data", fmnist["data"], "--arch", "resnet8", "--out", tmp_path / "run",
                   "--teacher", fmnist["teacher"], "--distill", "crd", "--distill-set", "logit_std=true", *COMMON)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "crd: logit_std" in err[0]
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_train_help_lists_the_new_methods(capsys):
    with pytest.raises(SystemExit) as done:
        main(["train", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert all(name in text for name in NEW)
