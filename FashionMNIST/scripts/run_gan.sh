#!/usr/bin/env bash
# Train the conditional GAN (BigGAN, class labels) on the real training set.
# Edit the settings below, or set any of them in the environment, then run: bash FashionMNIST/scripts/run_gan.sh
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
source "$ROOT/tools/stages/common.sh"
# ---- settings
# DATA: written by `cgankd data prepare fashion-mnist` (datasets/README.md)
DATA="${DATA:-$ROOT/datasets/FashionMNIST/FashionMNIST_28x28.h5}"
PRESET="${PRESET:-fashion-mnist}"
RUNS="${RUNS:-$ROOT/runs/FashionMNIST}"
GAN="${GAN:-biggan}"
GAN_OUT="${GAN_OUT:-$RUNS/gan}"
# Empty: the preset's (2000 iterations, batch 32, 1 D steps per G step).
GAN_ITERS="${GAN_ITERS:-}"
GAN_BATCH_SIZE="${GAN_BATCH_SIZE:-}"
GAN_D_STEPS="${GAN_D_STEPS:-}"
GAN_SET="${GAN_SET:-}"    # more GAN settings, KEY=VALUE words (cgankd/gans/config.py), e.g. "g_lr=1e-4 ema=false"
GAN_SEED="${GAN_SEED:-0}"
DEVICE="${DEVICE:-auto}"
EXTRA="${EXTRA:-}"    # more cgankd flags, shell-quoted (tools/stages/common.sh, split_words)
# ---- end of settings
source "$ROOT/tools/stages/gan.sh"
