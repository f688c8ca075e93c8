#!/usr/bin/env bash
# NOKD: each net on the real training set only (teachers, and the students' NOKD rows).
# Edit the settings below (or set them in the environment), then run: bash SteeringAngle/scripts/run_vanilla.sh
# Also read from the environment: SEEDS (default 0), DEVICE (auto), EXTRA (more cgankd flags).
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/SteeringAngle/SteeringAngle_64x64_prop_0.8.h5}"
RUNS="${RUNS:-$ROOT/runs/SteeringAngle}"
OUT="${OUT:-$RUNS/vanilla}"
ARCHS="${ARCHS:-vgg19 resnet20 MobileNetV2 wrn_16_1 resnet8x4 wrn_40_1 ShuffleV1 resnet56}"
source "$ROOT/tools/stages/vanilla.sh"
