"""Generators of the reference implementation in BigGAN-PyTorch's format (ajbrock/BigGAN-PyTorch,
as vendored in UBCDingXin/cGAN-KD): `G.pth` / `G_ema.pth`, a plain state dict
(`utils.save_weights`: `torch.save(G_ema.state_dict(), ...)`), loaded strictly into our networks.

Layouts (as `make_fake_datasets/main.py` builds them for sampling):
- cifar100, `eval_and_gan_ckpts/BigGAN_38K/G_ema.pth`: BigGAN.py's Generator at 32 px, G_ch 64,
  dim_z 128, 100 classes, G_shared off (each conditional BN's gain and bias are nn.Embedding
  tables over the classes), no hierarchical z, no attention -> our `BigGANGenerator`.
- imagenet100, `eval_and_gan_ckpts/BigGAN_deep_96K/G_ema.pth`: BigGANdeep.py's Generator at
  128 px, G_ch 128, G_depth 2 (the class default; launch_BigGAN_deep.sh sets the same), a shared
  128-d embedding, hierarchical z, attention at 64 px -> our `BigGANDeepGenerator`.

Reference module tree and keys (layers.py): SNConv2d / SNLinear hold `weight`, `bias` and the
power-iteration buffers `u0` (1, out) and `sv0` (1,); `ccbn` holds `gain` and `bias` (Embedding,
or bias-free SNLinear with a shared embedding) and the buffers `stored_mean` / `stored_var`; the
output `bn` holds `gain`, `bias`, `stored_mean`, `stored_var`; `Attention` holds SN convs theta,
phi, g, o and `gamma`. Blocks sit at `blocks.<i>.0`, attention at `blocks.<i>.1`, the output
layer at `output_layer.0` (bn) and `output_layer.2` (conv).

Spectral norm. In eval mode the reference's SN layer does one power-iteration step from its
stored u without updating it, sigma = v W^T u' with v = normalize(u W), u' = normalize(v W^T),
and uses W / sigma. The stored u never changes in eval mode, so that weight is a constant: it
is computed once here, the reference's way, and loaded into plain (un-normalised) layers.
torch's spectral norm (ours, layers.py) keeps both u and v and in eval mode takes sigma = u W v
from them without a step, so the reference's u0 alone cannot reproduce its weight that way.
Batch-norm uses the stored statistics, as the reference's eval mode does (no standing-stats
re-estimation).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from ..common.errors import UserError
from ..models.reference_checkpoints import (
    as_state_dict,
    check_state_keys,
    read_reference_file,
    strip_prefix,
)
from ..presets import get_preset
from .biggan import G_ARCH, BigGANGenerator
from .biggan_deep import BOTTOM, CHANNEL_RATIO, DEEP_WIDTHS, BigGANDeepGenerator

FORMAT = "BigGAN-PyTorch state dict"
# The sampler (make_fake_datasets/main.py) builds G with the class default SN_eps 1e-12.
SN_EPS = 1e-12


@dataclass(frozen=True)
class ReferenceArch:
    kind: str            # "biggan" (BigGAN.py) or "biggan_deep" (BigGANdeep.py)
    img_size: int
    num_classes: int
    ch: int
    dim_z: int = 128
    shared_dim: int = 0  # 0: G_shared off
    hier: bool = False
    attn_res: int = 0    # 0: no attention
    depth: int = 2       # BigGAN-deep blocks per resolution
    channels: int = 3


# Per preset: the reference's generator settings; image size and classes come from the preset.
REFERENCE_LAYOUTS: dict[str, dict[str, Any]] = {
    "cifar100": {"kind": "biggan", "ch": 64, "dim_z": 128, "shared_dim": 0, "hier": False, "attn_res": 0},
    "imagenet100": {"kind": "biggan_deep", "ch": 128, "dim_z": 128, "shared_dim": 128, "hier": True,
                    "attn_res": 64, "depth": 2},
}


def reference_arch(preset_name: str) -> ReferenceArch:
    data = get_preset(preset_name)["data"]     # unknown names end here, with the known ones
    name = preset_name.lower().replace("-", "").replace("_", "")
    if name not in REFERENCE_LAYOUTS:
        raise UserError(f"no reference generator layout for preset {preset_name!r}; "
                        f"known: {', '.join(REFERENCE_LAYOUTS)}")
    return ReferenceArch(img_size=data["img_size"], num_classes=data["num_classes"], channels=data["channels"],
                         **REFERENCE_LAYOUTS[name])


def guess_reference_preset(state: Mapping[str, torch.Tensor]) -> str | None:
    """The preset whose reference generator has this layout: bottleneck blocks (conv3) are
    BigGAN-deep's (imagenet100); per-class gain tables are the CIFAR-100 BigGAN's."""
    if "blocks.0.0.conv3.weight" in state:
        return "imagenet100"
    if "blocks.0.0.bn1.gain.weight" in state:
        return "cifar100"
    return None


# ---------------------------------------------------------------- the layer map

@dataclass(frozen=True)
class Layer:
    """One reference layer and where it goes in our generator.

    kind: "sn" (SN conv / linear: weight normalised here), "embed" (an Embedding used as a
    gain or bias table: transposed into a bias-free Linear over one-hot classes), "ccbn"
    (conditional BN statistics), "bn" (output BN), "tensor" (copied as is)."""
    kind: str
    ref: str
    ours: str
    shape: tuple[int, ...]
    bias: bool = False

    def ref_keys(self) -> dict[str, tuple[int, ...]]:
        if self.kind == "sn":
            keys = {f"{self.ref}.weight": self.shape, f"{self.ref}.u0": (1, self.shape[0]), f"{self.ref}.sv0": (1,)}
            if self.bias:
                keys[f"{self.ref}.bias"] = (self.shape[0],)
            return keys
        if self.kind == "embed":
            return {f"{self.ref}.weight": self.shape}
        if self.kind == "ccbn":
            return {f"{self.ref}.stored_mean": self.shape, f"{self.ref}.stored_var": self.shape}
        if self.kind == "bn":
            return {f"{self.ref}.{k}": self.shape for k in ("gain", "bias", "stored_mean", "stored_var")}
        return {self.ref: self.shape}

    def convert(self, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        r, o = self.ref, self.ours
        if self.kind == "sn":
            out = {f"{o}.weight": reference_sn_weight(state[f"{r}.weight"], state[f"{r}.u0"])}
            if self.bias:
                out[f"{o}.bias"] = state[f"{r}.bias"]
            return out
        if self.kind == "embed":
            return {f"{o}.weight": state[f"{r}.weight"].t().contiguous()}
        if self.kind == "ccbn":
            return {f"{o}.running_mean": state[f"{r}.stored_mean"], f"{o}.running_var": state[f"{r}.stored_var"]}
        if self.kind == "bn":
            return {f"{o}.weight": state[f"{r}.gain"], f"{o}.bias": state[f"{r}.bias"],
                    f"{o}.running_mean": state[f"{r}.stored_mean"], f"{o}.running_var": state[f"{r}.stored_var"]}
        return {o: state[r]}


def reference_sn_weight(weight: torch.Tensor, u: torch.Tensor, eps: float = SN_EPS) -> torch.Tensor:
    """W / sigma as the reference's SN layer computes it in eval mode (one step from u, no update)."""
    w = weight.reshape(weight.shape[0], -1)
    v = F.normalize(u @ w, eps=eps)
    u_new = F.normalize(v @ w.t(), eps=eps)
    sigma = (v @ w.t() @ u_new.t()).squeeze()
    return weight / sigma


