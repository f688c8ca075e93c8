#!/usr/bin/env bash
# ReviewKD: attention-based fusion of the student's stages, HCL loss.
# Edit the settings below, or set any of them in the environment, then run: bash FashionMNIST/scripts/run_reviewkd.sh
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
source "$ROOT/tools/stages/common.sh"
# ---- settings
# DATA: written by `cgankd data prepare fashion-mnist` (datasets/README.md)
DATA="${DATA:-$ROOT/datasets/FashionMNIST/FashionMNIST_28x28.h5}"
PRESET="${PRESET:-fashion-mnist}"
RUNS="${RUNS:-$ROOT/runs/FashionMNIST}"
TEACHER_CKPT="${TEACHER_CKPT:-$RUNS/vanilla/resnet20/seed0/model.pt}"
ARCHS="${ARCHS:-resnet8}"
OUT="${OUT:-$RUNS/distill}"
EPOCHS="${EPOCHS:-}"             # empty: the preset's vanilla recipe (15 epochs, batch 128)
BATCH_SIZE="${BATCH_SIZE:-}"
METHODS=reviewkd
SEEDS="${SEEDS:-0}"
DEVICE="${DEVICE:-auto}"
EXTRA="${EXTRA:-}"    # more cgankd flags for every call, shell-quoted (tools/stages/common.sh, split_words)
# ---- end of settings
source "$ROOT/tools/stages/distill.sh"
