"""The model zoo: shapes, the KD feature contract, RepDistiller's parameter counts, 64/128 px
stems, the registry's errors and the checkpoint round trip and its errors."""

from __future__ import annotations

import types

import pytest
import torch
from torch import nn

from cgankd.common.errors import UserError
from cgankd.data.labels import LabelNorm
from cgankd.models import build_model, load_model, model_names, save_model_checkpoint
from cgankd.tasks import Task

ALL_NAMES = {
    "resnet8", "resnet14", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet8x4",
    "resnet32x4", "wrn_16_1", "wrn_16_2", "wrn_40_1", "wrn_40_2", "vgg8", "vgg11", "vgg13", "vgg16",
    "vgg19", "MobileNetV2", "ShuffleV1", "ShuffleV2", "ResNet18", "ResNet34", "ResNet50",
    "densenet121", "densenet161",
}
NUM_STAGES = {"vgg": 4, "MobileNetV2": 4, "ResNet": 4, "densenet": 4}   # others: 3


def num_stages(name: str) -> int:
    return next((n for prefix, n in NUM_STAGES.items() if name.startswith(prefix)), 3)


def images(channels: int, size: int, batch: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, channels, size, size, generator=torch.Generator().manual_seed(seed))


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_registry_holds_the_repdistiller_zoo():
    assert set(model_names()) == ALL_NAMES


# --- forward contract, every model ------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(ALL_NAMES))
def test_forward_heads_sizes_and_features(name):
    torch.manual_seed(0)
    stages = num_stages(name)

    # classification, 32 px, 3 channels: logits, feature lists with and without preact, BN taps
    model = build_model(name, num_classes=7, in_channels=3, img_size=32).eval()
    x = images(3, 32)
    with torch.no_grad():
        out = model(x)
        feats, out_f = model(x, is_feat=True)
        pre_feats, out_p = model(x, is_feat=True, preact=True)
    assert out.shape == (2, 7)
    assert torch.allclose(out, out_f) and torch.allclose(out, out_p)
    assert len(feats) == len(pre_feats) == stages + 2
    assert feats[-1].shape == (2, model.feat_dim) and torch.equal(feats[-1], pre_feats[-1])
    for f, p in zip(feats[:-1], pre_feats[:-1]):
        assert f.dim() == 4 and f.shape[0] == 2 and f.shape == p.shape
    bns = model.get_bn_before_relu()
    assert len(bns) == stages and all(isinstance(bn, nn.BatchNorm2d) for bn in bns)
    for bn, f in zip(bns, feats[1:-1]):
        # ShuffleV2's stage-closing BN acts on the transformed half of the channels
        expected = f.shape[1] // 2 if name == "ShuffleV2" else f.shape[1]
        assert bn.num_features == expected
    feat_modules = model.get_feat_modules()
    model_params = {id(p) for p in model.parameters()}
    assert isinstance(feat_modules, nn.ModuleList) and len(feat_modules) > 0
    assert all(id(p) in model_params for p in feat_modules.parameters())

    # classification, 28 px, 1 channel
    model = build_model(name, num_classes=10, in_channels=1, img_size=28).eval()
    with torch.no_grad():
        feats, out = model(images(1, 28), is_feat=True, preact=True)
    assert out.shape == (2, 10) and len(feats) == stages + 2 and feats[-1].shape == (2, model.feat_dim)

    # regression head at 28 px / 1 channel and 32 px / 3 channels: (B, 1), never negative
    for channels, size in ((1, 28), (3, 32)):
        model = build_model(name, num_classes=None, in_channels=channels, img_size=size, task="regression").eval()
        with torch.no_grad():
            feats, out = model(images(channels, size), is_feat=True)
        assert out.shape == (2, 1) and bool((out >= 0).all())
        assert feats[-1].shape == (2, model.feat_dim)