def _sn(ref: str, ours: str, cout: int, cin: int, kernel: int | None, bias: bool = True) -> Layer:
    shape = (cout, cin) if kernel is None else (cout, cin, kernel, kernel)
    return Layer("sn", ref, ours, shape, bias)


def _ccbn(ref: str, ours: str, c: int, cond: int, num_classes: int, shared: bool) -> list[Layer]:
    if shared:
        tables = [_sn(f"{ref}.{t}", f"{ours}.{t}", c, cond, None, bias=False) for t in ("gain", "bias")]
    else:
        tables = [Layer("embed", f"{ref}.{t}", f"{ours}.{t}", (num_classes, c)) for t in ("gain", "bias")]
    return tables + [Layer("ccbn", ref, f"{ours}.bn", (c,))]


def _attention(ref: str, ours: str, c: int) -> list[Layer]:
    return [_sn(f"{ref}.theta", f"{ours}.theta", c // 8, c, 1, bias=False),
            _sn(f"{ref}.phi", f"{ours}.phi", c // 8, c, 1, bias=False),
            _sn(f"{ref}.g", f"{ours}.g", c // 2, c, 1, bias=False),
            _sn(f"{ref}.o", f"{ours}.out", c, c // 2, 1, bias=False),
            Layer("tensor", f"{ref}.gamma", f"{ours}.gamma", ())]


def _ends(a: ReferenceArch, cond_in: int, c0: int, c_last: int) -> tuple[list[Layer], list[Layer]]:
    head = [Layer("tensor", "shared.weight", "shared.weight", (a.num_classes, a.shared_dim))] if a.shared_dim else []
    head.append(_sn("linear", "linear", c0 * BOTTOM ** 2, cond_in, None))
    tail = [Layer("bn", "output_layer.0", "out_bn", (c_last,)), _sn("output_layer.2", "out_conv", a.channels, c_last, 3)]
    return head, tail


def biggan_layers(a: ReferenceArch) -> list[Layer]:
    """BigGAN.py's Generator (its G_arch table equals our G_ARCH at 32, 64 and 128 px)."""
    widths = [w * a.ch for w in G_ARCH[a.img_size]["widths"]]
    n_blocks = len(widths) - 1
    z_chunk = a.dim_z // (n_blocks + 1) if a.hier else 0
    cond = a.shared_dim + z_chunk if a.shared_dim else a.num_classes
    head, tail = _ends(a, z_chunk if a.hier else a.dim_z, widths[0], widths[-1])
    layers, res = head, BOTTOM
    for i in range(n_blocks):
        p, q, cin, cout = f"blocks.{i}.0", f"blocks.{i}", widths[i], widths[i + 1]
        layers += _ccbn(f"{p}.bn1", f"{q}.bn1", cin, cond, a.num_classes, bool(a.shared_dim))
        layers += _ccbn(f"{p}.bn2", f"{q}.bn2", cout, cond, a.num_classes, bool(a.shared_dim))
        layers += [_sn(f"{p}.conv1", f"{q}.conv1", cout, cin, 3), _sn(f"{p}.conv2", f"{q}.conv2", cout, cout, 3),
                   _sn(f"{p}.conv_sc", f"{q}.shortcut", cout, cin, 1)]
        res *= 2
        if res == a.attn_res:
            layers += _attention(f"blocks.{i}.1", f"attn.{i}", cout)
    return layers + tail


def biggan_deep_layers(a: ReferenceArch) -> list[Layer]:
    """BigGANdeep.py's Generator: `depth` GBlocks per resolution at blocks.<stage*depth+j>.0."""
    widths = [w * a.ch for w in DEEP_WIDTHS[a.img_size]]
    cond = a.shared_dim + a.dim_z
    head, tail = _ends(a, cond, widths[0], widths[-1])
    layers, res, k = head, BOTTOM, 0
    for stage in range(len(widths) - 1):
        for j in range(a.depth):
            p, q, cin = f"blocks.{k}.0", f"blocks.{k}", widths[stage]
            cout = widths[stage + 1] if j == a.depth - 1 else cin
            hidden = cin // CHANNEL_RATIO
            for name, c in (("bn1", cin), ("bn2", hidden), ("bn3", hidden), ("bn4", hidden)):
                layers += _ccbn(f"{p}.{name}", f"{q}.{name}", c, cond, a.num_classes, shared=True)
            layers += [_sn(f"{p}.conv1", f"{q}.conv1", hidden, cin, 1), _sn(f"{p}.conv2", f"{q}.conv2", hidden, hidden, 3),
                       _sn(f"{p}.conv3", f"{q}.conv3", hidden, hidden, 3), _sn(f"{p}.conv4", f"{q}.conv4", cout, hidden, 1)]
            k += 1
        res *= 2
        if res == a.attn_res:
            layers += _attention(f"blocks.{k - 1}.1", f"attn.{k - 1}", widths[stage + 1])
    return layers + tail


def reference_layers(a: ReferenceArch) -> list[Layer]:
    return biggan_deep_layers(a) if a.kind == "biggan_deep" else biggan_layers(a)


def reference_keys(a: ReferenceArch) -> dict[str, tuple[int, ...]]:
    """Every key of the reference generator's state dict with its shape."""
    keys: dict[str, tuple[int, ...]] = {}
    for layer in reference_layers(a):
        keys.update(layer.ref_keys())
    return keys


# ---------------------------------------------------------------- building our generator

def _without_spectral_norm(model: nn.Module) -> nn.Module:
    for module in model.modules():
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=False)
    return model


def plain_generator(a: ReferenceArch) -> nn.Module:
    """Our generator for `a` with plain (un-normalised) layers, weights to be loaded."""
    if a.kind == "biggan_deep":
        return BigGANDeepGenerator(img_size=a.img_size, channels=a.channels, num_classes=a.num_classes, ch=a.ch,
                                   dim_z=a.dim_z, shared_dim=a.shared_dim, depth=a.depth, attn_res=a.attn_res,
                                   sn=False, init=None)
    g = BigGANGenerator(img_size=a.img_size, channels=a.channels, num_classes=a.num_classes, ch=a.ch, dim_z=a.dim_z,
                        shared_dim=a.shared_dim, hier=a.hier, attn_res=a.attn_res, init="N02")
    return _without_spectral_norm(g)


def generator_from_state(state: Mapping[str, torch.Tensor], a: ReferenceArch, where: str) -> nn.Module:
    """Strictly check a reference state dict against `a` and load it into our generator (eval mode)."""
    layers = reference_layers(a)
    expected = {k: v for layer in layers for k, v in layer.ref_keys().items()}
    check_state_keys(state, expected, f"{where}: not a reference {a.kind} generator "
                                      f"({a.img_size} px, {a.num_classes} classes, ch {a.ch})")
    converted: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for layer in layers:
            converted.update(layer.convert(state))
    g = plain_generator(a)
    own = g.state_dict()
    uncovered = [k for k in own if k not in converted and not k.endswith("num_batches_tracked")]
    if uncovered or set(converted) - set(own):
        raise RuntimeError(f"reference layer map out of step with the generator: {uncovered[:3]} "
                           f"{sorted(set(converted) - set(own))[:3]}")
    g.load_state_dict(converted, strict=False)   # only the BN step counters stay as built
    return g.eval().requires_grad_(False)


# ---------------------------------------------------------------- files

def reference_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor] | None:
    """The file's state dict when it is a plain one (the BigGAN-PyTorch format), else None
    (e.g. a `cgankd gan train` checkpoint, which holds settings beside tensors)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - not a plain tensor file: the caller's own reader reports it
        return None
    if not isinstance(obj, Mapping) or not obj or "format" in obj:
        return None
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        return None
    return strip_prefix(obj)


def _iteration_from_folder(path: Path) -> int:
    """38000 for .../BigGAN_38K/G_ema.pth (the reference's folder names); 0 when unnamed."""
    match = re.search(r"_(\d+)K$", path.parent.name)
    return int(match.group(1)) * 1000 if match else 0


def load_reference_generator(path: str | os.PathLike, preset_name: str | None = None,
                             device: str | torch.device = "cpu", *,
                             state: Mapping[str, torch.Tensor] | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """A BigGAN-PyTorch-format generator (`G.pth` / `G_ema.pth`, a plain state dict) as our
    generator in eval mode on `device`, with a description of what was loaded.

    `preset_name` (cifar100 or imagenet100) picks the reference layout and gives the image size
    and classes; None guesses it from the keys. `state` skips reading the file again."""
    path = Path(path)
    if state is None:
        state = strip_prefix(as_state_dict(read_reference_file(path), str(path)))
    guessed = guess_reference_preset(state)
    name = preset_name or guessed
    if name is None:
        raise UserError(f"{path}: a state dict, but not of a reference generator layout this code knows; "
                        f"pass --preset ({', '.join(REFERENCE_LAYOUTS)})")
    try:
        arch = reference_arch(name)
    except UserError as err:
        raise UserError(f"{path}: {err}") from None
    if guessed is not None and reference_arch(guessed).kind != arch.kind:
        raise UserError(f"{path}: holds the {guessed} reference generator ({reference_arch(guessed).kind}), "
                        f"not the {name} one ({arch.kind}); pass --preset {guessed}")
    g = generator_from_state(state, arch, str(path)).to(device)
    description = {"format": FORMAT, "preset": name, **asdict(arch), "ema": path.stem.startswith("G_ema"),
                   "iteration": _iteration_from_folder(path), "path": str(path)}
    return g, description
