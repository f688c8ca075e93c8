"""Checkpoint files of the reference implementation (UBCDingXin/cGAN-KD), read without running
arbitrary pickled code, and checked key by key against the net they are loaded into.

Formats:
- RepDistiller teacher (`RepDistiller/train_teacher.py`, e.g. `ckpt_densenet121_epoch_240_last.pth`):
  `{'opt': argparse.Namespace, 'model': state_dict}`; the net is not wrapped, so keys have no prefix.
- `{'net_state_dict': state_dict}` (`make_fake_datasets/main.py`: the InceptionV3 eval net and the
  ResNet34 cDR-RS feature extractor), saved from an `nn.DataParallel`, so every key starts
  with `module.`.
- a plain state dict (BigGAN-PyTorch's `G.pth` / `G_ema.pth`, read by `cgankd.gans.reference`).

Files are read with `torch.load(weights_only=True)`: tensors and plain containers only, plus
argparse.Namespace where a format stores one. Any other pickled object is refused.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..common.errors import UserError
from ..tasks import Task
from .checkpoint import save_model_checkpoint
from .registry import build_model

DATA_PARALLEL_PREFIX = "module."
_SHOWN = 3   # keys listed per kind of mismatch


def _refused_global(err: Exception) -> str | None:
    match = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(err))
    return match.group(1) if match else None


def read_reference_file(path: str | os.PathLike, *, allow_namespace: bool = False) -> Any:
    """torch.load on the CPU with weights_only=True; argparse.Namespace is let through only when
    `allow_namespace`. Every failure is one UserError line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    allowed = [argparse.Namespace] if allow_namespace else []
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        name = _refused_global(err)
        if name is None:
            raise UserError(f"{path}: not a readable PyTorch file ({str(err).splitlines()[0]})") from None
        extra = ", argparse.Namespace" if allow_namespace else ""
        raise UserError(f"{path}: holds a pickled {name} object; refused (only tensors, plain containers"
                        f"{extra} are read, so loading it cannot run code)") from None
    except Exception as err:  # noqa: BLE001 - a corrupt or foreign file is the user's to fix
        raise UserError(f"{path}: not a readable PyTorch file ({type(err).__name__})") from None


def as_state_dict(obj: Any, where: str) -> dict[str, torch.Tensor]:
    """A mapping of str -> Tensor, or a UserError saying what the file holds instead."""
    if not isinstance(obj, Mapping):
        raise UserError(f"{where}: expected a state dict, got a {type(obj).__name__}")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise UserError(f"{where}: expected a state dict of tensors; entries {bad[:_SHOWN]} are not tensors")
    return dict(obj)


def strip_prefix(state: Mapping[str, torch.Tensor], prefix: str = DATA_PARALLEL_PREFIX) -> dict[str, torch.Tensor]:
    """Drop `prefix` when every key has it (a net saved inside nn.DataParallel)."""
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return dict(state)


def _listed(keys: list[str]) -> str:
    more = f" (+{len(keys) - _SHOWN} more)" if len(keys) > _SHOWN else ""
    return f"{keys[:_SHOWN]}{more}"


def check_state_keys(state: Mapping[str, torch.Tensor], expected: Mapping[str, tuple[int, ...]], where: str,
                     optional: set[str] = frozenset()) -> None:
    """Strict check: the same keys (less `optional` ones the file may lack) and the same shapes."""
    missing = [k for k in expected if k not in state and k not in optional]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} has shape {tuple(state[k].shape)}, expected {tuple(expected[k])}"
             for k in state if k in expected and tuple(state[k].shape) != tuple(expected[k])]
    problems = []
    if missing:
        problems.append(f"missing keys {_listed(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_listed(unexpected)}")
    if wrong:
        problems.append("; ".join(wrong[:_SHOWN]) + (f" (+{len(wrong) - _SHOWN} more)" if len(wrong) > _SHOWN else ""))
    if problems:
        raise UserError(f"{where}: {'; '.join(problems)}")


def counters(model: nn.Module) -> set[str]:
    """BatchNorm step counters: files of older torch versions lack them and eval never reads them."""
    return {k for k in model.state_dict() if k.endswith("num_batches_tracked")}


