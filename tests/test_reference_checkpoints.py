"""Released checkpoints of the reference (UBCDingXin/cGAN-KD, folder eval_and_gan_ckpts) load strictly.

The .pth files are not available offline, so each test builds a file the way the reference saves
it, from a small model of the reference's module tree written here: the same attribute names,
buffers and shapes, and its eval-mode forward from the reference's equations. Sources:
- BigGAN-PyTorch layers.py (SNConv2d / SNLinear with u0, sv0; ccbn; bn; GBlock; Attention),
  BigGAN.py and BigGANdeep.py (Generator), as vendored in CIFAR-100/BigGAN and
  ImageNet-100/make_fake_datasets/models; saved as a plain state dict (utils.save_weights).
- CIFAR-100/RepDistiller/models/densenet.py (DenseNet121), saved by train_teacher.py as
  {'opt': argparse.Namespace, 'model': state_dict}.
- make_fake_datasets/models/InceptionV3.py (Inception3) and ResNet_extract.py (ResNet34_extract),
  saved by make_fake_datasets/main.py as {'net_state_dict': DataParallel(net).state_dict()}.
"""

from __future__ import annotations

import argparse
import fractions
import math

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cgankd.cli import main
from cgankd.common.errors import UserError
from cgankd.gans.reference import (
    ReferenceArch,
    generator_from_state,
    load_reference_generator,
    reference_keys,
)
from cgankd.models import load_model
from cgankd.models.inception import load_reference_inception
from cgankd.models.reference_checkpoints import (
    convert_repdistiller_checkpoint,
    load_repdistiller_classifier,
)
from cgankd.models.resnet_extract import resnet34_extract
from cgankd.subsampling.features import FeatureExtractor
from cgankd.subsampling.reference_features import (
    ReferenceResNetFeatures,
    load_reference_feature_extractor,
)

torch.set_num_threads(1)
EPS_BN = 1e-5


# ---------------------------------------------------------------- the reference's module tree (layers.py)