def test_preact_features_are_the_values_before_the_closing_relu():
    torch.manual_seed(0)
    x = images(3, 32)
    for name in ("resnet8", "vgg8", "ResNet18", "ShuffleV1"):
        model = build_model(name, num_classes=5).eval()
        with torch.no_grad():
            feats, _ = model(x, is_feat=True)
            pre, _ = model(x, is_feat=True, preact=True)
        for f, p in zip(feats[1:-1], pre[1:-1]):
            assert torch.allclose(f, torch.relu(p)) and bool((p < 0).any())
    # pre-activation nets: the tap is the BN that reads the stage output
    model = build_model("wrn_16_1", num_classes=5).eval()
    with torch.no_grad():
        feats, _ = model(x, is_feat=True)
        pre, _ = model(x, is_feat=True, preact=True)
        for f, p, bn in zip(feats[1:-1], pre[1:-1], model.get_bn_before_relu()):
            assert torch.allclose(p, bn(f), atol=1e-6)


def test_reading_preact_features_leaves_bn_running_stats_alone():
    x = images(3, 32)
    stats = []
    for preact in (False, True):
        torch.manual_seed(0)
        model = build_model("wrn_16_1", num_classes=5).train()
        model(x, is_feat=True, preact=preact)
        stats.append([bn.running_mean.clone() for bn in model.get_bn_before_relu()])
    for a, b in zip(*stats):
        assert torch.equal(a, b)


def test_every_parameter_gets_a_gradient():
    for name in ("resnet8", "wrn_16_1", "MobileNetV2", "ShuffleV2"):
        for task in ("classification", "regression"):
            torch.manual_seed(0)
            model = build_model(name, num_classes=4, in_channels=1, img_size=28, task=task).train()
            out = model(images(1, 28, batch=4))
            (out.float() - 0.5).pow(2).mean().backward()
            missing = [n for n, p in model.named_parameters() if p.grad is None]
            assert not missing, f"{name}/{task}: no gradient for {missing[:3]}"


def test_channels_last_gives_the_same_outputs():
    for name in ("resnet8", "ShuffleV1", "ShuffleV2"):
        torch.manual_seed(0)
        model = build_model(name, num_classes=5).eval()
        x = images(3, 32)
        with torch.no_grad():
            ref = model(x)
            out = model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
        assert torch.allclose(ref, out, atol=1e-5)


# --- parameter counts of the CIFAR-100 versions ------------------------------------------------
# Source of the expected integers: worked out below by hand, layer by layer (weights + biases +
# BN affine parameters), from the layer configurations in HobbitLong/RepDistiller
# models/{resnet,wrn,vgg,mobilenetv2,ShuffleNetv1,ShuffleNetv2,resnetv2}.py and, for DenseNet,
# UBCDingXin/cGAN-KD CIFAR-100/make_fake_datasets/models/densenet.py; 100 classes, 3 channels, 32 px.
# The arithmetic does not use the zoo's modules, so it checks the zoo against those configurations.

def conv(cin, cout, k, groups=1, bias=False):
    return cin // groups * cout * k * k + (cout if bias else 0)


def bn(c):
    return 2 * c


def linear(i, o):
    return i * o + o


def cifar_resnet_count(depth, widths, k=100):
    n = (depth - 2) // 6
    total, cin = conv(3, widths[0], 3) + bn(widths[0]), widths[0]
    for stage, planes in enumerate(widths[1:]):
        for b in range(n):
            stride = 2 if stage > 0 and b == 0 else 1
            total += conv(cin, planes, 3) + bn(planes) + conv(planes, planes, 3) + bn(planes)
            if stride != 1 or cin != planes:
                total += conv(cin, planes, 1) + bn(planes)
            cin = planes
    return total + linear(widths[3], k)


def wrn_count(depth, widen, k=100):
    n, ch = (depth - 4) // 6, [16, 16 * widen, 32 * widen, 64 * widen]
    total = conv(3, 16, 3)
    for s in range(3):
        for b in range(n):
            cin, cout = (ch[s] if b == 0 else ch[s + 1]), ch[s + 1]
            total += bn(cin) + conv(cin, cout, 3) + bn(cout) + conv(cout, cout, 3)
            total += conv(cin, cout, 1) if cin != cout else 0
    return total + bn(ch[3]) + linear(ch[3], k)


def vgg_count(cfg, k=100):
    total, cin = 0, 3
    for w in cfg:
        total += conv(cin, w, 3, bias=True) + bn(w)
        cin = w
    return total + linear(512, k)


