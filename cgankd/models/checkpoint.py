"""Self-describing model checkpoints: the weights plus what is needed to rebuild and use them.

File layout (a torch-saved dict, written atomically):
    {"model": state_dict, "arch": str, "model_kwargs": dict (build_model's keyword arguments),
     "task": Task.to_dict() or None, "pixel_norm": {"mean": [...], "std": [...]} or None, **extra}
A RepDistiller-style file, `{"model": state_dict, ...}` only, loads when `arch` and
`model_kwargs` are given.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..common.errors import UserError
from ..common.files import save_torch
from ..tasks import Task
from .registry import build_model

_RESERVED = ("model", "arch", "model_kwargs", "task", "pixel_norm")
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")   # DataParallel / DDP, torch.compile
_SHOWN = 3   # keys listed in a mismatch message


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain network inside torch.compile / DataParallel / DDP wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):
            model = model._orig_mod
        elif isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        else:
            return model


def _floats(values: Any) -> list[float]:
    return torch.as_tensor(values).detach().cpu().double().flatten().tolist()


def pixel_norm_to_dict(pixel_norm: Any) -> dict[str, list[float]] | None:
    """A PixelNorm-like object (with .mean and .std) or a {"mean", "std"} mapping -> plain lists."""
    if pixel_norm is None:
        return None
    if isinstance(pixel_norm, Mapping):
        mean, std = pixel_norm["mean"], pixel_norm["std"]
    else:
        mean, std = pixel_norm.mean, pixel_norm.std
    return {"mean": _floats(mean), "std": _floats(std)}


def save_model_checkpoint(path: str | os.PathLike, model: nn.Module, *, arch: str, model_kwargs: Mapping[str, Any],
                          task: Task | Mapping | None, pixel_norm: Any = None,
                          extra: Mapping[str, Any] | None = None) -> None:
    extra = dict(extra or {})
    clash = sorted(set(extra) & set(_RESERVED))
    if clash:
        raise ValueError(f"extra checkpoint keys {clash} collide with reserved keys {list(_RESERVED)}")
    state = {k: v.detach().cpu() for k, v in unwrap_model(model).state_dict().items()}
    payload = {
        "model": state,
        "arch": arch,
        "model_kwargs": dict(model_kwargs),
        "task": task.to_dict() if isinstance(task, Task) else (dict(task) if task is not None else None),
        "pixel_norm": pixel_norm_to_dict(pixel_norm),
        **extra,
    }
    save_torch(path, payload)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def read_checkpoint(path: str | os.PathLike) -> dict:
    """torch.load a checkpoint dict on the CPU; UserError for anything a user can get wrong."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights_only" not in str(err) and "Weights only" not in str(err):
            raise UserError(f"{path}: not a PyTorch checkpoint ({_first_line(err)})") from None
        try:   # files of the reference code may hold numpy scalars or other plain objects
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as err2:  # noqa: BLE001 - any failure here means "not a checkpoint"
            raise UserError(f"{path}: not a PyTorch checkpoint ({_first_line(err2)})") from None
    except Exception as err:  # noqa: BLE001
        raise UserError(f"{path}: not a PyTorch checkpoint ({_first_line(err)})") from None
    if not isinstance(obj, Mapping):
        raise UserError(f"{path}: expected a checkpoint dict with a 'model' state dict, got {type(obj).__name__}")
    if "model" not in obj:
        raise UserError(f"{path}: no 'model' key (keys: {', '.join(map(str, list(obj)[:8]))})")
    if not isinstance(obj["model"], Mapping):
        raise UserError(f"{path}: 'model' is a {type(obj['model']).__name__}, expected a state dict")
    return dict(obj)


def _strip_wrappers(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        stripped = True
        while stripped:
            stripped = False
            for prefix in _WRAPPER_PREFIXES:
                if key.startswith(prefix):
                    key, stripped = key[len(prefix):], True
        out[key] = value
    return out


def _check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor], where: str) -> None:
    expected = model.state_dict()
    optional = {k for k in expected if k.endswith("num_batches_tracked")}
    missing = [k for k in expected if k not in state and k not in optional]
    unexpected = [k for k in state if k not in expected]
    problems = []
    if missing:
        problems.append(f"missing keys {missing[:_SHOWN]}" + (f" (+{len(missing) - _SHOWN} more)" if len(missing) > _SHOWN else ""))
    if unexpected:
        problems.append(f"unexpected keys {unexpected[:_SHOWN]}"
                        + (f" (+{len(unexpected) - _SHOWN} more)" if len(unexpected) > _SHOWN else ""))
    if not problems:
        for key, value in state.items():
            if not isinstance(value, torch.Tensor) or value.shape != expected[key].shape:
                got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                problems.append(f"{key} has shape {got} in the file but {tuple(expected[key].shape)} in the model")
                break
    if problems:
        raise UserError(f"{where}: {'; '.join(problems)}")


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu", arch: str | None = None,
               model_kwargs: Mapping[str, Any] | None = None) -> tuple[nn.Module, dict]:
    """Rebuild the stored net, load its weights, move it to `device` in eval mode.

    Returns (model, info) with info["arch"], info["model_kwargs"], info["task"] (a Task or None),
    info["pixel_norm"] (the stored {"mean", "std"} dict or None) and any other stored keys.
    `arch` / `model_kwargs` override the stored ones (needed for RepDistiller-style files).
    """
    ckpt = read_checkpoint(path)
    arch = arch or ckpt.get("arch")
    kwargs = dict(model_kwargs) if model_kwargs is not None else ckpt.get("model_kwargs")
    if not arch or kwargs is None:
        raise UserError(f"{path}: the checkpoint does not say which net it holds (no 'arch'/'model_kwargs'); "
                        f"pass arch and model_kwargs")
    try:
        model = build_model(arch, **kwargs)
    except UserError as err:
        raise UserError(f"{path}: {err}") from None
    except TypeError as err:
        raise UserError(f"{path}: bad model_kwargs {kwargs} for {arch!r} ({err})") from None
    state = _strip_wrappers(ckpt["model"])
    _check_state_dict(model, state, f"{path}: weights do not fit arch {arch!r} {kwargs}")
    model.load_state_dict(state, strict=False)   # strictness checked above; counters are optional

    task = ckpt.get("task")
    try:
        task = Task.from_dict(task) if task else None
    except (KeyError, TypeError, ValueError) as err:
        raise UserError(f"{path}: bad 'task' entry {task!r} ({err})") from None
    info = {k: v for k, v in ckpt.items() if k != "model"}
    info.update(arch=arch, model_kwargs=kwargs, task=task, pixel_norm=ckpt.get("pixel_norm"))
    return model.to(device).eval(), info
