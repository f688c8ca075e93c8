"""Hinge / vicinal losses, kappa and sigma rules, the vicinal sampler, DiffAugment, EMA, FID."""

import math

import numpy as np
import pytest
import torch

from cgankd.common.errors import UserError
from cgankd.eval.fid import fid, frechet_distance
from cgankd.common.settings import parse_settings, parse_value
from cgankd.gans.config import gan_config
from cgankd.gans.diffaug import cutout, diff_augment, parse_policy, translation
from cgankd.gans.ema import EMA, standing_stats
from cgankd.gans.losses import hinge_d_loss, hinge_g_loss
from cgankd.gans.vicinal import VicinalSampler, kappa_rule, kernel_sigma, max_gap

torch.set_num_threads(2)


def test_hinge_losses_by_hand():
    real = torch.tensor([2.0, 0.5, -1.0])
    fake = torch.tensor([-2.0, 0.0, 1.5])
    lr, lf = hinge_d_loss(real, fake)
    assert lr.item() == pytest.approx((0 + 0.5 + 2.0) / 3)
    assert lf.item() == pytest.approx((0 + 1.0 + 2.5) / 3)
    assert hinge_g_loss(fake).item() == pytest.approx(-(-2.0 + 0.0 + 1.5) / 3)


def test_vicinal_losses_by_hand():
    real, fake = torch.tensor([0.0, 3.0]), torch.tensor([0.0, -0.5])
    w_real, w_fake = torch.tensor([0.5, 1.0]), torch.tensor([0.25, 2.0])
    lr, lf = hinge_d_loss(real, fake, w_real, w_fake)
    assert lr.item() == pytest.approx((0.5 * 1.0 + 1.0 * 0.0) / 2)
    assert lf.item() == pytest.approx((0.25 * 1.0 + 2.0 * 0.5) / 2)


def test_sigma_rule_by_hand():
    y = np.array([0.0, 0.25, 0.5, 1.0])
    std = math.sqrt(((y - y.mean()) ** 2).mean())          # population std
    assert kernel_sigma(y) == pytest.approx(1.06 * std * 4 ** (-0.2))


def test_kappa_rules_by_hand():
    y = np.array([0.1, 0.1, 0.2, 0.5, 0.6])                 # distinct gaps 0.1, 0.3, 0.1
    assert max_gap(y) == pytest.approx(0.3)
    assert kappa_rule(y, -2, "hard") == pytest.approx(0.6)
    assert kappa_rule(y, -2, "soft") == pytest.approx(1 / 0.6 ** 2)
    with pytest.raises(ValueError):
        max_gap(np.array([0.3, 0.3]))


@pytest.mark.parametrize("vicinity", ["hard", "soft"])
def test_vicinal_sampler_respects_the_vicinity(vicinity):
    torch.manual_seed(0)
    labels = torch.tensor([0.0, 0.1, 0.2, 0.2, 0.5, 0.9, 1.0])
    kappa = 0.06 if vicinity == "hard" else 1 / 0.06 ** 2
    s = VicinalSampler(labels, sigma=0.05, kappa=kappa, vicinity=vicinity, weight_threshold=1e-3)
    b = s.batch(4000)
    radius = 0.06 if vicinity == "hard" else math.sqrt(-math.log(1e-3) / kappa)
    assert s.radius == pytest.approx(radius)
    y_real = labels[b.real_index]
    assert ((y_real - b.target).abs() <= radius + 1e-6).all()
    assert ((b.fake_label - b.target).abs() <= radius + 1e-6).all()
    assert (b.fake_label >= 0).all() and (b.fake_label <= 1).all()
    if vicinity == "hard":
        assert b.w_real is None and b.w_fake is None
    else:
        assert torch.allclose(b.w_real, torch.exp(-kappa * (y_real - b.target) ** 2))
        assert torch.allclose(b.w_fake, torch.exp(-kappa * (b.fake_label - b.target) ** 2))
        assert (b.w_real >= 1e-3 - 1e-6).all()
    # Targets are noisy training labels: their spread around labels matches sigma.
    t = s.targets(20000)
    nearest = (t[:, None] - torch.unique(labels)[None]).abs().min(dim=1).values
    assert nearest.mean() < 0.05


def test_diffaugment_keeps_shapes_and_is_differentiable():
    torch.manual_seed(0)
    x = torch.rand(6, 3, 16, 16, requires_grad=True)
    y = diff_augment(x * 2 - 1, "color,translation,cutout")
    assert y.shape == x.shape
    y.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert diff_augment(x, "") is x
    with pytest.raises(ValueError):
        parse_policy("color,blur")


