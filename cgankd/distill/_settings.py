"""Default settings of every KD method, in one table.

loss = r * task loss + a * KD(T) + b * method term   (SSKD adds c * its second term).

Each row holds the settings of the upstream RepDistiller scripts (KD baselines trained on
real data) and what the cGAN-KD scripts change when the student also trains on fakes
(cfg["with_fake"]). Where the cGAN-KD scripts never combine a method with fakes (correlation,
fsp, nst), the upstream values are used as they are. Any
key can be overridden through cfg (e.g. `--distill-set T=2 b=50`). DKD, DIST and MLKD weigh their
own terms (alpha/beta, beta/gamma, a on every level); `logit_std=true` on kd, dkd or mlkd also
applies that method's LOGIT_STD row.
"""

from __future__ import annotations

from typing import Any

from ..common.errors import UserError

# Every method starts from these.
COMMON: dict[str, Any] = {
    "r": 1.0, "a": 0.0, "b": 0.0,  # task loss, KD(T) and method-term weights
    "T": 4.0,                      # KD temperature (kd_T)
    "init_epochs": 30,             # a method's own stage (AB, FT, FSP; FitNet when > 0)
    "init_lr": 0.05,               # RepDistiller: the student's learning rate (0.05 real, 0.01 with fakes)
    "init_weight_decay": 5e-4,
}

FAKE_COMMON: dict[str, Any] = {"init_lr": 0.01}

# method: (real-data settings, changes with fakes)
TABLE: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "none": ({}, {}),
    # logit_std: logit standardisation (Sun et al. 2024), with the LOGIT_STD changes below.
    "kd": ({"r": 0.1, "a": 0.9, "logit_std": False}, {}),
    # Upstream trains the regressor jointly (no stage 1); init_epochs > 0 adds FitNet's stage 1.
    "hint": ({"b": 100.0, "hint_layer": 2, "init_epochs": 0}, {"a": 1.0}),
    "attention": ({"b": 1000.0, "p": 2.0}, {"a": 1.0}),
    "similarity": ({"b": 3000.0}, {"a": 1.0}),
    # nf with fakes. cc_kernel "repdistiller": RepDistiller's correlation term (what b = 0.02 was
    # tuned for); "rbf": the CCKD paper's Gaussian RBF, P-order Taylor expansion.
    "correlation": ({"b": 0.02, "feat_dim": 128, "cc_kernel": "repdistiller", "gamma": 0.4, "order": 2}, {}),
    "vid": ({"b": 1.0, "init_pred_var": 5.0}, {"a": 1.0}),
    "rkd": ({"b": 1.0, "w_dist": 25.0, "w_angle": 50.0}, {"a": 1.0}),
    "pkt": ({"b": 30000.0}, {"a": 1.0}),
    # The scripts pass b = 1, but AB's knowledge moves in its stage only: its main-stage term is 0.
    "abound": ({"margin": 1.0}, {"a": 1.0}),
    # RepDistiller trains the paraphraser at lr 0.01 for resnet/wrn students.
    "factor": ({"b": 200.0, "init_lr": 0.01}, {"a": 1.0}),
    # nf with fakes. FSP, like AB, has no main-stage term (the scripts' b = 50 multiplies 0).
    "fsp": ({}, {}),
    "nst": ({"b": 50.0}, {}),  # nf with fakes
    "crd": ({"b": 0.8, "feat_dim": 128, "nce_k": 16384, "nce_t": 0.07, "nce_m": 0.5}, {"a": 1.0}),
    # r: ce, a: kd, b: tf (transformed-logit KD), c: ss (self-supervision similarity KD).
    "sskd": ({"r": 0.1, "a": 0.9, "b": 2.7, "c": 10.0, "tf_T": 4.0, "ss_T": 0.5, "ratio_tf": 1.0,
              "ratio_ss": 0.75, "t_epochs": 60, "t_lr": 0.05, "t_milestones": (30, 45)}, {}),
    # (1 - lambda) * CE + lambda * T^2 * KL, lambda 0.5, T 10.
    "takd": ({"r": 0.5, "a": 0.5, "T": 10.0}, {}),
    # CE weight 1, no KL term, HCL weight 5 warmed up linearly over the first 20 of 240 epochs.
    "reviewkd": ({"b": 5.0, "warmup_frac": 20 / 240}, {}),
    # DKD (Zhao et al. 2022), mdistiller engine/cfg.py (CFG.DKD): CE_WEIGHT 1.0, ALPHA 1.0 (TCKD),
    # BETA 8.0 (NCKD; its CIFAR-100 configs use 6.0 for vgg13/wrn_40_2 teachers, 2.0 for
    # resnet56/110), T 4.0, WARMUP 20 epochs of a 240-epoch run (ref_epochs). No change with fakes.
    "dkd": ({"r": 1.0, "alpha": 1.0, "beta": 8.0, "T": 4.0, "warmup": 20.0, "ref_epochs": 240,
             "logit_std": False}, {}),
    # DIST (Huang et al. 2022), hunto/image_classification_sota configs/strategies/distill/dist_cifar.yaml:
    # ori_loss_weight 1 (r), kd_loss_weight 2 (b), kd dist_t4 (tau = T = 4; ImageNet uses 1), and
    # lib/models/losses/kd_loss.py: beta = gamma = 1. No change with fakes.
    "dist": ({"r": 1.0, "b": 2.0, "beta": 1.0, "gamma": 1.0, "T": 4.0}, {}),
    # MLKD (Jin et al. 2023), Jin-Ying/Multi-Level-Logit-Distillation (mdistiller CFG.KD and
    # distillers/KD_ours.py): CE weight 0.1 on each view, 0.9 (a) on every term at every temperature,
    # base T 4.0 plus 2, 3, 5, 6; strong view: 2 RandAugment ops and a cutout of up to half the
    # side (dataset/cifar100.py). No change with fakes. cc_weight (not in the authors' code, 1 there)
    # scales the class level, which grows as batch^2 / classes (cgankd/distill/mlkd.py, class_level_scale).
    "mlkd": ({"r": 0.1, "a": 0.9, "T": 4.0, "extra_T": (2.0, 3.0, 5.0, 6.0), "strong_ops": 2,
              "strong_cutout": 0.5, "logit_std": False, "cc_weight": 1.0}, {}),
}

