"""KD methods: finite differentiable losses, where gradients go, values by hand, stages, errors."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from cgankd.common.errors import UserError
from cgankd.data.labels import LabelNorm
from cgankd.distill import build_distiller, distiller_names
from cgankd.models import build_model
from cgankd.tasks import Task

CLS = Task("classification", num_classes=10)
REG = Task("regression", label_norm=LabelNorm(0.0, 1.0))
METHODS = ["kd", "hint", "attention", "similarity", "correlation", "vid", "rkd", "pkt", "abound", "factor",
           "fsp", "nst", "crd", "sskd", "takd", "reviewkd"]


def nets(student="resnet8", teacher="wrn_16_2", task=CLS, channels=1, size=28, seed=0):
    torch.manual_seed(seed)
    kw = dict(num_classes=task.num_classes or 1, in_channels=channels, img_size=size, task=task.kind)
    return build_model(student, **kw), build_model(teacher, **kw)


def make(method, student="resnet8", teacher="wrn_16_2", task=CLS, channels=1, size=28, n_data=40, **cfg):
    s, t = nets(student, teacher, task, channels, size)
    base = {"n_data": n_data, "img_shape": (channels, size, size), "with_fake": False}
    return build_distiller(method, s, t, task, {**base, **cfg})


def batch(task=CLS, n=4, channels=1, size=28, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, channels, size, size, generator=g)
    y = torch.randint(0, 10, (n,), generator=g) if task is CLS else torch.rand(n, generator=g)
    return x, y, torch.arange(n)


def method_modules(d):
    return {name: m for name, m in d.named_children() if name != "student"}


# ---------------------------------------------------------------------------------------------
# every method: finite, differentiable, gradients to the student and own modules, never the teacher

CASES = [(m, "resnet8", "wrn_16_2" if m != "fsp" else "wrn_16_1", 1, 28) for m in METHODS] + [
    (m, "vgg8", "resnet8x4", 3, 32) for m in ("hint", "vid", "factor", "reviewkd", "abound")]


@pytest.mark.parametrize("method,student,teacher,channels,size", CASES)
def test_loss_is_finite_and_gradients_go_where_they_should(method, student, teacher, channels, size):
    d = make(method, student, teacher, channels=channels, size=size, with_fake=True).train()
    x, y, index = batch(channels=channels, size=size)
    out, losses = d.forward_train(x, y, index)
    assert out.shape == (4, 10)
    assert losses and all(torch.isfinite(v) and v.dim() == 0 for v in losses.values())
    sum(losses.values()).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in d.student.parameters())
    assert all(p.grad is None for p in d.teacher.parameters())
    frozen = {id(m) for m in d.frozen_modules()}
    for name, module in method_modules(d).items():
        for pname, p in module.named_parameters():
            if id(module) in frozen:
                assert p.grad is None, f"{name}.{pname} is frozen but got a gradient"
            else:
                assert p.grad is not None and torch.isfinite(p.grad).all(), f"{name}.{pname} got no gradient"
    trainable = {id(p) for p in d.trainable_parameters()}
    assert not trainable & {id(p) for p in d.teacher.parameters()}
    assert not trainable & {id(p) for m in d.frozen_modules() for p in m.parameters()}
    assert not any(k.startswith(("_teacher", "teacher")) for k in d.state_dict())


def test_registry_lists_every_method():
    # The later logit methods have their own tests (test_distill_logit.py).
    assert distiller_names() == sorted(METHODS + ["dkd", "dist", "mlkd"])


# ---------------------------------------------------------------------------------------------
# zero where theory says: teacher = a copy of the student

@pytest.mark.parametrize("method,key", [("kd", "kd"), ("attention", "at"), ("similarity", "sp"), ("rkd", "rkd"),
                                        ("pkt", "pkt"), ("nst", "nst")])
def test_term_vanishes_when_teacher_equals_student(method, key):
    s, _ = nets()
    d = build_distiller(method, s, copy.deepcopy(s), CLS, {"img_shape": (1, 28, 28), "with_fake": True}).eval()
    _, losses = d.forward_train(*batch())
    assert losses[key].item() == pytest.approx(0.0, abs=1e-5)
    assert losses["ce"].item() > 0.1


# ---------------------------------------------------------------------------------------------
# values by hand on tiny tensors

def test_kd_matches_hand_computed_kl():
    d = make("kd", T=2)
    s = torch.tensor([[1.0, 2.0, 0.5], [0.0, 0.0, 1.0]])
    t = torch.tensor([[0.3, -1.0, 2.0], [1.0, 0.0, 0.0]])

    def softmax(row):
        e = [math.exp(v / 2) for v in row]
        return [v / sum(e) for v in e]

    rows = [sum(pt * math.log(pt / ps) for pt, ps in zip(softmax(tr), softmax(sr))) * 4
            for sr, tr in zip(s.tolist(), t.tolist())]
    assert d.kd_loss(s, t).item() == pytest.approx(sum(rows) / 2, rel=1e-5)


def test_takd_loss_is_mixed_ce_and_scaled_kl():
    d = make("takd").eval()
    x, y, index = batch()
    _, losses = d.forward_train(x, y, index)
    s, t = d.student(x).double(), d.teacher(x).double()  # float64: the KL is a small difference
    p_t = torch.exp(t / 10) / torch.exp(t / 10).sum(1, keepdim=True)
    p_s = torch.exp(s / 10) / torch.exp(s / 10).sum(1, keepdim=True)
    kl = (p_t * (p_t.log() - p_s.log())).sum(1).mean()
    ce = -torch.log(torch.exp(s) / torch.exp(s).sum(1, keepdim=True))[torch.arange(4), y].mean()
    assert losses["ce"].item() == pytest.approx(0.5 * ce.item(), rel=1e-4)
    assert losses["kd"].item() == pytest.approx(0.5 * 100 * kl.item(), rel=1e-3)


def test_attention_matches_hand_computed_value():
    d = make("attention")
    s = torch.tensor([[[[1.0, 2.0], [0.0, 1.0]], [[1.0, 0.0], [2.0, 1.0]]]])            # (1, 2, 2, 2)
    t = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]], [[2.0, 0.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]]])
    dummy = torch.zeros(1, 1, 2, 2)

    def att(f):
        per_pos = [sum(f[c][i][j] ** 2 for c in range(len(f))) / len(f) for i in range(2) for j in range(2)]
        norm = math.sqrt(sum(v * v for v in per_pos))
        return [v / norm for v in per_pos]

    expected = sum((a - b) ** 2 for a, b in zip(att(s[0].tolist()), att(t[0].tolist()))) / 4
    got = d.method_loss([dummy, s, torch.zeros(1, 2)], [dummy, t, torch.zeros(1, 3)], None, None)
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_similarity_matches_hand_computed_value():
    d = make("similarity")
    s, t = [[1.0, 2.0], [3.0, 1.0]], [[0.0, 1.0], [2.0, 2.0]]

    def gram(f):
        g = [[sum(a * b for a, b in zip(u, v)) for v in f] for u in f]
        return [[v / math.sqrt(sum(w * w for w in row)) for v in row] for row in g]

    gs, gt = gram(s), gram(t)
    expected = sum((gt[i][j] - gs[i][j]) ** 2 for i in range(2) for j in range(2)) / 4
    as_maps = lambda f: torch.tensor(f)[:, :, None, None]  # noqa: E731
    got = d.method_loss([None, as_maps(s), None], [None, as_maps(t), None], None, None)
    assert got.item() == pytest.approx(expected, rel=1e-5)


def _smooth_l1(a, b):
    return sum(0.5 * (x - y) ** 2 if abs(x - y) < 1 else abs(x - y) - 0.5 for x, y in zip(a, b)) / len(a)


def test_rkd_matches_hand_computed_value():
    d = make("rkd")
    s, t = [[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], [[0.0, 0.0], [2.0, 0.0], [0.0, 1.0]]

    def distances(e):
        d = [math.dist(u, v) for u in e for v in e]
        mean = sum(v for v in d if v > 0) / sum(1 for v in d if v > 0)
        return [v / mean for v in d]

    def unit(v):
        n = math.hypot(*v)
        return [c / n for c in v] if n > 0 else [0.0, 0.0]

    def angles(e):
        out = []
        for i in range(3):
            for j in range(3):
                for k in range(3):
                    a = unit([e[j][0] - e[i][0], e[j][1] - e[i][1]])
                    b = unit([e[k][0] - e[i][0], e[k][1] - e[i][1]])
                    out.append(a[0] * b[0] + a[1] * b[1])
        return out

    expected = 25 * _smooth_l1(distances(s), distances(t)) + 50 * _smooth_l1(angles(s), angles(t))
    got = d.method_loss([torch.tensor(s)], [torch.tensor(t)], None, None)
    assert got.item() == pytest.approx(expected, rel=1e-4)


def test_pkt_matches_hand_computed_value():
    d = make("pkt")
    s, t = [[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]

    def conditional(f):
        unit = [[c / math.hypot(*v) for c in v] for v in f]
        sim = [[(sum(a * b for a, b in zip(u, v)) + 1) / 2 for v in unit] for u in unit]
        return [[v / sum(row) for v in row] for row in sim]

    ps, pt = conditional(s), conditional(t)
    expected = sum(pt[i][j] * math.log(pt[i][j] / ps[i][j]) for i in range(3) for j in range(3)) / 9
    got = d.method_loss([torch.tensor(s)], [torch.tensor(t)], None, None)
    assert got.item() == pytest.approx(expected, rel=1e-4)


def test_rbf_correlation_approaches_the_gaussian_kernel():
    from cgankd.distill.correlation import rbf_correlation
    e = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    exact = torch.exp(-0.4 * torch.cdist(e, e) ** 2)
    assert torch.allclose(rbf_correlation(e, 0.4, 12), exact, atol=1e-6)
    assert not torch.allclose(rbf_correlation(e, 0.4, 1), exact, atol=1e-3)
    d = make("correlation", cc_kernel="rbf", order=2)
    _, losses = d.forward_train(*batch())
    assert torch.isfinite(losses["cc"])


def test_regression_kd_is_mse_to_the_teacher_output():
    d = make("kd", task=REG).eval()
    x, y, index = batch(REG)
    out, losses = d.forward_train(x, y, index)
    assert out.shape == (4, 1) and set(losses) == {"mse", "kd"}
    expected = ((d.student(x) - d.teacher(x)) ** 2).mean()
    assert losses["kd"].item() == pytest.approx(0.9 * expected.item(), rel=1e-5)


@pytest.mark.parametrize("method", ["hint", "crd", "reviewkd"])
def test_feature_methods_run_on_regression(method):
    d = make(method, task=REG).train()
    out, losses = d.forward_train(*batch(REG))
    assert out.shape == (4, 1) and "mse" in losses
    sum(losses.values()).backward()
    assert all(torch.isfinite(v) for v in losses.values())


@pytest.mark.parametrize("method", ["hint", "crd", "sskd", "reviewkd"])
def test_losses_stay_float32_under_bf16_autocast(method):
    d = make(method, with_fake=True).train()
    d.epoch = 10.0
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, losses = d.forward_train(*batch())
    assert all(v.dtype == torch.float32 and torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()


# ---------------------------------------------------------------------------------------------
# the weight table

def test_weights_follow_the_table_real_and_fake():
    from cgankd.distill._settings import method_settings
    real = lambda name, **kw: method_settings(name, {"with_fake": False, **kw})  # noqa: E731
    fake = lambda name, **kw: method_settings(name, {"with_fake": True, **kw})  # noqa: E731
    assert {k: real("kd")[k] for k in "rab"} == {"r": 0.1, "a": 0.9, "b": 0.0}
    assert {k: fake("kd")[k] for k in "rab"} == {"r": 0.1, "a": 0.9, "b": 0.0}
    assert (real("hint")["a"], real("hint")["b"], fake("hint")["a"], fake("hint")["b"]) == (0.0, 100.0, 1.0, 100.0)
    assert (real("crd")["a"], fake("crd")["a"], fake("crd")["b"]) == (0.0, 1.0, 0.8)
    assert real("pkt")["b"] == 30000.0 and real("similarity")["b"] == 3000.0 and real("attention")["b"] == 1000.0
    assert fake("nst")["a"] == 0.0 and fake("nst")["b"] == 50.0  # nf with fakes: upstream values
    assert (real("takd")["r"], real("takd")["a"], real("takd")["T"]) == (0.5, 0.5, 10.0)
    assert (real("reviewkd")["a"], real("reviewkd")["b"], real("reviewkd")["warmup_frac"]) == (0.0, 5.0, 20 / 240)
    sskd = real("sskd")
    assert [sskd[k] for k in ("r", "a", "b", "c", "T", "tf_T", "ss_T")] == [0.1, 0.9, 2.7, 10.0, 4.0, 4.0, 0.5]
    assert (real("abound")["init_lr"], fake("abound")["init_lr"], fake("factor")["init_lr"]) == (0.05, 0.01, 0.01)
    assert real("kd", T=2)["T"] == 2.0 and isinstance(real("kd", T=2)["T"], float)
    assert real("sskd", t_milestones=[3, 4])["t_milestones"] == (3, 4)


def test_kd_term_is_left_out_when_its_weight_is_zero():
    _, losses = make("attention").forward_train(*batch())
    assert set(losses) == {"ce", "at"}
    _, losses = make("attention", with_fake=True).forward_train(*batch())
    assert set(losses) == {"ce", "kd", "at"}


# ---------------------------------------------------------------------------------------------
# errors

def test_build_errors_are_user_errors():
    s, t = nets()
    with pytest.raises(UserError, match="unknown distillation method 'nokd'"):
        build_distiller("nokd", s, t, CLS, {})
    with pytest.raises(UserError, match="needs a --teacher"):
        build_distiller("rkd", s, None, CLS, {})
    with pytest.raises(UserError, match="without --distill"):
        build_distiller(None, s, t, CLS, {})
    with pytest.raises(UserError, match="unknown setting 'nce_k'"):
        make("kd", nce_k=10)
    with pytest.raises(UserError, match="should be a float"):
        make("kd", T="hot")
    with pytest.raises(UserError, match="no main-stage term"):
        make("abound", b=1.0)
    with pytest.raises(UserError, match="cc_kernel"):
        make("correlation", cc_kernel="cosine")
    with pytest.raises(UserError, match="hint_layer"):
        make("hint", hint_layer=4)
    with pytest.raises(UserError, match="same channels"):
        make("fsp", teacher="wrn_16_2")


def test_classification_only_method_refuses_regression():
    with pytest.raises(UserError, match="sskd is defined for classification only"):
        make("sskd", task=REG)


def test_plain_distiller_needs_no_teacher():
    s, _ = nets()
    d = build_distiller(None, s, None, CLS, {})
    out, losses = d.forward_train(*batch())
    assert set(losses) == {"ce"} and out.shape == (4, 10)


# ---------------------------------------------------------------------------------------------
# a method's own stage

def batches(n=2, task=CLS):
    data = [batch(task, seed=10 + i) for i in range(n)]
    return lambda: iter(data)


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before, module):
    return any(not torch.equal(before[k], v) for k, v in module.state_dict().items() if v.is_floating_point())


@pytest.mark.parametrize("method,teacher,trained,untouched", [
    ("abound", "wrn_16_2", ["connectors", "student"], []),
    ("factor", "wrn_16_2", ["paraphraser"], ["student", "translator"]),
    ("fsp", "wrn_16_1", ["student"], []),
    ("sskd", "wrn_16_2", ["head_t"], ["student", "head_s"]),
    ("hint", "wrn_16_2", ["regressor", "student"], []),
])
def test_stage_trains_its_modules_once(method, teacher, trained, untouched):
    d = make(method, teacher=teacher, init_epochs=1, **({"t_epochs": 1} if method == "sskd" else {}))
    teacher_before = snapshot(d.teacher)
    before = {name: snapshot(getattr(d, name)) for name in trained + untouched}
    records = d.prepare(batches(), torch.device("cpu"))
    assert len(records) == 1 and math.isfinite(records[0]["loss"]) and records[0]["stage_epoch"] == 1
    for name in trained:
        assert changed(before[name], getattr(d, name)), f"{name} did not change"
    for name in untouched:
        assert not changed(before[name], getattr(d, name)), f"{name} changed"
    assert not changed(teacher_before, d.teacher)
    assert bool(d.stage_done) and d.training
    for m in d.frozen_modules():
        assert not m.training
    again = snapshot(d)
    assert d.prepare(batches(), torch.device("cpu")) == []
    assert not changed(again, d)
    # A distiller restored from a checkpoint taken after the stage does not run it again.
    fresh = make(method, teacher=teacher, init_epochs=1, **({"t_epochs": 1} if method == "sskd" else {}))
    fresh.load_state_dict(d.state_dict())
    assert fresh.prepare(batches(), torch.device("cpu")) == []


def test_hint_without_stage_epochs_runs_no_stage():
    d = make("hint")
    before = snapshot(d)
    assert d.prepare(batches(), torch.device("cpu")) == []
    assert not changed(before, d)


# ---------------------------------------------------------------------------------------------
# CRD

def test_crd_negatives_come_from_other_classes():
    labels = torch.arange(40) % 4
    d = make("crd", train_labels=labels, nce_k=30)
    index = torch.tensor([0, 5, 10, 39])
    neg = d.sampler(index, labels[index], 500)
    assert neg.shape == (4, 500) and neg.min() >= 0 and neg.max() < 40
    assert (labels[neg] != labels[index][:, None]).all()
    assert all(len(torch.unique(row)) == 30 for row in neg)  # every other-class item is reachable


def test_crd_negatives_without_labels_avoid_the_anchor():
    d = make("crd", task=REG)
    assert d.nce_k == 39  # capped at n_data - 1
    index = torch.tensor([0, 7, 39])
    neg = d.sampler(index, None, 2000)
    assert (neg != index[:, None]).all() and neg.min() >= 0 and neg.max() < 40
    assert len(torch.unique(neg)) == 40


def test_crd_updates_its_memory_rows_and_fixes_its_constants():
    d = make("crd").train()
    before_s, before_t = d.memory_s.clone(), d.memory_t.clone()
    x, y, _ = batch()
    index = torch.tensor([3, 9, 17, 21])
    d.forward_train(x, y, index)
    rows = torch.zeros(40, dtype=torch.bool)
    rows[index] = True
    for before, after in ((before_s, d.memory_s), (before_t, d.memory_t)):
        assert not torch.equal(before[rows], after[rows]) and torch.equal(before[~rows], after[~rows])
        assert torch.allclose(after[rows].norm(dim=1), torch.ones(4), atol=1e-5)
    z = d.z.clone()
    assert (z > 0).all()
    d.forward_train(x, y, index)
    assert torch.equal(z, d.z)


# ---------------------------------------------------------------------------------------------
# SSKD and ReviewKD pieces

def test_sskd_rotations_and_error_level_ranking():
    from cgankd.distill.sskd import keep_by_rank, rotations
    x = torch.arange(2 * 9, dtype=torch.float32).view(2, 1, 3, 3)
    x4 = rotations(x)
    assert x4.shape == (8, 1, 3, 3)
    assert torch.equal(x4[0], x[0]) and torch.equal(x4[4], x[1])
    assert torch.equal(x4[1, 0], torch.rot90(x[0, 0], 1)) and torch.equal(x4[7, 0], torch.rot90(x[1, 0], 3))
    scores = torch.tensor([[3.0, 1, 0], [0, 2, 1], [1, 0, 2], [2, 3, 0]])
    target = torch.tensor([0, 0, 2, 0])  # target ranks: 0, 2, 0, 1
    assert keep_by_rank(scores, target, 0.5).tolist() == [0, 2, 3]
    assert keep_by_rank(scores, target, 1.0).tolist() == [0, 1, 2, 3]
    assert keep_by_rank(scores, target, 0.0).tolist() == [0, 2]


def test_sskd_returns_upright_logits_and_its_four_terms():
    d = make("sskd").train()
    out, losses = d.forward_train(*batch())
    assert out.shape == (4, 10) and set(losses) == {"ce", "kd", "tf", "ss"}


@pytest.mark.parametrize("run_epochs, full_at", [(None, 20.0), (24, 2.0)])   # 20/240 of the run
def test_reviewkd_weight_warms_up_linearly_over_a_fixed_share_of_the_run(run_epochs, full_at):
    d = make("reviewkd", **({} if run_epochs is None else {"epochs": run_epochs})).eval()
    x, y, index = batch()
    terms = {}
    for epoch in (0.0, full_at / 4, full_at, 2.5 * full_at):
        d.epoch = epoch
        terms[epoch] = d.forward_train(x, y, index)[1]["review"].item()
    assert terms[0.0] == 0.0
    assert terms[full_at / 4] == pytest.approx(terms[full_at] / 4, rel=1e-5)
    assert terms[2.5 * full_at] == pytest.approx(terms[full_at], rel=1e-6) and terms[full_at] > 0
