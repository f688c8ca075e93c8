#!/usr/bin/env bash
# ReviewKD: attention-based fusion of the student's stages, HCL loss.
# Edit the settings below (or set them in the environment), then run: bash FashionMNIST/scripts/run_reviewkd.sh
# Also read from the environment: SEEDS (default 0), DEVICE (auto), EXTRA (more cgankd flags).
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/FashionMNIST/FashionMNIST_28x28.h5}"
RUNS="${RUNS:-$ROOT/runs/FashionMNIST}"
TEACHER_CKPT="${TEACHER_CKPT:-$RUNS/vanilla/resnet20/seed0/model.pt}"
METHODS="${METHODS:-reviewkd}"
ARCHS="${ARCHS:-resnet8}"
OUT="${OUT:-$RUNS/distill}"
source "$ROOT/tools/stages/distill.sh"
