#!/usr/bin/env bash
# Train the conditional GAN (BigGAN, class labels); settings from the preset, override with EXTRA="--set key=value".
# Edit the settings below (or set them in the environment), then run: bash FashionMNIST/scripts/run_gan.sh
# Also read from the environment: SEEDS (default 0), DEVICE (auto), EXTRA (more cgankd flags).
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/FashionMNIST/FashionMNIST_28x28.h5}"
RUNS="${RUNS:-$ROOT/runs/FashionMNIST}"
GAN="${GAN:-biggan}"
GAN_OUT="${GAN_OUT:-$RUNS/gan}"
source "$ROOT/tools/stages/gan.sh"