def test_translation_moves_content_and_fills_zero():
    torch.manual_seed(1)
    x = torch.arange(64.0).view(1, 1, 8, 8).repeat(50, 1, 1, 1) + 1
    y = translation(x, ratio=0.25)
    for img in y[:, 0]:
        nz = img[img != 0]
        # Every kept pixel comes from the source, shifted by one common offset.
        r, c = torch.nonzero(img != 0)[0]
        src = int(img[r, c].item()) - 1
        dr, dc = src // 8 - int(r), src % 8 - int(c)
        assert abs(dr) <= 2 and abs(dc) <= 2
        assert len(nz) == (8 - abs(dr)) * (8 - abs(dc))


def test_cutout_zeroes_a_square_at_most():
    torch.manual_seed(0)
    x = torch.ones(40, 2, 8, 8)
    y = cutout(x, ratio=0.5)
    zeros = (y == 0).float().sum(dim=(2, 3))
    assert (zeros[:, 0] == zeros[:, 1]).all()       # same mask on every channel
    assert (zeros <= 16).all() and (zeros > 0).all()


def test_ema_update_math():
    src, tgt = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    with torch.no_grad():
        src.weight.fill_(1.0)
    ema = EMA(src, tgt, decay=0.9, start=2)
    assert torch.equal(tgt.weight, src.weight)
    with torch.no_grad():
        src.weight.fill_(3.0)
    ema.update(0)                                      # before start: a copy
    assert torch.allclose(tgt.weight, torch.full((1, 2), 3.0))
    with torch.no_grad():
        src.weight.fill_(5.0)
    ema.update(2)                                      # 0.9 * 3 + 0.1 * 5
    assert torch.allclose(tgt.weight, torch.full((1, 2), 3.2))
    ema.update(3)                                      # 0.9 * 3.2 + 0.1 * 5
    assert torch.allclose(tgt.weight, torch.full((1, 2), 3.38))
    assert not tgt.weight.requires_grad


def test_standing_stats_average_batchnorm_over_own_samples():
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    net[1].running_mean.fill_(100.0)

    def draw(n, rng):
        return (torch.randn(n, 3, generator=rng),)
    g = standing_stats(net, draw, n_batches=5, batch_size=16, seed=3)
    rng = torch.Generator().manual_seed(3)
    with torch.no_grad():
        means = torch.stack([net[0](torch.randn(16, 3, generator=rng)).mean(0) for _ in range(5)])
    assert torch.allclose(g[1].running_mean, means.mean(0), atol=1e-5)
    assert not g.training and net[1].running_mean[0] == 100.0   # the original is untouched


def test_fid_by_hand_and_sanity():
    # 1-D Gaussians: FID = (m1 - m2)^2 + (s1 - s2)^2
    assert frechet_distance(np.array([0.0]), np.array([[4.0]]), np.array([1.0]), np.array([[1.0]])) \
        == pytest.approx(1.0 + 1.0)
    rng = np.random.default_rng(0)
    real = rng.normal(size=(4000, 6)) @ rng.normal(size=(6, 6))
    a, b = real[:2000], real[2000:]
    noise = rng.uniform(-3, 3, size=(2000, 6))
    assert fid(a, b) < 0.05 * fid(a, noise)
    assert fid(a, a) == pytest.approx(0.0, abs=1e-6)


def test_config_overrides_and_errors():
    cfg = gan_config("biggan", {"biggan": {"g_ch": 8}}, parse_settings(["g_lr=1e-4", "betas=[0.5, 0.9]",
                                                                          "ema=false", "diffaug="]))
    assert cfg["g_ch"] == 8 and cfg["g_lr"] == 1e-4 and cfg["betas"] == [0.5, 0.9]
    assert cfg["ema"] is False and cfg["diffaug"] == ""
    assert parse_value("3") == 3 and parse_value("color,cutout") == "color,cutout"
    assert gan_config("ccgan", None, {"kappa": -2})["kappa"] == -2.0
    with pytest.raises(UserError, match="unknown biggan setting 'g_lrr'"):
        gan_config("biggan", None, {"g_lrr": 1})
    with pytest.raises(UserError, match="expected int"):
        gan_config("biggan", None, {"iters": "many"})
    with pytest.raises(UserError, match="KEY=VALUE"):
        parse_settings(["g_lr"])
    with pytest.raises(UserError, match="diffaug"):
        gan_config("biggan", None, {"diffaug": "color,blur"})