def mobilenetv2_half_count(k=100):
    total, cin = conv(3, 16, 3) + bn(16), 16
    for t, c, n in ((1, 8, 1), (6, 12, 2), (6, 16, 3), (6, 32, 4), (6, 48, 3), (6, 80, 3), (6, 160, 1)):
        for _ in range(n):
            h = cin * t
            total += conv(cin, h, 1) + bn(h) + conv(h, h, 3, groups=h) + bn(h) + conv(h, c, 1) + bn(c)
            cin = c
    return total + conv(160, 1280, 1) + bn(1280) + linear(1280, k)


def shufflev1_count(k=100):
    total, cin = conv(3, 24, 1) + bn(24), 24
    for planes, blocks in ((240, 4), (480, 8), (960, 4)):
        for b in range(blocks):
            out = planes - cin if b == 0 else planes
            mid, g1 = out // 4, (1 if cin == 24 else 3)
            total += conv(cin, mid, 1, groups=g1) + bn(mid) + conv(mid, mid, 3, groups=mid) + bn(mid)
            total += conv(mid, out, 1, groups=3) + bn(out)
            cin = planes
    return total + linear(960, k)


def shufflev2_count(k=100):
    total, cin = conv(3, 24, 1) + bn(24), 24
    for planes, blocks in ((116, 3), (232, 7), (464, 3)):
        mid = planes // 2
        total += conv(cin, cin, 3, groups=cin) + bn(cin) + conv(cin, mid, 1) + bn(mid)          # down, left
        total += conv(cin, mid, 1) + bn(mid) + conv(mid, mid, 3, groups=mid) + bn(mid) + conv(mid, mid, 1) + bn(mid)
        total += blocks * (2 * (conv(mid, mid, 1) + bn(mid)) + conv(mid, mid, 3, groups=mid) + bn(mid))
        cin = planes
    return total + conv(464, 1024, 1) + bn(1024) + linear(1024, k)


def resnet50_count(k=100):
    total, cin = conv(3, 64, 3) + bn(64), 64
    for planes, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for b in range(blocks):
            out = 4 * planes
            total += conv(cin, planes, 1) + bn(planes) + conv(planes, planes, 3) + bn(planes) + conv(planes, out, 1) + bn(out)
            if b == 0 and (stride != 1 or cin != out):
                total += conv(cin, out, 1) + bn(out)
            cin = out
    return total + linear(2048, k)


def densenet_count(nblocks, g, k=100):
    planes = 2 * g
    total = conv(3, planes, 3)
    for i, n in enumerate(nblocks):
        for _ in range(n):
            total += bn(planes) + conv(planes, 4 * g, 1) + bn(4 * g) + conv(4 * g, g, 3)
            planes += g
        if i < 3:
            total += bn(planes) + conv(planes, planes // 2, 1)
            planes //= 2
    return total + bn(planes) + linear(planes, k)


PARAM_COUNTS = {   # name: (hand arithmetic, the integer it gives)
    "resnet8x4": (cifar_resnet_count(8, (32, 64, 128, 256)), 1_233_540),
    "resnet32x4": (cifar_resnet_count(32, (32, 64, 128, 256)), 7_433_860),
    "resnet56": (cifar_resnet_count(56, (16, 16, 32, 64)), 861_620),
    "resnet110": (cifar_resnet_count(110, (16, 16, 32, 64)), 1_736_564),
    "resnet20": (cifar_resnet_count(20, (16, 16, 32, 64)), 278_324),
    "wrn_40_2": (wrn_count(40, 2), 2_255_156),
    "wrn_40_1": (wrn_count(40, 1), 569_780),
    "wrn_16_2": (wrn_count(16, 2), 703_284),
    "vgg13": (vgg_count([64, 64, 128, 128, 256, 256, 512, 512, 512, 512]), 9_462_180),
    "vgg8": (vgg_count([64, 128, 256, 512, 512]), 3_965_028),
    "MobileNetV2": (mobilenetv2_half_count(), 812_836),
    "ShuffleV1": (shufflev1_count(), 949_258),
    "ShuffleV2": (shufflev2_count(), 1_355_528),
    "ResNet50": (resnet50_count(), 23_705_252),
    "densenet121": (densenet_count((6, 12, 24, 16), 32), 7_048_548),
}


@pytest.mark.parametrize("name", sorted(PARAM_COUNTS))
def test_cifar100_parameter_counts_match_repdistiller(name):
    arithmetic, expected = PARAM_COUNTS[name]
    assert arithmetic == expected
    assert n_params(build_model(name, num_classes=100, in_channels=3, img_size=32)) == expected


def test_regression_head_is_the_reference_mlp():
    model = build_model("resnet8", num_classes=None, task="regression")
    kinds = [type(m) for m in model.fc]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear, nn.ReLU]
    assert (model.fc[0].in_features, model.fc[0].out_features, model.fc[6].out_features) == (64, 512, 1)
    cls = build_model("resnet8", num_classes=100)
    head_extra = linear(64, 512) + bn(512) + linear(512, 512) + bn(512) + linear(512, 1) - linear(64, 100)
    assert n_params(model) - n_params(cls) == head_extra


