#!/usr/bin/env bash
# Train the conditional GAN (CcGAN, continuous labels) on the real training set.
# Edit the settings below, or set any of them in the environment, then run: bash UTKFace/scripts/run_gan.sh
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
source "$ROOT/tools/stages/common.sh"
# ---- settings
# DATA: keys images_train labels_train images_test labels_test, ages 1-60 (datasets/README.md)
DATA="${DATA:-$ROOT/datasets/UTKFace/UTKFace_64x64_prop_0.8.h5}"
PRESET="${PRESET:-utkface}"
RUNS="${RUNS:-$ROOT/runs/UTKFace}"
GAN="${GAN:-ccgan}"
GAN_OUT="${GAN_OUT:-$RUNS/gan}"
# Empty: the preset's (20000 iterations, batch 512, 4 D steps per G step).
GAN_ITERS="${GAN_ITERS:-}"
GAN_BATCH_SIZE="${GAN_BATCH_SIZE:-}"
GAN_D_STEPS="${GAN_D_STEPS:-}"
GAN_SET="${GAN_SET:-}"    # more GAN settings, KEY=VALUE words (cgankd/gans/config.py), e.g. "g_lr=1e-4 ema=false"
GAN_SEED="${GAN_SEED:-0}"
DEVICE="${DEVICE:-auto}"
EXTRA="${EXTRA:-}"    # more cgankd flags, shell-quoted (tools/stages/common.sh, split_words)
# ---- end of settings
source "$ROOT/tools/stages/gan.sh"
