#!/usr/bin/env bash
# NOKD: each net on the real training set only (teachers, and the students' NOKD rows).
# Edit the settings below (or set them in the environment), then run: bash UTKFace/scripts/run_vanilla.sh
# Also read from the environment: SEEDS (default 0), DEVICE (auto), EXTRA (more cgankd flags).
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/UTKFace/UTKFace_64x64_prop_0.8.h5}"
RUNS="${RUNS:-$ROOT/runs/UTKFace}"
OUT="${OUT:-$RUNS/vanilla}"
ARCHS="${ARCHS:-vgg13 wrn_16_1 MobileNetV2 resnet56 ShuffleV1 resnet20 wrn_40_1}"
source "$ROOT/tools/stages/vanilla.sh"
