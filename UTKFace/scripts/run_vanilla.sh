#!/usr/bin/env bash
# NOKD: train each net on the real training set only (teachers, and the students' NOKD rows).
# Recipe: the utkface preset (epochs, batch, lr, schedule); add flags via EXTRA to override.
# Edit the settings below, then run: bash UTKFace/scripts/run_vanilla.sh
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/UTKFace/UTKFace_64x64_prop_0.8.h5}"
OUT="${OUT:-$ROOT/runs/UTKFace/vanilla}"
ARCHS="${ARCHS:-vgg13 wrn_16_1 MobileNetV2 resnet56 ShuffleV1 resnet20 wrn_40_1}"
SEEDS="${SEEDS:-0}"
DEVICE="${DEVICE:-auto}"
EXTRA="${EXTRA:-}"
source "$ROOT/tools/stages/vanilla.sh"
