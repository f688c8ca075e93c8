#!/usr/bin/env bash
# NOKD: train each net on the real training set only (teachers, and the students' NOKD rows).
# Recipe: the steeringangle preset (epochs, batch, lr, schedule); add flags via EXTRA to override.
# Edit the settings below, then run: bash SteeringAngle/scripts/run_vanilla.sh
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/SteeringAngle/SteeringAngle_64x64_prop_0.8.h5}"
OUT="${OUT:-$ROOT/runs/SteeringAngle/vanilla}"
ARCHS="${ARCHS:-vgg19 resnet20 MobileNetV2 wrn_16_1 resnet8x4 wrn_40_1 ShuffleV1 resnet56}"
SEEDS="${SEEDS:-0}"
DEVICE="${DEVICE:-auto}"
EXTRA="${EXTRA:-}"
source "$ROOT/tools/stages/vanilla.sh"