def load_checked(model: nn.Module, state: Mapping[str, torch.Tensor], where: str) -> nn.Module:
    """Load `state` into `model` after a strict key and shape check against the model's own keys."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    check_state_keys(state, expected, where, optional=counters(model))
    model.load_state_dict(state, strict=False)   # strictness checked above; counters are optional
    return model


def read_net_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The `{'net_state_dict': ...}` format of the reference's make_fake_datasets, `module.` removed."""
    obj = read_reference_file(path)
    if not isinstance(obj, Mapping) or "net_state_dict" not in obj:
        got = f"keys {list(obj)[:8]}" if isinstance(obj, Mapping) else f"a {type(obj).__name__}"
        raise UserError(f"{path}: expected a dict with 'net_state_dict' (the reference's format), got {got}")
    return strip_prefix(as_state_dict(obj["net_state_dict"], f"{path}: 'net_state_dict'"))


# ---------------------------------------------------------------- RepDistiller teachers

def read_repdistiller_file(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(state dict, the training options as a plain dict) of a RepDistiller `{'opt', 'model'}` file."""
    obj = read_reference_file(path, allow_namespace=True)
    if not isinstance(obj, Mapping) or "model" not in obj:
        got = f"keys {list(obj)[:8]}" if isinstance(obj, Mapping) else f"a {type(obj).__name__}"
        raise UserError(f"{path}: expected RepDistiller's {{'opt', 'model'}} dict, got {got}")
    opt = obj.get("opt")
    options = vars(opt) if isinstance(opt, argparse.Namespace) else dict(opt) if isinstance(opt, Mapping) else {}
    return strip_prefix(as_state_dict(obj["model"], f"{path}: 'model'")), options


def load_repdistiller_classifier(path: str | os.PathLike, arch: str, num_classes: int, *, img_size: int = 32,
                                 in_channels: int = 3, device: str | torch.device = "cpu"
                                 ) -> tuple[nn.Module, dict[str, Any]]:
    """A RepDistiller-format teacher (`{'opt': argparse.Namespace, 'model': state_dict}`, as
    `RepDistiller/train_teacher.py` saves it) loaded strictly into the zoo's `arch`, in eval mode.

    The zoo keeps RepDistiller's module names, so keys map one to one; for densenet121 the
    reference's `RepDistiller/models/densenet.py` (DenseNet121: conv1, dense1-4, trans1-3, bn,
    linear) has the same keys and forward (its 4x4 average pool is our global pool at 32 px).
    Returns (model, info) with info["arch"], ["model_kwargs"], ["task"] and ["opt"] (the options).
    """
    state, options = read_repdistiller_file(path)
    kwargs = {"num_classes": num_classes, "in_channels": in_channels, "img_size": img_size,
              "task": "classification"}
    model = build_model(arch, **kwargs)
    load_checked(model, state, f"{path}: does not fit {arch} ({num_classes} classes, {img_size} px)")
    info = {"arch": arch, "model_kwargs": kwargs, "task": Task("classification", num_classes), "opt": options}
    return model.to(device).eval(), info


def convert_repdistiller_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, *, arch: str, num_classes: int,
                                    pixel_norm: Mapping[str, list[float]], img_size: int = 32) -> None:
    """Write a RepDistiller teacher as a `cgankd train`-style model file (arch, task and the pixel
    normalisation it was trained with), so that `--teacher` and `--feature-net` take it."""
    model, info = load_repdistiller_classifier(src, arch, num_classes, img_size=img_size)
    save_model_checkpoint(dst, model, arch=arch, model_kwargs=info["model_kwargs"], task=info["task"],
                          pixel_norm=pixel_norm, extra={"converted_from": str(src), "format_of_source": "RepDistiller"})


__all__ = ["as_state_dict", "check_state_keys", "convert_repdistiller_checkpoint", "load_checked",
           "load_repdistiller_classifier", "read_net_state_dict", "read_reference_file", "read_repdistiller_file",
           "strip_prefix"]