# --- 64 and 128 px: the reference's stems ------------------------------------------------------

@pytest.mark.parametrize("name, size, stage1_hw", [
    ("resnet20", 64, 32),      # SteeringAngle resnet: stride-2 first stage
    ("wrn_16_1", 64, 32),      # UTKFace wrn: 4x4 stride-2 stem
    ("vgg8", 64, 32),          # RepDistiller: extra pool before block 4 at 64 px
    ("ShuffleV1", 128, 16),    # ImageNet-100: 4x4 stride-2 stem + max-pool, then CIFAR strides
    ("MobileNetV2", 128, 32),  # ImageNet-100: stride 2 in the second group
    ("resnet8x4", 128, 32),    # ImageNet-100: 4x4 stride-2 stem + max-pool
])
def test_large_inputs_follow_the_reference_stems(name, size, stage1_hw):
    torch.manual_seed(0)
    for task in ("classification", "regression"):
        model = build_model(name, num_classes=100, img_size=size, task=task).eval()
        with torch.no_grad():
            feats, out = model(images(3, size), is_feat=True)
        assert out.shape == ((2, 100) if task == "classification" else (2, 1))
        assert feats[1].shape[-1] == stage1_hw and feats[-1].shape == (2, model.feat_dim)


def test_large_input_stems_keep_the_cifar_counts_where_the_reference_does():
    # 128 px ResNet: only the stem conv grows (3x3 -> 4x4 kernel); the max-pool has no weights
    small, big = (n_params(build_model("resnet8x4", num_classes=100, img_size=s)) for s in (32, 128))
    assert big - small == conv(3, 32, 4) - conv(3, 32, 3)
    # 64 px ResNet (SteeringAngle): the strided first stage gains a 1x1 conv + BN shortcut
    small, big = (n_params(build_model("resnet20", num_classes=100, img_size=s)) for s in (32, 64))
    assert big - small == conv(16, 16, 1) + bn(16)


# --- registry errors ---------------------------------------------------------------------------

def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(UserError, match=r"unknown model 'resnet9'.*resnet8x4.*wrn_40_2"):
        build_model("resnet9", num_classes=10)


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_classes=10, img_size=48), "image sizes 28, 32, 64, 128; got 48"),
    (dict(num_classes=10, task="segmentation"), "unknown task 'segmentation'"),
    (dict(num_classes=10, in_channels=0), "in_channels >= 1"),
    (dict(num_classes=None), "num_classes >= 2"),
])
def test_bad_build_arguments_are_user_errors(kwargs, message):
    with pytest.raises(UserError, match=message):
        build_model("resnet8", **kwargs)


# --- checkpoints -------------------------------------------------------------------------------

def trained_resnet8(task: str = "classification") -> nn.Module:
    """A resnet8 whose BN statistics are no longer the defaults."""
    torch.manual_seed(0)
    model = build_model("resnet8", num_classes=4 if task == "classification" else None,
                        in_channels=1, img_size=28, task=task).train()
    with torch.no_grad():
        model(images(1, 28, batch=8, seed=1) * 3 + 1)
    return model.eval()


