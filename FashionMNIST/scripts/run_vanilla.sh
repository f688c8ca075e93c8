#!/usr/bin/env bash
# NOKD: each net on the real training set only (teachers, and the students' NOKD rows).
# Edit the settings below, or set any of them in the environment, then run: bash FashionMNIST/scripts/run_vanilla.sh
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
source "$ROOT/tools/stages/common.sh"
# ---- settings
# DATA: written by `cgankd data prepare fashion-mnist` (datasets/README.md)
DATA="${DATA:-$ROOT/datasets/FashionMNIST/FashionMNIST_28x28.h5}"
PRESET="${PRESET:-fashion-mnist}"
RUNS="${RUNS:-$ROOT/runs/FashionMNIST}"
OUT="${OUT:-$RUNS/vanilla}"
ARCHS="${ARCHS:-resnet20 resnet8}"
EPOCHS="${EPOCHS:-}"             # empty: the preset's vanilla recipe (15 epochs, batch 128)
BATCH_SIZE="${BATCH_SIZE:-}"
SEEDS="${SEEDS:-0}"
DEVICE="${DEVICE:-auto}"
EXTRA="${EXTRA:-}"    # more cgankd flags for every call, shell-quoted (tools/stages/common.sh, split_words)
# ---- end of settings
source "$ROOT/tools/stages/vanilla.sh"
