"""What a student run records about itself: its settings with fingerprints of every input file,
the check that a resumed run has the same ones, and its arm identity (see `cgankd.arms`)."""

from __future__ import annotations

from typing import Any

from ..arms import arm_identity, fake_set_identity
from ..common.files import file_fingerprint
from ..data.h5 import dataset_attrs
from .config import TrainConfig

_INPUT_FILES = ("data", "fake", "same_steps_as", "init", "teacher", "ta")
# Settings that may change between a run and its resumption: they change no result. An input file
# may move (a shipped run reused from another folder): its content fingerprint is what must match.
RESUME_FREE = frozenset({"out", "resume", "quiet", "device", "eval_every", "compile", "tensorboard",
                         *_INPUT_FILES, *(f"inputs.{name}.path" for name in _INPUT_FILES)})


def run_settings(cfg: TrainConfig) -> dict[str, Any]:
    """The run's settings plus a content fingerprint of each input file it names."""
    inputs = {name: {"path": getattr(cfg, name), "fingerprint": file_fingerprint(getattr(cfg, name))}
              for name in _INPUT_FILES if getattr(cfg, name)}
    settings = {**cfg.to_dict(), "inputs": inputs}
    for switch in ("sync_bn", "no_augment"):
        if not settings[switch]:
            del settings[switch]      # recorded only when on, so that runs made before the switch still resume
    return settings


def identity(cfg: TrainConfig, settings: dict[str, Any], init_info: dict[str, Any] | None) -> dict[str, Any]:
    """The run's arm identity: everything that makes it a row of its own, apart from its seed."""
    fingerprints = {k: v["fingerprint"] for k, v in settings["inputs"].items()}
    schedule = {k: getattr(cfg, k) for k in ("recipe", "epochs", "batch_size", "lr", "weight_decay", "momentum",
                                             "schedule", "milestones", "gamma", "warmup", "amp")}
    if cfg.no_augment:
        schedule["no_augment"] = True     # only when on: identities of runs made before the switch stay
    distill_settings = dict(cfg.distill_cfg)
    if cfg.distill == "takd":
        distill_settings.update(ta_arch=cfg.ta_arch, ta=fingerprints.get("ta"))
    init = None
    if init_info is not None:
        init = init_info.get("arm") or {"external": fingerprints["init"]}
    return arm_identity(
        arch=cfg.arch, schedule=schedule, distill=cfg.distill, distill_settings=distill_settings,
        teacher=fingerprints.get("teacher"),
        fakes=fake_set_identity(dataset_attrs(cfg.fake)) if cfg.fake else None, nfake=cfg.nfake,
        mixing={"fake_only": cfg.fake_only, "fake_weight": cfg.fake_weight, "fake_share": cfg.fake_share,
                "aux_bn": cfg.aux_bn, "bn_recalibrate": cfg.bn_recalibrate},
        matched=fake_set_identity(dataset_attrs(cfg.same_steps_as)) if cfg.same_steps_as else None, init=init,
        data={"fingerprint": fingerprints["data"], "subset": cfg.subset, "val_frac": cfg.val_frac,
              "task": cfg.task, "num_classes": cfg.num_classes, "preset": cfg.preset})
