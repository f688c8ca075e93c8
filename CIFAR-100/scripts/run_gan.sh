#!/usr/bin/env bash
# Train the conditional GAN (BigGAN, class labels) on the real training set.
# Edit the settings below, or set any of them in the environment, then run: bash CIFAR-100/scripts/run_gan.sh
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
source "$ROOT/tools/stages/common.sh"
# ---- settings
# DATA: torchvision's cifar-100-python folder, or an h5 with the keys images_train labels_train
#   images_test labels_test, e.g. DATA=$ROOT/datasets/CIFAR-100/CIFAR100_32x32.h5 (datasets/README.md)
DATA="${DATA:-$ROOT/datasets/CIFAR-100}"
PRESET="${PRESET:-cifar100}"
RUNS="${RUNS:-$ROOT/runs/CIFAR-100}"
GAN="${GAN:-biggan}"
GAN_OUT="${GAN_OUT:-$RUNS/gan}"
# Empty: the preset's (38000 iterations, batch 512, 4 D steps per G step).
GAN_ITERS="${GAN_ITERS:-}"
GAN_BATCH_SIZE="${GAN_BATCH_SIZE:-}"
GAN_D_STEPS="${GAN_D_STEPS:-}"
GAN_SET="${GAN_SET:-}"    # more GAN settings, KEY=VALUE words (cgankd/gans/config.py), e.g. "g_lr=1e-4 ema=false"
GAN_SEED="${GAN_SEED:-0}"
DEVICE="${DEVICE:-auto}"
EXTRA="${EXTRA:-}"    # more cgankd flags, shell-quoted (tools/stages/common.sh, split_words)
# ---- end of settings
source "$ROOT/tools/stages/gan.sh"