def power_iteration_sigma(weight: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """layers.power_iteration in eval mode: one step from the stored u, which is not updated."""
    w = weight.view(weight.shape[0], -1)
    v = u @ w
    v = v / v.norm().clamp_min(1e-12)
    u_new = v @ w.t()
    u_new = u_new / u_new.norm().clamp_min(1e-12)
    return (u_new * (v @ w.t())).sum()


class RefSNConv2d(nn.Conv2d):
    def __init__(self, cin, cout, kernel=3, bias=True):
        super().__init__(cin, cout, kernel, padding=kernel // 2, bias=bias)
        self.register_buffer("u0", torch.randn(1, cout))
        self.register_buffer("sv0", torch.ones(1))

    def forward(self, x):
        return F.conv2d(x, self.weight / power_iteration_sigma(self.weight, self.u0), self.bias, padding=self.padding)


class RefSNLinear(nn.Linear):
    def __init__(self, cin, cout, bias=True):
        super().__init__(cin, cout, bias=bias)
        self.register_buffer("u0", torch.randn(1, cout))
        self.register_buffer("sv0", torch.ones(1))

    def forward(self, x):
        return F.linear(x, self.weight / power_iteration_sigma(self.weight, self.u0), self.bias)


class RefCCBN(nn.Module):
    """ccbn, norm_style 'bn': gain/bias tables (Embedding without G_shared, else bias-free SNLinear)."""

    def __init__(self, channels, cond, shared):
        super().__init__()
        self.gain = RefSNLinear(cond, channels, bias=False) if shared else nn.Embedding(cond, channels)
        self.bias = RefSNLinear(cond, channels, bias=False) if shared else nn.Embedding(cond, channels)
        self.register_buffer("stored_mean", torch.zeros(channels))
        self.register_buffer("stored_var", torch.ones(channels))

    def forward(self, x, y):
        gain = (1 + self.gain(y))[:, :, None, None]
        normed = (x - self.stored_mean[None, :, None, None]) / torch.sqrt(self.stored_var[None, :, None, None] + EPS_BN)
        return normed * gain + self.bias(y)[:, :, None, None]


class RefBN(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("stored_mean", torch.zeros(channels))
        self.register_buffer("stored_var", torch.ones(channels))

    def forward(self, x):
        return F.batch_norm(x, self.stored_mean, self.stored_var, self.gain, self.bias, False, 0.1, EPS_BN)


class RefAttention(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.ch = ch
        self.theta = RefSNConv2d(ch, ch // 8, 1, bias=False)
        self.phi = RefSNConv2d(ch, ch // 8, 1, bias=False)
        self.g = RefSNConv2d(ch, ch // 2, 1, bias=False)
        self.o = RefSNConv2d(ch // 2, ch, 1, bias=False)
        self.gamma = nn.Parameter(torch.tensor(0.))

    def forward(self, x):
        n, _, h, w = x.shape
        theta = self.theta(x).view(n, self.ch // 8, h * w)
        phi = F.max_pool2d(self.phi(x), 2).view(n, self.ch // 8, h * w // 4)
        g = F.max_pool2d(self.g(x), 2).view(n, self.ch // 2, h * w // 4)
        beta = F.softmax(theta.transpose(1, 2) @ phi, -1)
        return self.gamma * self.o((g @ beta.transpose(1, 2)).view(n, self.ch // 2, h, w)) + x


def up(x):
    return F.interpolate(x, scale_factor=2)


class RefGBlock(nn.Module):
    """BigGAN.py / layers.GBlock with upsampling (so conv_sc is learnable)."""

    def __init__(self, cin, cout, cond, shared):
        super().__init__()
        self.conv1, self.conv2 = RefSNConv2d(cin, cout), RefSNConv2d(cout, cout)
        self.conv_sc = RefSNConv2d(cin, cout, 1)
        self.bn1, self.bn2 = RefCCBN(cin, cond, shared), RefCCBN(cout, cond, shared)

    def forward(self, x, y):
        h = self.conv1(up(F.relu(self.bn1(x, y))))
        h = self.conv2(F.relu(self.bn2(h, y)))
        return h + self.conv_sc(up(x))


class RefDeepGBlock(nn.Module):
    """BigGANdeep.py's GBlock (channel_ratio 4)."""

    def __init__(self, cin, cout, cond, upsample):
        super().__init__()
        hidden = cin // 4
        self.cout, self.upsample = cout, upsample
        self.conv1, self.conv2 = RefSNConv2d(cin, hidden, 1), RefSNConv2d(hidden, hidden)
        self.conv3, self.conv4 = RefSNConv2d(hidden, hidden), RefSNConv2d(hidden, cout, 1)
        self.bn1 = RefCCBN(cin, cond, True)
        self.bn2, self.bn3, self.bn4 = (RefCCBN(hidden, cond, True) for _ in range(3))

    def forward(self, x, y):
        h = F.relu(self.bn2(self.conv1(F.relu(self.bn1(x, y))), y))
        x = x[:, :self.cout]
        if self.upsample:
            h, x = up(h), up(x)
        h = self.conv3(F.relu(self.bn3(self.conv2(h), y)))
        return self.conv4(F.relu(self.bn4(h, y))) + x


def output_layer(ch):
    return nn.Sequential(RefBN(ch), nn.ReLU(), RefSNConv2d(ch, 3))


class RefBigGAN32(nn.Module):
    """BigGAN.py Generator, resolution 32 (arch: in/out channels ch*[4, 4, 4]), G_shared off, no
    hier, no attention; y are class ids (`shared` is an identity without parameters)."""

    def __init__(self, ch=64, dim_z=128, n_classes=100):
        super().__init__()
        self.linear = RefSNLinear(dim_z, 4 * ch * 16)
        self.blocks = nn.ModuleList([nn.ModuleList([RefGBlock(4 * ch, 4 * ch, n_classes, False)]) for _ in range(3)])
        self.output_layer = output_layer(4 * ch)

    def forward(self, z, y):
        h = self.linear(z).view(len(z), -1, 4, 4)
        for blocklist in self.blocks:
            for block in blocklist:
                h = block(h, y)
        return torch.tanh(self.output_layer(h))


class RefBigGANDeep128(nn.Module):
    """BigGANdeep.py Generator, resolution 128 (in ch*[16,16,8,4,2], out ch*[16,8,4,2,1]), G_shared,
    hier, attention after the 64 px stage, `depth` blocks per stage at blocks.<k>.0."""

    def __init__(self, ch, depth=2, dim_z=128, shared_dim=128, n_classes=100):
        super().__init__()
        ins, outs = [16, 16, 8, 4, 2], [16, 8, 4, 2, 1]
        cond = shared_dim + dim_z
        self.shared = nn.Embedding(n_classes, shared_dim)
        self.linear = RefSNLinear(cond, 16 * ch * 16)
        blocks = []
        for stage, (cin, cout) in enumerate(zip(ins, outs)):
            for j in range(depth):
                last = j == depth - 1
                blocks.append([RefDeepGBlock(cin * ch, (cout if last else cin) * ch, cond, upsample=last)])
            if stage == 3:
                blocks[-1].append(RefAttention(cout * ch))
        self.blocks = nn.ModuleList([nn.ModuleList(b) for b in blocks])
        self.output_layer = output_layer(ch)

    def forward(self, z, y_ids):
        y = torch.cat([self.shared(y_ids), z], 1)
        h = self.linear(y).view(len(z), -1, 4, 4)
        for blocklist in self.blocks:
            for block in blocklist:
                h = block(h, y) if isinstance(block, RefDeepGBlock) else block(h)
        return torch.tanh(self.output_layer(h))


def randomised(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and statistics (positive variances, non-zero attention gates)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if not t.is_floating_point():
                continue
            if name.endswith(("stored_var", "running_var")):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            elif t.dim() == 1 and name.endswith(("gain", "bn.weight", "bn1.weight", "bn2.weight")):
                t.copy_(1 + 0.1 * torch.randn(t.shape, generator=gen))
            else:
                fan_in = math.prod(t.shape[1:]) if t.dim() > 1 else 25
                t.copy_(torch.randn(t.shape, generator=gen) / math.sqrt(fan_in))
    return model.eval()


@pytest.fixture(scope="module")
def cifar_ref() -> RefBigGAN32:
    return randomised(RefBigGAN32())


@pytest.fixture(scope="module")
def cifar_file(cifar_ref, tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpts") / "BigGAN_38K" / "G_ema.pth"
    path.parent.mkdir()
    torch.save(cifar_ref.state_dict(), path)       # BigGAN-PyTorch's utils.save_weights
    return path


def shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


# ---------------------------------------------------------------- BigGAN (CIFAR-100)

def test_reference_keys_match_the_reference_module_trees():
    assert reference_keys(ReferenceArch("biggan", 32, 100, ch=64)) == shapes(RefBigGAN32())
    with torch.device("meta"):
        deep = RefBigGANDeep128(ch=128)
    full = ReferenceArch("biggan_deep", 128, 100, ch=128, shared_dim=128, hier=True, attn_res=64, depth=2)
    assert reference_keys(full) == shapes(deep)
    assert "blocks.7.1.gamma" in shapes(deep) and "blocks.0.0.bn1.gain.u0" in shapes(deep)


def test_cifar_generator_matches_the_reference_forward(cifar_ref, cifar_file):
    g, info = load_reference_generator(cifar_file, "cifar100")
    assert (info["img_size"], info["num_classes"], info["ch"], info["iteration"], info["ema"]) == (32, 100, 64, 38000, True)
    z, y = torch.randn(3, 128), torch.tensor([0, 41, 99])
    with torch.no_grad():
        expected = cifar_ref(z, y)
        got = g(z, y)
    assert got.shape == (3, 3, 32, 32) and got.abs().max() <= 1
    assert expected.std() > 0.05                      # not a saturated or constant image
    torch.testing.assert_close(got, expected, atol=2e-5, rtol=1e-4)


def test_one_gblock_against_the_reference_equations(cifar_file):
    """blocks.0: ccbn (stored stats, per-class gain 1 + E_g[y] and bias E_b[y]) -> ReLU -> up ->
    SN conv (W / sigma, one power step from u0) -> ccbn -> ReLU -> SN conv, plus SN conv_sc(up(x))."""
    g, _ = load_reference_generator(cifar_file, "cifar100")
    sd = torch.load(cifar_file, weights_only=True)
    p = "blocks.0.0."
    x, y = torch.randn(2, 256, 4, 4), torch.tensor([3, 77])

    def ccbn(h, name):
        mean, var = sd[p + name + ".stored_mean"], sd[p + name + ".stored_var"]
        normed = (h - mean.view(1, -1, 1, 1)) / (var.view(1, -1, 1, 1) + EPS_BN).sqrt()
        gain, bias = sd[p + name + ".gain.weight"][y], sd[p + name + ".bias.weight"][y]
        return normed * (1 + gain)[:, :, None, None] + bias[:, :, None, None]

    def sn_conv(h, name):
        w, u = sd[p + name + ".weight"], sd[p + name + ".u0"]
        w_mat = w.view(w.shape[0], -1)
        v = F.normalize(u @ w_mat)
        u2 = F.normalize(v @ w_mat.t())
        sigma = (v @ w_mat.t() @ u2.t()).item()
        return F.conv2d(h, w / sigma, sd[p + name + ".bias"], padding=w.shape[-1] // 2)

    h = sn_conv(F.interpolate(F.relu(ccbn(x, "bn1")), scale_factor=2), "conv1")
    h = sn_conv(F.relu(ccbn(h, "bn2")), "conv2")
    expected = h + sn_conv(F.interpolate(x, scale_factor=2), "conv_sc")
    with torch.no_grad():
        got = g.blocks[0](x, F.one_hot(y, 100).float())
    torch.testing.assert_close(got, expected, atol=2e-5, rtol=1e-4)


def _saved(state, path):
    torch.save(state, path)
    return path


def test_strict_mapping_names_the_key(cifar_ref, tmp_path):
    sd = cifar_ref.state_dict()
    missing = {k: v for k, v in sd.items() if k != "blocks.1.0.bn2.stored_var"}
    with pytest.raises(UserError, match=r"missing keys \['blocks\.1\.0\.bn2\.stored_var'\]") as err:
        load_reference_generator(_saved(missing, tmp_path / "a.pth"), "cifar100")
    assert "a.pth" in str(err.value)
    extra = {**sd, "blocks.3.0.conv1.weight": torch.zeros(1)}
    with pytest.raises(UserError, match=r"unexpected keys \['blocks\.3\.0\.conv1\.weight'\]"):
        load_reference_generator(_saved(extra, tmp_path / "b.pth"), "cifar100")
    wrong = {**sd, "linear.weight": torch.zeros(4096, 120)}
    with pytest.raises(UserError, match=r"linear\.weight has shape \(4096, 120\), expected \(4096, 128\)"):
        load_reference_generator(_saved(wrong, tmp_path / "c.pth"), "cifar100")


# ---------------------------------------------------------------- BigGAN-deep (ImageNet-100)

def test_small_biggan_deep_matches_the_reference_forward(tmp_path):
    ref = randomised(RefBigGANDeep128(ch=8), seed=1)
    with torch.no_grad():
        for block in ref.modules():
            if isinstance(block, RefAttention):
                block.gamma.fill_(0.7)
    arch = ReferenceArch("biggan_deep", 128, 100, ch=8, shared_dim=128, hier=True, attn_res=64, depth=2)
    g = generator_from_state(ref.state_dict(), arch, "small deep")
    z, y = torch.randn(2, 128), torch.tensor([5, 60])
    with torch.no_grad():
        torch.testing.assert_close(g(z, y), ref(z, y), atol=3e-5, rtol=1e-4)
    # A BigGAN-deep file given with the CIFAR-100 preset: the error says which preset it needs.
    with pytest.raises(UserError, match="pass --preset imagenet100"):
        load_reference_generator(_saved(ref.state_dict(), tmp_path / "G_ema.pth"), "cifar100")


def test_full_size_biggan_deep_file_samples_128px_images(tmp_path):
    arch = ReferenceArch("biggan_deep", 128, 100, ch=128, shared_dim=128, hier=True, attn_res=64, depth=2)
    gen = torch.Generator().manual_seed(0)
    state = {k: torch.randn(s, generator=gen) * 0.05 for k, s in reference_keys(arch).items()}
    state.update({k: v.abs() + 0.5 for k, v in state.items() if k.endswith("stored_var")})
    (tmp_path / "BigGAN_deep_96K").mkdir()
    path = _saved(state, tmp_path / "BigGAN_deep_96K" / "G_ema.pth")
    g, info = load_reference_generator(path, "imagenet100")
    assert (info["kind"], info["depth"], info["attn_res"], info["iteration"]) == ("biggan_deep", 2, 64, 96000)
    with torch.no_grad():
        x = g(torch.randn(1, 128), torch.tensor([7]))
    assert x.shape == (1, 3, 128, 128) and torch.isfinite(x).all() and x.abs().max() <= 1


# ---------------------------------------------------------------- RepDistiller teacher (densenet121)

class RefBottleneck(nn.Module):
    def __init__(self, cin, growth):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, 4 * growth, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(4 * growth), nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

    def forward(self, x):
        return torch.cat([self.conv2(F.relu(self.bn2(self.conv1(F.relu(self.bn1(x)))))), x], 1)


class RefTransition(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.bn, self.conv = nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), 2)


class RefDenseNet121(nn.Module):
    """RepDistiller/models/densenet.py: DenseNet(Bottleneck, [6, 12, 24, 16], growth_rate=32)."""

    def __init__(self, num_classes=100, growth=32, blocks=(6, 12, 24, 16)):
        super().__init__()
        planes = 2 * growth
        self.conv1 = nn.Conv2d(3, planes, 3, padding=1, bias=False)
        for i, n in enumerate(blocks, 1):
            setattr(self, f"dense{i}", nn.Sequential(*[RefBottleneck(planes + j * growth, growth) for j in range(n)]))
            planes += n * growth
            if i < 4:
                setattr(self, f"trans{i}", RefTransition(planes, math.floor(planes * 0.5)))
                planes = math.floor(planes * 0.5)
        self.bn, self.linear = nn.BatchNorm2d(planes), nn.Linear(planes, num_classes)

    def forward(self, x):
        out = self.trans1(self.dense1(self.conv1(x)))
        out = self.trans3(self.dense3(self.trans2(self.dense2(out))))
        out = F.avg_pool2d(F.relu(self.bn(self.dense4(out))), 4)
        return self.linear(out.flatten(1))


@pytest.fixture(scope="module")
def densenet_ref():
    return randomised(RefDenseNet121(), seed=2)


def test_repdistiller_teacher_loads_with_its_namespace(densenet_ref, tmp_path):
    opt = argparse.Namespace(model="densenet121", epochs=240, learning_rate=0.05, lr_decay_epochs=[150, 180, 210])
    path = tmp_path / "ckpt_densenet121_epoch_240_last.pth"
    torch.save({"opt": opt, "model": densenet_ref.state_dict()}, path)     # train_teacher.py's final save
    model, info = load_repdistiller_classifier(path, "densenet121", 100)
    assert info["opt"]["epochs"] == 240 and info["task"].num_classes == 100
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = densenet_ref(x)
        assert 1e-2 < expected.std() < 1e3
        torch.testing.assert_close(model(x), expected, atol=1e-4, rtol=1e-4)
    # As a cgankd model file, usable by --teacher / --feature-net.
    convert_repdistiller_checkpoint(path, tmp_path / "teacher.pt", arch="densenet121", num_classes=100,
                                    pixel_norm={"mean": [0.5071, 0.4867, 0.4408], "std": [0.2675, 0.2565, 0.2761]})
    converted, conv_info = load_model(tmp_path / "teacher.pt")
    assert conv_info["pixel_norm"]["mean"][0] == pytest.approx(0.5071)
    with torch.no_grad():
        torch.testing.assert_close(converted(x), densenet_ref(x), atol=1e-4, rtol=1e-4)


def test_repdistiller_file_with_another_object_is_refused(densenet_ref, tmp_path):
    path = tmp_path / "odd.pth"
    torch.save({"opt": fractions.Fraction(1, 3), "model": densenet_ref.state_dict()}, path)
    with pytest.raises(UserError, match=r"odd\.pth: holds a pickled fractions\.Fraction object; refused"):
        load_repdistiller_classifier(path, "densenet121", 100)
    sd = {k: v for k, v in densenet_ref.state_dict().items() if k != "dense3.7.conv2.weight"}
    torch.save({"opt": argparse.Namespace(), "model": sd}, path)
    with pytest.raises(UserError, match=r"missing keys \['dense3\.7\.conv2\.weight'\]"):
        load_repdistiller_classifier(path, "densenet121", 100)


# ---------------------------------------------------------------- InceptionV3 eval net

def _basic(p, cin, cout, kh, kw=None):
    """BasicConv2d: a bias-free conv and BatchNorm2d(eps=0.001)."""
    c = (cout,)
    return {f"{p}.conv.weight": (cout, cin, kh, kw or kh), f"{p}.bn.weight": c, f"{p}.bn.bias": c,
            f"{p}.bn.running_mean": c, f"{p}.bn.running_var": c, f"{p}.bn.num_batches_tracked": ()}


def inception_keys(num_classes):
    """InceptionV3.py, Inception3(num_classes, aux_logits=True): every conv branch and its shape."""
    k = {}
    for p, args in {"Conv2d_1a_3x3": (3, 32, 3), "Conv2d_2a_3x3": (32, 32, 3), "Conv2d_2b_3x3": (32, 64, 3),
                    "Conv2d_3b_1x1": (64, 80, 1), "Conv2d_4a_3x3": (80, 192, 3)}.items():
        k.update(_basic(p, *args))
    for p, cin, pool in (("Mixed_5b", 192, 32), ("Mixed_5c", 256, 64), ("Mixed_5d", 288, 64)):
        for b, args in {"branch1x1": (cin, 64, 1), "branch5x5_1": (cin, 48, 1), "branch5x5_2": (48, 64, 5),
                        "branch3x3dbl_1": (cin, 64, 1), "branch3x3dbl_2": (64, 96, 3),
                        "branch3x3dbl_3": (96, 96, 3), "branch_pool": (cin, pool, 1)}.items():
            k.update(_basic(f"{p}.{b}", *args))
    for b, args in {"branch3x3": (288, 384, 3), "branch3x3dbl_1": (288, 64, 1), "branch3x3dbl_2": (64, 96, 3),
                    "branch3x3dbl_3": (96, 96, 3)}.items():
        k.update(_basic(f"Mixed_6a.{b}", *args))
    for p, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        for b, args in {"branch1x1": (768, 192, 1), "branch7x7_1": (768, c7, 1), "branch7x7_2": (c7, c7, 1, 7),
                        "branch7x7_3": (c7, 192, 7, 1), "branch7x7dbl_1": (768, c7, 1),
                        "branch7x7dbl_2": (c7, c7, 7, 1), "branch7x7dbl_3": (c7, c7, 1, 7),
                        "branch7x7dbl_4": (c7, c7, 7, 1), "branch7x7dbl_5": (c7, 192, 1, 7),
                        "branch_pool": (768, 192, 1)}.items():
            k.update(_basic(f"{p}.{b}", *args))
    k.update(_basic("AuxLogits.conv0", 768, 128, 1))
    k.update(_basic("AuxLogits.conv1", 128, 768, 5))
    k.update({"AuxLogits.fc.weight": (num_classes, 768), "AuxLogits.fc.bias": (num_classes,)})
    for b, args in {"branch3x3_1": (768, 192, 1), "branch3x3_2": (192, 320, 3), "branch7x7x3_1": (768, 192, 1),
                    "branch7x7x3_2": (192, 192, 1, 7), "branch7x7x3_3": (192, 192, 7, 1),
                    "branch7x7x3_4": (192, 192, 3)}.items():
        k.update(_basic(f"Mixed_7a.{b}", *args))
    for p, cin in (("Mixed_7b", 1280), ("Mixed_7c", 2048)):
        for b, args in {"branch1x1": (cin, 320, 1), "branch3x3_1": (cin, 384, 1), "branch3x3_2a": (384, 384, 1, 3),
                        "branch3x3_2b": (384, 384, 3, 1), "branch3x3dbl_1": (cin, 448, 1),
                        "branch3x3dbl_2": (448, 384, 3), "branch3x3dbl_3a": (384, 384, 1, 3),
                        "branch3x3dbl_3b": (384, 384, 3, 1), "branch_pool": (cin, 192, 1)}.items():
            k.update(_basic(f"{p}.{b}", *args))
    k.update({"fc.weight": (num_classes, 2048), "fc.bias": (num_classes,)})
    return k


def random_state(keys, seed=0):
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in keys.items():
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(0)
        elif name.endswith("running_var"):
            state[name] = torch.rand(shape, generator=gen) + 0.5
        else:
            fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
            state[name] = torch.randn(shape, generator=gen) / math.sqrt(fan_in)
    return state


def test_inception_eval_net_gives_pool_features_and_logits(tmp_path):
    state = {f"module.{k}": v for k, v in random_state(inception_keys(100)).items()}   # DataParallel
    path = tmp_path / "ckpt_PreCNNForEval_InceptionV3_epoch_200_SEED_2021_Transformation_True.pth"
    torch.save({"net_state_dict": state}, path)
    net = load_reference_inception(path, num_classes=100)
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    feats, logits = net.features_and_logits(images)
    assert feats.shape == (2, 2048) and logits.shape == (2, 100)
    # eval_metrics.py: images in [-1, 1], bilinear resize to 299; the net's own forward gives the logits.
    x = F.interpolate((images.float() / 255 - 0.5) / 0.5, size=(299, 299), mode="bilinear", align_corners=False)
    with torch.no_grad():
        torch.testing.assert_close(logits, net.net(x), atol=1e-4, rtol=1e-4)
    f_np, pred = net(images.numpy())
    assert f_np.shape == (2, 2048) and (pred == logits.argmax(1).numpy()).all()
    del state["module.AuxLogits.fc.bias"]
    torch.save({"net_state_dict": state}, path)
    with pytest.raises(UserError, match=r"missing keys \['AuxLogits\.fc\.bias'\]"):
        load_reference_inception(path)


# ---------------------------------------------------------------- ResNet34_extract (cDR-RS features)

def _bn(p, c):
    return {f"{p}.weight": (c,), f"{p}.bias": (c,), f"{p}.running_mean": (c,), f"{p}.running_var": (c,),
            f"{p}.num_batches_tracked": ()}


def resnet_extract_keys(num_classes, img_size):
    """ResNet_extract.py: main = conv, bn, relu, layer1, [maxpool], layer2, [maxpool], layer3, layer4,
    avgpool (max-pools in the 128 px file only); classifier_1 = Linear(512, 3*H*W);
    classifier_2 = BN1d, ReLU, Dropout, Linear(., 1024), BN1d, ReLU, Dropout, Linear(., 256), ..., Linear(., K)."""
    k = {"main.0.weight": (64, 3, 3, 3), **_bn("main.1", 64)}
    stage_at = (3, 5, 7, 8) if img_size == 128 else (3, 4, 5, 6)
    cin = 64
    for idx, planes, n, stride in zip(stage_at, (64, 128, 256, 512), (3, 4, 6, 3), (1, 2, 2, 2)):
        for b in range(n):
            p = f"main.{idx}.{b}"
            k.update({f"{p}.conv1.weight": (planes, cin, 3, 3), **_bn(f"{p}.bn1", planes),
                      f"{p}.conv2.weight": (planes, planes, 3, 3), **_bn(f"{p}.bn2", planes)})
            if b == 0 and (stride != 1 or cin != planes):
                k.update({f"{p}.shortcut.0.weight": (planes, cin, 1, 1), **_bn(f"{p}.shortcut.1", planes)})
            cin = planes
    d = 3 * img_size * img_size
    k.update({"classifier_1.0.weight": (d, 512), "classifier_1.0.bias": (d,)})
    for i, (a, b) in zip((0, 4, 8), ((d, 1024), (1024, 256), (256, num_classes))):
        k.update(_bn(f"classifier_2.{i}", a))
        k.update({f"classifier_2.{i + 3}.weight": (b, a), f"classifier_2.{i + 3}.bias": (b,)})
    return k


def test_resnet34_extract_is_a_cdr_rs_feature_extractor(tmp_path):
    assert shapes(resnet34_extract(100, 32)) == resnet_extract_keys(100, 32)
    with torch.device("meta"):
        assert shapes(resnet34_extract(100, 128)) == resnet_extract_keys(100, 128)
    state = {f"module.{k}": v for k, v in random_state(resnet_extract_keys(100, 32), seed=3).items()}
    path = tmp_path / "ckpt_PreCNNForDRE_ResNet34.pth"
    torch.save({"net_state_dict": state}, path)
    ext = load_reference_feature_extractor(path, num_classes=100, img_size=32)
    assert isinstance(ext, FeatureExtractor) and ext.dim == 3072
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    feats = ext(images)
    with torch.no_grad():   # main.py feeds the GAN's [-1, 1] scale: classifier_1 of the pooled trunk
        x = (images.float() / 255 - 0.5) / 0.5
        torch.testing.assert_close(feats, ext.net.classifier_1(ext.net.main(x).flatten(1)), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ReferenceResNetFeatures.from_state(ext.state())(images), feats)
    with pytest.raises(UserError, match="takes C x H x W"):
        ext(torch.zeros(1, 3, 28, 28, dtype=torch.uint8))
    state["module.classifier_2.11.weight"] = torch.zeros(10, 256)
    torch.save({"net_state_dict": state}, path)
    with pytest.raises(UserError, match=r"classifier_2\.11\.weight has shape \(10, 256\), expected \(100, 256\)"):
        load_reference_feature_extractor(path)


# ---------------------------------------------------------------- the command line

def test_gan_sample_takes_a_reference_generator(cifar_file, tmp_path, capsys):
    out = tmp_path / "fakes.h5"
    assert main(["gan", "sample", "--ckpt", str(cifar_file), "--preset", "cifar100", "--n", "20",
                 "--out", str(out), "--device", "cpu"]) == 0
    with h5py.File(out, "r") as f:
        images, labels = f["fake_images"][:], f["fake_labels"][:]
        assert f.attrs["gan_iteration"] == 38000
    assert images.shape == (20, 3, 32, 32) and images.dtype == np.uint8 and images.std() > 5
    assert labels.tolist() == list(range(20))
    bad = tmp_path / "G_ema.pth"
    torch.save({k: v for k, v in torch.load(cifar_file, weights_only=True).items() if k != "linear.u0"}, bad)
    assert main(["gan", "sample", "--ckpt", str(bad), "--preset", "cifar100", "--n", "2",
                 "--out", str(tmp_path / "no.h5"), "--device", "cpu"]) == 2
    assert "missing keys ['linear.u0']" in capsys.readouterr().err
    assert not (tmp_path / "no.h5").exists()
