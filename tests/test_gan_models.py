"""BigGAN / CcGAN networks: shapes for every config, conditioning, spectral norm, init."""

import pytest
import torch

from cgankd.gans.biggan import G_ARCH, BigGANDiscriminator, BigGANGenerator, build_biggan
from cgankd.gans.ccgan import CC_G_ARCH, build_ccgan
from cgankd.gans.config import gan_config
from cgankd.gans.layers import ConditionalBatchNorm2d, SelfAttention, init_weights, is_spectral, raw_weight, \
    sn_conv

torch.set_num_threads(2)


def tiny_biggan(size, channels, **extra):
    cfg = gan_config("biggan", None, {"g_ch": 2, "d_ch": 2, "dim_z": 12, **extra})
    return build_biggan(cfg, img_size=size, channels=channels, num_classes=5)


@pytest.mark.parametrize("size", sorted(G_ARCH))
@pytest.mark.parametrize("channels", [1, 3])
def test_biggan_shapes_every_config(size, channels):
    torch.manual_seed(0)
    g, d = tiny_biggan(size, channels)
    z, y = torch.randn(3, g.dim_z), torch.tensor([0, 2, 4])
    x = g(z, y)
    assert x.shape == (3, channels, size, size)
    assert x.abs().max() <= 1.0
    assert d(x, y).shape == (3,)


@pytest.mark.parametrize("size", [32, 64])
def test_biggan_shared_hierarchical_attention(size):
    torch.manual_seed(0)
    g, d = tiny_biggan(size, 3, shared_dim=8, hier=True, g_attn=size // 2, d_attn=size // 2, g_ch=4, d_ch=4)
    n_blocks = len(g.blocks)
    assert g.z_chunk == 12 // (n_blocks + 1) and g.dim_z == g.z_chunk * (n_blocks + 1)
    assert len(g.attn) == 1 and len(d.attn) == 1
    x = g(torch.randn(2, g.dim_z), torch.tensor([1, 3]))
    assert x.shape == (2, 3, size, size) and d(x, torch.tensor([1, 3])).shape == (2,)
    # Each block's conditional BN sees the shared embedding plus its own z chunk.
    assert g.blocks[0].bn1.gain.in_features == 8 + g.z_chunk


@pytest.mark.parametrize("size", sorted(CC_G_ARCH))
@pytest.mark.parametrize("channels", [1, 3])
def test_ccgan_shapes_every_config(size, channels):
    torch.manual_seed(0)
    cfg = gan_config("ccgan", None, {"g_ch": 2, "d_ch": 2, "dim_z": 16, "dim_embed": 8})
    g, d = build_ccgan(cfg, img_size=size, channels=channels)
    h = torch.rand(4, 8)
    x = g(torch.randn(4, 16), h)
    assert x.shape == (4, channels, size, size)
    assert d(x, h).shape == (4,)
    assert len(g.attn) == (1 if size == 64 else 0)   # SAGAN attention at 32 px sits inside the 64 px G only


def test_conditional_batchnorm_uses_the_condition():
    torch.manual_seed(0)
    cbn = ConditionalBatchNorm2d(4, 3)
    torch.nn.init.normal_(cbn.gain.weight)
    torch.nn.init.normal_(cbn.bias.weight)
    x = torch.randn(2, 4, 5, 5)
    a = cbn(x, torch.tensor([[1.0, 0, 0], [1.0, 0, 0]]))
    b = cbn(x, torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]))
    assert torch.allclose(a[0], b[0])              # same condition, same output (stats are shared)
    assert not torch.allclose(a[1], b[1])          # another condition changes the sample
    # out = bn(x) * (1 + W_g c) + W_b c
    normed = torch.nn.functional.batch_norm(x, None, None, training=True, eps=1e-5)
    c = torch.tensor([[0.0, 1.0, 0.0]]).repeat(2, 1)
    expected = normed * (1 + cbn.gain.weight[:, 1]).view(1, 4, 1, 1) + cbn.bias.weight[:, 1].view(1, 4, 1, 1)
    assert torch.allclose(cbn(x, c), expected, atol=1e-5)


def test_biggan_generator_depends_on_class_and_gets_label_gradients():
    torch.manual_seed(0)
    g, d = tiny_biggan(32, 3, shared_dim=8)
    g.eval()
    z = torch.randn(1, g.dim_z).repeat(2, 1)
    x = g(z, torch.tensor([0, 1]))
    assert (x[0] - x[1]).abs().max() > 1e-4
    g.train()
    g(z, torch.tensor([0, 1])).sum().backward()
    assert g.shared.weight.grad[:2].abs().sum() > 0 and g.shared.weight.grad[2:].abs().sum() == 0
    # The projection discriminator's output moves with the class too.
    xr = torch.randn(1, 3, 32, 32).repeat(2, 1, 1, 1)
    out = d(xr, torch.tensor([0, 3]))
    assert (out[0] - out[1]).abs() > 0


def test_spectral_norm_on_every_conv_and_linear():
    g, d = tiny_biggan(32, 3, shared_dim=8, g_attn=16, d_attn=16, g_ch=8, d_ch=8)
    for net in (g, d):
        for m in net.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
                assert is_spectral(m), m
    assert is_spectral(d.embed)                   # the projection embedding too
    assert not is_spectral(g.shared)              # the shared class embedding is a plain lookup


def test_spectral_norm_bounds_the_largest_singular_value():
    torch.manual_seed(0)
    conv = sn_conv(6, 5, 3)
    with torch.no_grad():
        raw_weight(conv).mul_(10)
    conv.train()
    for _ in range(30):                            # power iterations run in training forwards
        conv(torch.randn(1, 6, 4, 4))
    sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
    assert sigma == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("style", ["ortho", "N02", "xavier"])
def test_init_styles(style):
    torch.manual_seed(0)
    net = torch.nn.Sequential(sn_conv(8, 8, 1), torch.nn.Linear(16, 16))
    init_weights(net, style)
    w_conv, w_lin = raw_weight(net[0]).flatten(1), net[1].weight
    if style == "ortho":
        assert torch.allclose(w_lin @ w_lin.T, torch.eye(16), atol=1e-5)
        assert torch.allclose(w_conv @ w_conv.T, torch.eye(8), atol=1e-5)
    elif style == "N02":
        assert 0.01 < w_lin.std() < 0.03
    assert net[1].bias.abs().max() == 0
    with pytest.raises(ValueError):
        init_weights(net, "bogus")


def test_self_attention_starts_as_identity_and_keeps_shape():
    torch.manual_seed(0)
    attn = SelfAttention(16)
    x = torch.randn(2, 16, 8, 8)
    assert torch.equal(attn(x), x)                 # gamma = 0 at init
    with torch.no_grad():
        attn.gamma.fill_(1.0)
    y = attn(x)
    assert y.shape == x.shape and not torch.equal(y, x)


def test_bad_architecture_is_rejected():
    with pytest.raises(ValueError):
        BigGANGenerator(img_size=32, channels=3, num_classes=3, ch=2, widths=[4, 4])
    with pytest.raises(ValueError):
        BigGANDiscriminator(img_size=32, channels=3, num_classes=3, ch=2, widths=[1, 2], down=[True])
    cfg = gan_config("biggan", None, {"g_ch": 2, "d_ch": 2})
    with pytest.raises(ValueError):
        build_biggan(cfg, img_size=48, channels=3, num_classes=3)
