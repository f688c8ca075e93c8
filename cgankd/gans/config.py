"""GAN settings: defaults per GAN kind, the dataset preset's "gan" section on top, then the
command line (`--iters`, `--batch-size`, `--set KEY=VALUE`). Every key is listed here.

Defaults are the paper's and its reference code's: BigGAN as trained for CIFAR-100, CcGAN as
trained for SteeringAngle. Negative `kappa` / `sigma` mean "rule of thumb" (see vicinal.py):
kappa = |kappa| * max label gap (hard) or nu = 1 / (|kappa| * max gap)^2 (soft).
"""

from __future__ import annotations

from typing import Any

from ..common.errors import UserError

COMMON = {
    "iters": 20_000,            # generator steps
    "batch_size": 512,          # images per discriminator step (real and fake each)
    "g_batch_size": 0,          # images per generator step (0: batch_size)
    "d_steps": 4,               # discriminator steps per generator step
    "g_lr": 2e-4, "d_lr": 2e-4, "betas": [0.0, 0.999], "adam_eps": 1e-8,
    "dim_z": 128, "g_ch": 64, "d_ch": 64,
    "g_widths": None, "d_widths": None, "d_down": None,   # override the per-resolution tables
    "g_attn": 0, "d_attn": 0,   # self-attention at this resolution (0: none)
    "init": "N02",              # ortho | N02 | xavier
    "diffaug": "color,translation,cutout",   # DiffAugment policy on D's inputs ("" = off)
    "ema": True, "ema_start": 1000, "ema_decay": 0.9999,
    "standing_stats": 16,       # batches to re-estimate G's batch-norm stats before sampling (0: off)
    "ckpt_every": 1000,         # checkpoint, sample grid and snapshot period (iterations)
    "log_every": 50,
    "keep_snapshots": False,    # also keep snapshots/iter_XXXXXX.pt (generator only) at each checkpoint
    "grid_cols": 10,
}

BIGGAN = {
    **COMMON,
    "iters": 38_000,            # the reference's checkpoint BigGAN_38K
    "shared_dim": 0,            # shared class embedding size (0: per-layer class embeddings)
    "hier": False,              # split z over the blocks (hierarchical latent)
    "grid_rows": 10,            # classes shown in the sample grid (spread over all classes)
}

CCGAN = {
    **COMMON,
    "batch_size": 512, "d_steps": 2, "g_lr": 1e-4, "d_lr": 1e-4, "betas": [0.5, 0.999],
    "dim_z": 256, "dim_embed": 128, "g_attn": 32, "d_attn": 32, "init": "xavier",
    "ema": False, "ema_start": 0, "ema_decay": 0.999,
    "bn_momentum": 0.1,
    "vicinity": "soft",         # hard (HVDL) | soft (SVDL)
    "kappa": -5.0,              # <0: rule of thumb with this multiplier; else kappa (hard) or nu (soft)
    "sigma": -1.0,              # <0: Silverman's rule on the normalised training labels
    "weight_threshold": 1e-3,   # soft vicinity: smallest weight still counted
    "real_hflip": False,        # flip real images at random in the D step (UTKFace)
    "embed_arch": "ResNet34", "embed_epochs": 200, "embed_batch_size": 256, "embed_lr": 0.01,
    "embed_milestones": [60, 120],
    "embed_subset": 0,          # >0: images per x2y epoch (a shorter epoch for CPU-sized runs)
    "y2h_epochs": 500, "y2h_batch_size": 128, "y2h_lr": 0.01, "y2h_milestones": [150, 250, 350],
    "label_values": 2000,       # regression fakes: evenly spaced label values over [0, 1]
    "grid_rows": 10,            # label values swept in the sample grid
}

DEFAULTS = {"biggan": BIGGAN, "ccgan": CCGAN}


def _coerce(key: str, value: Any, default: Any) -> Any:
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, int) and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif isinstance(default, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    elif isinstance(default, str) and isinstance(value, str):
        return value
    elif isinstance(default, list) and isinstance(value, (list, tuple)):
        return list(value)
    raise UserError(f"GAN setting {key}={value!r}: expected {type(default).__name__} (like {default!r})")


def gan_config(kind: str, preset_gan: dict | None = None, overrides: dict[str, Any] | None = None) -> dict:
    """Defaults of `kind`, updated by the preset's settings for that kind, then by the overrides."""
    if kind not in DEFAULTS:
        raise UserError(f"unknown GAN {kind!r}; expected one of: {', '.join(DEFAULTS)}")
    cfg = dict(DEFAULTS[kind])
    for source, values in (("preset", (preset_gan or {}).get(kind, {})), ("--set", overrides or {})):
        for key, value in values.items():
            if key not in cfg:
                raise UserError(f"unknown {kind} setting {key!r} ({source}); known: {', '.join(sorted(cfg))}")
            cfg[key] = _coerce(key, value, DEFAULTS[kind][key])
    check_config(kind, cfg)
    return cfg


def check_config(kind: str, cfg: dict) -> None:
    positive = ["batch_size", "d_steps", "dim_z", "g_ch", "d_ch", "ckpt_every", "log_every"]
    for key in positive:
        if cfg[key] < 1:
            raise UserError(f"GAN setting {key}={cfg[key]} must be >= 1")
    if cfg["iters"] < 0:
        raise UserError(f"GAN setting iters={cfg['iters']} must be >= 0")
    if cfg["init"] not in ("ortho", "N02", "xavier"):
        raise UserError(f"GAN setting init={cfg['init']!r}: expected ortho, N02 or xavier")
    if not 0.0 <= cfg["ema_decay"] < 1.0:
        raise UserError(f"GAN setting ema_decay={cfg['ema_decay']} must be in [0, 1)")
    if len(cfg["betas"]) != 2:
        raise UserError(f"GAN setting betas={cfg['betas']}: expected two numbers")
    from .diffaug import parse_policy
    try:
        parse_policy(cfg["diffaug"])
    except ValueError as err:
        raise UserError(f"GAN setting diffaug={cfg['diffaug']!r}: {err}") from None
    if kind == "ccgan" and cfg["vicinity"] not in ("hard", "soft"):
        raise UserError(f"GAN setting vicinity={cfg['vicinity']!r}: expected hard or soft")
    if kind == "ccgan" and cfg["dim_embed"] % 8:
        raise UserError(f"GAN setting dim_embed={cfg['dim_embed']} must be a multiple of 8 (GroupNorm(8))")
