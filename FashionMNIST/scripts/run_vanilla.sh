#!/usr/bin/env bash
# NOKD: each net on the real training set only (teachers, and the students' NOKD rows).
# Edit the settings below (or set them in the environment), then run: bash FashionMNIST/scripts/run_vanilla.sh
# Also read from the environment: SEEDS (default 0), DEVICE (auto), EXTRA (more cgankd flags).
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/FashionMNIST/FashionMNIST_28x28.h5}"
RUNS="${RUNS:-$ROOT/runs/FashionMNIST}"
OUT="${OUT:-$RUNS/vanilla}"
ARCHS="${ARCHS:-resnet20 resnet8}"
source "$ROOT/tools/stages/vanilla.sh"
