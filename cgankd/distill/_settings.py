"""Default settings of every KD method, in one table.

loss = r * task loss + a * KD(T) + b * method term   (SSKD adds c * its second term).

Each row holds the settings of the upstream RepDistiller scripts (KD baselines trained on
real data) and what the cGAN-KD scripts change when the student also trains on fakes
(cfg["with_fake"]). Where the cGAN-KD scripts never combine a method with fakes ("nf" in
PAPER_PRESETS §4: correlation, fsp, nst), the upstream values are used as they are. Any
key can be overridden through cfg (e.g. `--distill-set T=2 b=50`).
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
    "kd": ({"r": 0.1, "a": 0.9}, {}),
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
    for key, value in cfg.items():
        if key in TRAINER_KEYS:
            continue
        if name == "none":
            raise UserError(f"KD setting {key!r} given without --distill METHOD")
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
