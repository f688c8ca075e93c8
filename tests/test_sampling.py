"""cDR-RS: the density-ratio model recovers known ratios, rejection sampling turns q into p,
the feature extractors train and round-trip, and bad input ends in UserError."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cgankd.common.errors import UserError
from cgankd.models.trained import TrainedNet
from cgankd.subsampling import (CDRRS, ClassifierFeatures, DensityRatioModel, FakePool, SubsampledDraw,
                                cdr_rs_settings, csp_loss, rejection_sample, train_density_ratio, train_sparse_ae)

SMALL_DR = dict(widths=(64, 32), dropout=0.0, embed_dim=16)


pytestmark = pytest.mark.usefixtures("one_thread")


def normal_cdf(x: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    return 0.5 * (1.0 + torch.erf(x / (sigma * math.sqrt(2.0))))


def ks_statistic(samples: torch.Tensor, cdf) -> float:
    """Kolmogorov-Smirnov distance between the empirical CDF of `samples` and `cdf`."""
    x, _ = torch.sort(samples.double())
    n = len(x)
    f = cdf(x)
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return max((i / n - f).max().item(), (f - (i - 1) / n).max().item())


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.corrcoef(torch.stack([a.double(), b.double()]))[0, 1].item()


# ---------------------------------------------------------------- the loss

def test_csp_loss_matches_hand_computed_value():
    r_real, r_fake = torch.tensor([1.0, 2.0]), torch.tensor([0.5, 3.0])
    # E_fake[sigmoid(r) r] = (0.6224593 * 0.5 + 0.9525741 * 3) / 2        = 1.5844760
    # E_fake[softplus(r)]  = (log(1 + e^0.5) + log(1 + e^3)) / 2          = 2.0113322
    # E_real[sigmoid(r)]   = (0.7310586 + 0.8807971) / 2                  = 0.8059279
    # penalty              = 0.01 * ((0.5 + 3) / 2 - 1)^2                 = 0.005625
    expected = 1.5844760 - 2.0113322 - 0.8059279 + 0.005625
    assert csp_loss(r_real, r_fake, lam=0.01).item() == pytest.approx(expected, abs=1e-6)
    assert csp_loss(r_real, r_fake, lam=0.0).item() == pytest.approx(expected - 0.005625, abs=1e-6)


def test_csp_loss_gradient_vanishes_at_the_true_ratio():
    # One point with p = 0.3, q = 0.6: the divergence's derivative in r is sigmoid'(r) (q r - p).
    r = torch.tensor([0.5, 0.9], requires_grad=True)
    p, q = 0.3, 0.6
    loss = q * (torch.sigmoid(r) * r - torch.nn.functional.softplus(r)) - p * torch.sigmoid(r)
    loss.sum().backward()
    assert r.grad[0].abs().item() < 1e-7          # r = p / q
    assert r.grad[1].item() > 1e-3               # above p / q the loss grows


# ---------------------------------------------------------------- density-ratio recovery

MU_REAL = torch.tensor([[0.5, 0.0], [-1.0, 0.5]])
MU_FAKE = torch.tensor([[0.0, 0.0], [-1.0, 0.0]])


def gaussian_classes(mu: torch.Tensor, n_per_class: int, gen: torch.Generator):
    y = torch.arange(len(mu)).repeat_interleave(n_per_class)
    return torch.randn(len(y), mu.shape[1], generator=gen) + mu[y], y


def true_class_ratio(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    a, b = MU_REAL[y], MU_FAKE[y]
    return torch.exp(((a - b) * x).sum(1) - 0.5 * ((a ** 2).sum(1) - (b ** 2).sum(1)))


def test_density_ratio_recovers_gaussian_ratio_per_class():
    gen = torch.Generator().manual_seed(0)
    xr, yr = gaussian_classes(MU_REAL, 3000, gen)
    xf, yf = gaussian_classes(MU_FAKE, 3000, gen)
    model = train_density_ratio(xr, yr, FakePool(xf, yf, "classification", 2), "classification", epochs=40,
                                batch_size=512, lr=3e-3, seed=0, num_classes=2, **SMALL_DR)
    assert model.train_log[-1]["loss"] < model.train_log[0]["loss"]
    xt, yt = gaussian_classes(MU_FAKE, 1000, gen)
    r, truth = model.ratio(xt, yt), true_class_ratio(xt, yt)
    assert (r >= 0).all()
    bulk = (xt - MU_FAKE[yt]).norm(dim=1) < 1.5
    for c in (0, 1):
        assert correlation(r[bulk & (yt == c)], truth[bulk & (yt == c)]) > 0.9
    rel = ((r - truth).abs() / truth)[bulk]
    assert rel.median().item() < 0.15
    assert rel.quantile(0.9).item() < 0.35
    assert r.mean().item() == pytest.approx(1.0, abs=0.1)      # E_fake[r] = 1
    # the class matters: scoring class-0 points as class 1 gives other ratios
    assert (model.ratio(xt[yt == 0], torch.ones_like(yt[yt == 0])) - r[yt == 0]).abs().mean() > 0.1


def test_density_ratio_recovers_ratio_for_continuous_labels():
    gen = torch.Generator().manual_seed(1)
    y = torch.rand(6000, generator=gen)
    xr = torch.randn(6000, 2, generator=gen)
    xr[:, 0] += y                                       # real: N((y, 0), I); fake: N(0, I) at the same labels
    xf = torch.randn(6000, 2, generator=gen)
    model = train_density_ratio(xr, y, FakePool(xf, y.clone(), "regression"), "regression", epochs=40,
                                batch_size=512, lr=3e-3, seed=0, **SMALL_DR)
    yt, xt = torch.rand(2000, generator=gen), torch.randn(2000, 2, generator=gen)
    truth = torch.exp(yt * xt[:, 0] - yt ** 2 / 2)
    r = model.ratio(xt, yt)
    bulk = xt.norm(dim=1) < 1.5
    assert correlation(r[bulk], truth[bulk]) > 0.9
    assert ((r - truth).abs() / truth)[bulk].median().item() < 0.15


def test_external_label_embedding_is_frozen_and_must_be_given_back():
    embed = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.ReLU())
    before = [p.clone() for p in embed.parameters()]
    gen = torch.Generator().manual_seed(2)
    x, y = torch.randn(64, 3, generator=gen), torch.rand(64, generator=gen)
    model = train_density_ratio(x, y, FakePool(x + 0.5, y, "regression"), "regression", epochs=2, batch_size=32,
                                lr=1e-3, label_embed=embed, widths=(16,), dropout=0.5)
    assert model.config["embed_dim"] == 8 and model.config["external_label_embed"]
    assert all(torch.equal(a, b) for a, b in zip(before, embed.parameters()))
    assert not any(k.startswith("_external") for k in model.state_dict())
    with pytest.raises(UserError, match="external label embedding"):
        DensityRatioModel.from_state(model.state())
    again = DensityRatioModel.from_state(model.state(), label_embed=embed)
    assert torch.allclose(again.ratio(x, y), model.ratio(x, y))


def test_mlp5_has_the_reference_layout():
    model = DensityRatioModel(3 * 32 * 32, "classification", num_classes=100)
    linears = [m for m in model.mlp if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [2048, 1024, 512, 256, 128, 1]
    assert linears[0].in_features == 3 * 32 * 32 + 100
    assert sum(isinstance(m, torch.nn.GroupNorm) and m.num_groups == 8 for m in model.mlp) == 5
    assert sum(isinstance(m, torch.nn.Dropout) and m.p == 0.5 for m in model.mlp) == 5
    assert isinstance(model.mlp[-1], torch.nn.ReLU)
    reg = DensityRatioModel(12288, "regression")
    assert [m.out_features for m in reg.mlp if isinstance(m, torch.nn.Linear)] == [1024, 512, 256, 128, 64, 1]


# ---------------------------------------------------------------- rejection sampling

SIGMA_P = 0.7


def gaussian_ratio(x: torch.Tensor) -> torch.Tensor:
    """N(0, 0.7^2) / N(0, 1): bounded by 1 / 0.7 at x = 0."""
    return torch.exp(-0.5 * x ** 2 * (1 / SIGMA_P ** 2 - 1)) / SIGMA_P


def test_rejection_sampling_turns_proposals_into_the_target():
    gen = torch.Generator().manual_seed(3)
    proposed = []

    def propose(n):
        proposed.append(n)
        return (torch.randn(n, generator=gen),)

    (x,), stats = rejection_sample(propose, lambda b: gaussian_ratio(b[0]), 4000, burn_in=500, batch_size=300,
                                   generator=torch.Generator().manual_seed(4))
    assert len(x) == 4000 and stats.accepted == 4000
    assert stats.proposed == sum(proposed) - 500            # burn-in drawn, then discarded
    critical = 1.628 / math.sqrt(len(x))                      # KS at the 1% level
    assert ks_statistic(x, lambda t: normal_cdf(t, SIGMA_P)) < critical
    assert ks_statistic(x, normal_cdf) > 3 * critical         # and clearly not the proposal any more
    assert stats.M == pytest.approx(1 / SIGMA_P, rel=0.01)
    assert stats.acceptance_rate == pytest.approx(1 / stats.M, abs=0.03)


def test_rejection_sampling_reports_bad_proposals_and_ratios():
    gen = torch.Generator().manual_seed(7)
    with pytest.raises(UserError, match="asked for"):
        rejection_sample(lambda n: (torch.randn(n + 1, generator=gen),), lambda b: torch.ones(len(b[0])), 10,
                         burn_in=0, batch_size=8)
    with pytest.raises(UserError, match="non-negative"):
        rejection_sample(lambda n: (torch.randn(n, generator=gen),), lambda b: -torch.ones(len(b[0])), 10,
                         burn_in=8, batch_size=8)
    # All-zero ratios: caught at the burn-in, or (without one) once max_proposed is reached.
    with pytest.raises(UserError, match="burn-in density ratios are 0"):
        rejection_sample(lambda n: (torch.randn(n, generator=gen),), lambda b: torch.zeros(len(b[0])), 2,
                         burn_in=8, batch_size=8, max_proposed=64)
    with pytest.raises(UserError, match="almost all zero"):
        rejection_sample(lambda n: (torch.randn(n, generator=gen),), lambda b: torch.zeros(len(b[0])), 2,
                         burn_in=0, batch_size=8, max_proposed=64)
    with pytest.raises(UserError, match="differ in length"):
        rejection_sample(lambda n: (torch.zeros(n), torch.zeros(n + 1)), lambda b: torch.ones(len(b[0])), 2,
                         burn_in=0, batch_size=4)


# ---------------------------------------------------------------- feature extractors

def bar_images(positions: np.ndarray, rng: np.random.Generator, size: int = 28) -> np.ndarray:
    images = rng.integers(0, 40, size=(len(positions), 1, size, size)).astype(np.uint8)
    for i, p in enumerate(positions):
        images[i, :, 4:size - 4, p:p + 3] = 230
    return images


@pytest.fixture(scope="module")
def bars():
    rng = np.random.default_rng(0)
    pos = rng.integers(0, 25, 96)
    return torch.from_numpy(bar_images(pos, rng)), torch.from_numpy(pos / 24.0).float()


def test_sparse_ae_training_reduces_reconstruction_loss(bars):
    images, labels = bars
    kw = dict(batch_size=16, lr=0.05, seed=0, ch=4, head_widths=(16,), lr_step_every=0)
    untrained = train_sparse_ae(images, labels, 0, **kw)
    trained = train_sparse_ae(images, labels, 6, **kw)
    with torch.no_grad():
        before, after = untrained.net.losses(images, labels), trained.net.losses(images, labels)
    assert after["recon"].item() < 0.5 * before["recon"].item()
    assert after["regression"].item() < before["regression"].item()
    feats = trained(images)
    assert feats.shape == (96, trained.dim) and trained.dim == 4 * 12 * 2 * 2   # 28 px padded to 32
    assert (feats >= 0).all() and torch.isfinite(feats).all()


def test_classifier_features_are_the_pooled_penultimate_vector(tmp_path):
    from cgankd.data import PixelNorm
    from cgankd.models import build_model, save_model_checkpoint
    kwargs = dict(num_classes=4, in_channels=1, img_size=28, task="classification")
    torch.manual_seed(0)
    net = build_model("resnet8", **kwargs)
    save_model_checkpoint(tmp_path / "clf.pt", net, arch="resnet8", model_kwargs=kwargs,
                          task={"kind": "classification", "num_classes": 4}, pixel_norm=PixelNorm((0.5,), (0.25,)))
    extractor = ClassifierFeatures(TrainedNet.load(tmp_path / "clf.pt"), batch_size=7)
    images = torch.randint(0, 256, (10, 1, 28, 28), dtype=torch.uint8)
    feats = extractor(images)
    assert feats.shape == (10, net.feat_dim) and extractor.dim == net.feat_dim
    with torch.no_grad():
        expected = net.eval()((images.float() / 255 - 0.5) / 0.25, is_feat=True)[0][-1]
    assert torch.allclose(feats, expected, atol=1e-5)
    again = ClassifierFeatures.from_state(extractor.state())
    assert torch.allclose(again(images), feats, atol=1e-6)
    save_model_checkpoint(tmp_path / "bare.pt", net, arch="resnet8", model_kwargs=kwargs, task=None)
    with pytest.raises(UserError, match="no task or pixel normalisation"):
        TrainedNet.load(tmp_path / "bare.pt")


# ---------------------------------------------------------------- CDRRS glue

def test_cdrrs_fit_subsample_save_load_round_trip(bars, tmp_path):
    images, labels = bars
    extractor = train_sparse_ae(images, labels, 1, batch_size=32, lr=0.01, seed=0, ch=4, head_widths=(16,))
    settings = cdr_rs_settings("regression", {"dr": {"widths": [32, 16], "epochs": 3, "batch_size": 32, "lr": 1e-3},
                                              "rs": {"burn_in": 16, "batch_size": 16}})
    fakes = images.clone()
    fakes[:, :, :, 12:] //= 2                                  # fakes: right half darkened
    bank = torch.Generator().manual_seed(8)

    def propose(labels):                                       # "fresh" fakes: drawn from the darkened bank
        return fakes[torch.randint(0, len(fakes), (len(labels),), generator=bank)]

    sampler = CDRRS(extractor, "regression", settings=settings).fit(images, labels, propose, seed=1)
    assert len(sampler.fit_log) == 3
    r = sampler.ratio(fakes[:20], labels[:20])
    assert r.shape == (20,) and (r >= 0).all()

    draw = SubsampledDraw(propose, sampler, seed=3, label_dtype=torch.float32)
    out = torch.cat([draw(0.25, 10), draw(0.75, 10)])
    assert out.shape == (20, 1, 28, 28) and out.dtype == torch.uint8
    assert set(draw.m) == {0.25, 0.75} and all(m > 0 for m in draw.m.values())
    assert 0 < draw.acceptance_rate <= 1
    bank_rows = {img.numpy().tobytes() for img in fakes}
    assert all(img.numpy().tobytes() in bank_rows for img in out)     # accepted fakes, untouched

    path = tmp_path / "cdrrs.pt"
    sampler.save(path)
    loaded = CDRRS.load(path)
    assert loaded.settings == settings and loaded.task_kind == "regression"
    assert torch.allclose(loaded.ratio(fakes[:20], labels[:20]), r, atol=1e-5)
    assert not list(tmp_path.glob(".*.tmp"))                   # atomic write left no temp file


def test_cdrrs_load_refuses_missing_and_foreign_files(tmp_path):
    with pytest.raises(UserError, match="not found"):
        CDRRS.load(tmp_path / "nothing.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"model": 1}, foreign)
    with pytest.raises(UserError, match="not a cDR-RS file"):
        CDRRS.load(foreign)
    (tmp_path / "garbage.pt").write_bytes(b"not a torch file")
    with pytest.raises(UserError, match="cannot be read"):
        CDRRS.load(tmp_path / "garbage.pt")


# ---------------------------------------------------------------- bad input

def test_bad_input_raises_user_error(bars):
    x, y = torch.randn(10, 3), torch.randint(0, 2, (10,))
    with pytest.raises(UserError, match="unknown task kind"):
        train_density_ratio(x, y, FakePool(x, y, "classification", 2), "segmentation", epochs=1)
    with pytest.raises(UserError, match="10 feature vectors but labels"):
        train_density_ratio(x, y[:9], FakePool(x, y, "classification", 2), "classification", epochs=1, num_classes=2)
    with pytest.raises(UserError, match="dims"):
        train_density_ratio(x, y, FakePool(torch.randn(10, 4), y, "classification", 2), "classification", epochs=1,
                            num_classes=2)
    with pytest.raises(UserError, match=r"class ids must lie in \[0, 2\)"):
        train_density_ratio(x, y + 5, FakePool(x, y, "classification", 2), "classification", epochs=1,
                            num_classes=2)
    with pytest.raises(UserError, match="no sample of class 1"):
        train_density_ratio(x, torch.ones(10, dtype=torch.long),
                            FakePool(x, torch.zeros(10, dtype=torch.long), "classification", 2),
                            "classification", epochs=1, num_classes=2)
    with pytest.raises(UserError, match="needs num_classes"):
        train_density_ratio(x, y, FakePool(x, y, "classification", 2), "classification", epochs=1)
    with pytest.raises(UserError, match="NaN"):
        train_density_ratio(x, y.float() * float("nan"), FakePool(x, y.float(), "regression"), "regression",
                            epochs=1)
    with pytest.raises(UserError, match="unknown task kind"):
        CDRRS(None, "ranking")
    with pytest.raises(UserError, match="unknown cDR-RS dr setting"):
        cdr_rs_settings("classification", {"dr": {"width": [8]}})
    images, labels = bars
    with pytest.raises(UserError, match="96 real images but 95 real labels"):
        CDRRS(None, "regression").fit(images, labels[:95], lambda y: images[:len(y)])
    with pytest.raises(UserError, match="uint8"):
        train_sparse_ae(images.float(), labels, 1)
    with pytest.raises(UserError, match="96 images but 95 labels"):
        train_sparse_ae(images, labels[:95], 1)
    with pytest.raises(UserError, match="not fitted"):
        CDRRS(None, "regression").ratio(images, labels)
