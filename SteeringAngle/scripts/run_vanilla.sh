#!/usr/bin/env bash
# NOKD: each net on the real training set only (teachers, and the students' NOKD rows).
# Edit the settings below, or set any of them in the environment, then run: bash SteeringAngle/scripts/run_vanilla.sh
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
source "$ROOT/tools/stages/common.sh"
# ---- settings
# DATA: keys images_train labels_train images_test labels_test, angles in degrees (datasets/README.md)
DATA="${DATA:-$ROOT/datasets/SteeringAngle/SteeringAngle_64x64_prop_0.8.h5}"
PRESET="${PRESET:-steeringangle}"
RUNS="${RUNS:-$ROOT/runs/SteeringAngle}"
OUT="${OUT:-$RUNS/vanilla}"
ARCHS="${ARCHS:-vgg19 resnet20 MobileNetV2 wrn_16_1 resnet8x4 wrn_40_1 ShuffleV1 resnet56}"
EPOCHS="${EPOCHS:-}"             # empty: the preset's vanilla recipe (350 epochs, batch 128)
BATCH_SIZE="${BATCH_SIZE:-}"
SEEDS="${SEEDS:-0}"
DEVICE="${DEVICE:-auto}"
EXTRA="${EXTRA:-}"    # more cgankd flags for every call, shell-quoted (tools/stages/common.sh, split_words)
# ---- end of settings
source "$ROOT/tools/stages/vanilla.sh"
