#!/usr/bin/env bash
# NOKD: each net on the real training set only (teachers, and the students' NOKD rows).
# Edit the settings below (or set them in the environment), then run: bash CIFAR-100/scripts/run_vanilla.sh
# Also read from the environment: SEEDS (default 0), DEVICE (auto), EXTRA (more cgankd flags).
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/CIFAR-100}"
RUNS="${RUNS:-$ROOT/runs/CIFAR-100}"
OUT="${OUT:-$RUNS/vanilla}"
ARCHS="${ARCHS:-densenet121 resnet32x4 resnet20 resnet8x4 vgg8 wrn_40_1 MobileNetV2 ShuffleV1 ShuffleV2 wrn_16_2}"
source "$ROOT/tools/stages/vanilla.sh"