# What `logit_std=true` changes, from sunshangquan/logit-standardization-KD (tools/train.py with
# its README's `--logit-stand --base-temp 2 --kd-weight 9`): the base temperature becomes 2 and
# the KD weight 9 (KD, MLKD); DKD's alpha and beta are multiplied by 9. Settings given
# explicitly win over these.
LOGIT_STD: dict[str, dict[str, Any]] = {
    "kd": {"a": 9.0, "T": 2.0},
    "dkd": {"alpha": 9.0, "beta": 72.0, "T": 2.0},
    "mlkd": {"a": 9.0, "T": 2.0},
}

# Keys the trainer puts into cfg next to the method settings.
TRAINER_KEYS = frozenset({"n_data", "img_shape", "with_fake", "epochs", "train_labels", "quiet", "lr",
                          "weight_decay", "momentum", "batch_size", "device", "n_real", "fake_weight"})


def method_settings(name: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """The settings of method `name`: COMMON, its row (and fake changes), then cfg's overrides."""
    real, fake = TABLE[name]
    settings = {**COMMON, **real}
    if cfg.get("with_fake"):
        settings.update(FAKE_COMMON)
        settings.update(fake)
        if "init_lr" in real:  # a method's own stage lr stays as its row says
            settings["init_lr"] = real["init_lr"]
    overrides = {key: value for key, value in cfg.items() if key not in TRAINER_KEYS}
    if overrides and name == "none":
        raise UserError(f"KD setting {next(iter(overrides))!r} given without --distill METHOD")
    if "logit_std" in overrides:
        if name not in LOGIT_STD:
            raise UserError(f"--distill {name}: logit_std (logit standardisation) is an option of the "
                            f"logit-based methods {', '.join(LOGIT_STD)} only")
        if _coerce(name, "logit_std", overrides["logit_std"], False):
            settings.update(LOGIT_STD[name])
    for key, value in overrides.items():
        if key not in settings:
            known = ", ".join(sorted(settings))
            raise UserError(f"--distill {name}: unknown setting {key!r}; known: {known}")
        settings[key] = _coerce(name, key, value, settings[key])
    return settings


def _coerce(name: str, key: str, value: Any, default: Any) -> Any:
    kind = type(default)
    try:
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if kind is int and isinstance(value, (int, float)) and float(value).is_integer():
            return int(value)
        if kind is tuple and isinstance(value, (list, tuple, int)):
            return tuple(value) if isinstance(value, (list, tuple)) else (value,)
        if isinstance(value, kind):
            return value
    except (TypeError, ValueError):
        pass
    raise UserError(f"--distill {name}: setting {key}={value!r} should be a {kind.__name__} "
                    f"(default {default!r})")
