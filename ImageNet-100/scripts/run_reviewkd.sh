#!/usr/bin/env bash
# ReviewKD: attention-based fusion of the student's stages, HCL loss.
# Edit the settings below (or set them in the environment), then run: bash ImageNet-100/scripts/run_reviewkd.sh
# Also read from the environment: SEEDS (default 0), DEVICE (auto), EXTRA (more cgankd flags).
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/ImageNet-100/ImageNet_128x128_100Class.h5}"
RUNS="${RUNS:-$ROOT/runs/ImageNet-100}"
TEACHER_CKPT="${TEACHER_CKPT:-$RUNS/vanilla/vgg19/seed0/model.pt}"
METHODS="${METHODS:-reviewkd}"
ARCHS="${ARCHS:-vgg8 ShuffleV1}"
OUT="${OUT:-$RUNS/distill}"
source "$ROOT/tools/stages/distill.sh"
