#!/usr/bin/env bash
# NOKD: each net on the real training set only (teachers, and the students' NOKD rows).
# Edit the settings below (or set them in the environment), then run: bash ImageNet-100/scripts/run_vanilla.sh
# Also read from the environment: SEEDS (default 0), DEVICE (auto), EXTRA (more cgankd flags).
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/ImageNet-100/ImageNet_128x128_100Class.h5}"
RUNS="${RUNS:-$ROOT/runs/ImageNet-100}"
OUT="${OUT:-$RUNS/vanilla}"
ARCHS="${ARCHS:-densenet161 vgg19 resnet20 wrn_40_1 wrn_16_2 resnet8x4 resnet56 MobileNetV2 ShuffleV1 vgg8}"
source "$ROOT/tools/stages/vanilla.sh"