def test_checkpoint_round_trip(tmp_path):
    model = trained_resnet8()
    kwargs = dict(num_classes=4, in_channels=1, img_size=28, task="classification")
    norm = types.SimpleNamespace(mean=torch.tensor([0.25]), std=torch.tensor([0.5]))
    path = tmp_path / "ckpt" / "model.pt"
    save_model_checkpoint(path, model, arch="resnet8", model_kwargs=kwargs, task=Task("classification", 4),
                          pixel_norm=norm, extra={"epoch": 3})
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]   # no temp file left behind

    loaded, info = load_model(path)
    assert not loaded.training
    x = images(1, 28, seed=2)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert info["arch"] == "resnet8" and info["model_kwargs"] == kwargs and info["epoch"] == 3
    assert info["task"] == Task("classification", 4)
    assert info["pixel_norm"] == {"mean": [0.25], "std": [0.5]}


def test_checkpoint_round_trip_regression_and_wrapped_model(tmp_path):
    model = trained_resnet8("regression")
    kwargs = dict(num_classes=None, in_channels=1, img_size=28, task="regression")
    task = Task("regression", label_norm=LabelNorm(-88.13, 97.92))
    path = tmp_path / "reg.pt"
    save_model_checkpoint(path, nn.DataParallel(model), arch="resnet8", model_kwargs=kwargs, task=task,
                          pixel_norm={"mean": (0.5,), "std": (0.5,)})
    loaded, info = load_model(path)
    x = images(1, 28, seed=3)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert info["task"] == task and info["pixel_norm"] == {"mean": [0.5], "std": [0.5]}


def test_repdistiller_style_file_loads_with_arch_and_kwargs(tmp_path):
    model = trained_resnet8()
    path = tmp_path / "resnet8_best.pth"
    # a DataParallel-saved state dict, as the reference code writes it
    torch.save({"model": {f"module.{k}": v for k, v in model.state_dict().items()}, "epoch": 240}, path)
    kwargs = dict(num_classes=4, in_channels=1, img_size=28)
    loaded, info = load_model(path, arch="resnet8", model_kwargs=kwargs)
    x = images(1, 28, seed=4)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert info["task"] is None and info["pixel_norm"] is None and info["epoch"] == 240
    with pytest.raises(UserError, match="pass arch and model_kwargs"):
        load_model(path)


def one_line_user_error(fn, *args, **kwargs) -> str:
    with pytest.raises(UserError) as err:
        fn(*args, **kwargs)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_checkpoint_errors(tmp_path):
    model = trained_resnet8()
    kwargs = dict(num_classes=4, in_channels=1, img_size=28)
    good = tmp_path / "good.pt"
    save_model_checkpoint(good, model, arch="resnet8", model_kwargs=kwargs, task=None)
    payload = torch.load(good, weights_only=True)

    assert "not found" in one_line_user_error(load_model, tmp_path / "nope.pt")

    garbage = tmp_path / "garbage.pt"
    garbage.write_text("this is not a checkpoint\n")
    assert "not a PyTorch checkpoint" in one_line_user_error(load_model, garbage)

    no_model = tmp_path / "no_model.pt"
    torch.save({"net": payload["model"]}, no_model)
    assert "no 'model' key" in one_line_user_error(load_model, no_model)

    unknown = tmp_path / "unknown.pt"
    torch.save({**payload, "arch": "resnet9"}, unknown)
    assert "unknown model 'resnet9'" in one_line_user_error(load_model, unknown)

    deeper = tmp_path / "deeper.pt"
    torch.save({**payload, "arch": "resnet14"}, deeper)
    message = one_line_user_error(load_model, deeper)
    assert "arch 'resnet14'" in message and "missing keys ['layer1.1." in message

    extra = tmp_path / "extra.pt"
    torch.save({**payload, "model": {**payload["model"], "connector.weight": torch.zeros(3)}}, extra)
    assert "unexpected keys ['connector.weight']" in one_line_user_error(load_model, extra)

    classes = tmp_path / "classes.pt"
    torch.save({**payload, "model_kwargs": {**kwargs, "num_classes": 5}}, classes)
    message = one_line_user_error(load_model, classes)
    assert "fc.weight has shape (4, 64) in the file but (5, 64) in the model" in message
