"""Training settings: a preset recipe with the user's flags on top, in one flat dataclass."""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..common.errors import UserError
from ..common.settings import parse_settings
from ..data.preset_choice import choose_preset
from ..presets import cosine_recipes, get_preset, lr_for

# Used when the data file matches no preset.
GENERIC_RECIPES = cosine_recipes(vanilla_lr=0.05, epochs=30)


@dataclass
class TrainConfig:
    data: str
    arch: str
    out: str
    task: str | None = None
    num_classes: int | None = None   # a class count the user states (empty classes allowed)
    preset: str | None = None
    preset_choice: str = ""          # how the preset was chosen, for the log and config.json
    recipe: str = "vanilla"
    epochs: int = 30
    batch_size: int = 128
    lr: float = 0.05
    weight_decay: float = 5e-4
    momentum: float = 0.9
    schedule: str = "cosine"
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1
    warmup: float = 0.0          # epochs over which the rate first rises linearly from 0
    seed: int = 0
    device: str = "auto"
    amp: bool | None = None      # mixed precision; None: on for CUDA, off on CPUs (fit settles it)
    compile: bool = False
    sync_bn: bool = False        # DDP: batch-norm statistics over the global batch, not per process
    tensorboard: bool = False    # TensorBoard event files beside log.jsonl
    teacher: str | None = None
    distill: str | None = None
    distill_cfg: dict[str, Any] = field(default_factory=dict)
    ta_arch: str | None = None
    ta: str | None = None
    fake: str | None = None
    nfake: int | None = None
    fake_only: bool = False      # train on the fakes alone (fakes first, then real: two runs)
    fake_weight: float = 1.0     # the task loss of a fake counts this much (a real one: 1)
    fake_share: float | None = None   # this share of every batch is fake (None: one shuffled set)
    aux_bn: bool = False         # fakes pass through batch-norm layers of their own while training
    bn_recalibrate: bool = False # after training, re-estimate BN statistics on the real images
    same_steps_as: str | None = None
    init: str | None = None
    subset: int | None = None
    val_frac: float = 0.0
    no_augment: bool = False     # train without the preset's augmentation
    eval_every: int = 1
    resume: bool = False
    quiet: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def stretched(self, epochs: int) -> TrainConfig:
        """This config for `epochs` epochs, step milestones kept at the same fractions of the run; a
        milestone never lands before epoch 1 (a decay from the first step would train the whole run
        at the decayed rate)."""
        return replace(self, epochs=epochs,
                       milestones=[max(1, round(m * epochs / self.epochs)) for m in self.milestones])

    def check_takd_chain(self) -> None:
        """A TAKD run from the command line: a teaching assistant to train (--ta-arch) or a trained one."""
        if not (self.ta_arch or self.ta):
            raise UserError("--distill takd needs --ta-arch NAME (a teaching assistant to train) or --ta CKPT")
        if self.init and not self.ta:
            raise UserError("--distill takd with --init needs a trained assistant (--ta CKPT): "
                            "the assistant cannot start from the student's checkpoint")

    def check(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise UserError(f"--epochs and --batch-size must be positive (got {self.epochs}, {self.batch_size})")
        if self.lr <= 0:
            raise UserError(f"--lr must be positive (got {self.lr})")
        if not 0 <= self.warmup < self.epochs:
            raise UserError(f"--warmup must be in [0, --epochs) (got {self.warmup})")
        if not 0.0 <= self.val_frac < 1.0:
            raise UserError(f"--val-frac must be in [0, 1) (got {self.val_frac})")
        if any(m < 1 for m in self.milestones) or self.milestones != sorted(self.milestones):
            raise UserError(f"--milestones must be increasing epochs of at least 1 (got {self.milestones})")
        if self.nfake is not None and not (self.fake or self.same_steps_as):
            raise UserError("--nfake needs --fake FAKE.h5 or --same-steps-as FAKE.h5")
        if self.nfake is not None and self.nfake < 1:
            raise UserError(f"--nfake must be at least 1 (got {self.nfake}); leave it out to use every fake")
        if self.eval_every < 1:
            raise UserError(f"--eval-every must be at least 1 (got {self.eval_every})")
        if self.fake_weight != 1.0 and (not self.fake or self.fake_only):
            raise UserError("--fake-weight weighs fakes against real images: it needs --fake and no --fake-only")
        if self.fake_weight < 0:
            raise UserError(f"--fake-weight must be at least 0 (got {self.fake_weight})")
        if self.fake_share is not None and (not self.fake or self.fake_only or not 0.0 < self.fake_share < 1.0):
            raise UserError(f"--fake-share is the fake part of each batch: a fraction in (0, 1), with --fake and "
                            f"without --fake-only (got {self.fake_share})")
        if self.aux_bn and (not self.fake or self.fake_only):
            raise UserError("--aux-bn gives the fakes batch-norm layers of their own: it needs --fake and no --fake-only")
        if self.bn_recalibrate and self.fake_only:
            raise UserError("--bn-recalibrate re-estimates BN statistics on the real training images: "
                            "--fake-only has none")
        if self.fake_only and not self.fake:
            raise UserError("--fake-only needs --fake FAKE.h5")
        if self.fake and self.same_steps_as:
            raise UserError("--same-steps-as is for real-only controls; it cannot go with --fake")
        if (self.ta_arch or self.ta) and self.distill != "takd":
            raise UserError("--ta-arch and --ta go with --distill takd")


def recipe_config(data: str, arch: str, out: str, *, preset: str | None = None, recipe: str = "vanilla",
                  **overrides: Any) -> TrainConfig:
    """A TrainConfig from the dataset preset's recipe (`preset`, else the one the data file declares,
    else the generic recipe), with `overrides` (None values ignored) on top."""
    preset, how = choose_preset(data, preset)
    settings = dict(GENERIC_RECIPES[recipe])
    if preset:
        settings.update(get_preset(preset)["train"][recipe])
    else:
        how += (f"; the generic {recipe} recipe: {settings['schedule']}, {settings['epochs']} epochs, "
                f"lr {settings['lr']}, batch {settings['batch_size']}")
    cfg = TrainConfig(data=data, arch=arch, out=out, preset=preset, preset_choice=how, recipe=recipe,
                      epochs=settings["epochs"],
                      batch_size=settings["batch_size"], lr=lr_for(settings, arch),
                      weight_decay=settings["weight_decay"], momentum=settings["momentum"],
                      schedule=settings["schedule"], milestones=list(settings.get("milestones", [])),
                      gamma=settings.get("gamma", 0.1), warmup=settings.get("warmup", 0.0))
    if overrides.get("epochs") is not None and overrides.get("milestones") is None:
        cfg = cfg.stretched(overrides["epochs"])
    for key, value in overrides.items():
        if value is not None:
            setattr(cfg, key, value)
    cfg.check()
    return cfg


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """`cgankd train` flags → TrainConfig (recipe "fake" when training on fakes or from --init)."""
    recipe = args.recipe or ("fake" if (args.fake or args.same_steps_as or args.init) else "vanilla")
    flags = {name: getattr(args, name) for name in (
        "task", "num_classes", "epochs", "batch_size", "lr", "weight_decay", "schedule", "milestones", "warmup", "seed", "device",
        "amp", "compile", "teacher", "distill", "ta_arch", "ta", "fake", "nfake", "fake_only", "fake_weight",
        "fake_share", "aux_bn", "bn_recalibrate", "sync_bn", "tensorboard",
        "same_steps_as", "init", "subset", "val_frac", "no_augment", "eval_every", "resume", "quiet")}
    return recipe_config(args.data, args.arch, args.out, preset=args.preset, recipe=recipe,
                         distill_cfg=parse_settings(args.distill_set, "--distill-set"), **flags)
