#!/usr/bin/env bash
# ReviewKD: attention-based fusion of the student's stages, HCL loss.
# Edit the settings below, or set any of them in the environment, then run: bash CIFAR-100/scripts/run_reviewkd.sh
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
source "$ROOT/tools/stages/common.sh"
# ---- settings
# DATA: torchvision's cifar-100-python folder, or an h5 with the keys images_train labels_train
#   images_test labels_test, e.g. DATA=$ROOT/datasets/CIFAR-100/CIFAR100_32x32.h5 (datasets/README.md)
DATA="${DATA:-$ROOT/datasets/CIFAR-100}"
PRESET="${PRESET:-cifar100}"
RUNS="${RUNS:-$ROOT/runs/CIFAR-100}"
TEACHER_CKPT="${TEACHER_CKPT:-$RUNS/vanilla/resnet32x4/seed0/model.pt}"
ARCHS="${ARCHS:-resnet8x4 ShuffleV2}"
OUT="${OUT:-$RUNS/distill}"
EPOCHS="${EPOCHS:-}"             # empty: the preset's vanilla recipe (240 epochs, batch 64)
BATCH_SIZE="${BATCH_SIZE:-}"
METHODS=reviewkd
SEEDS="${SEEDS:-0}"
DEVICE="${DEVICE:-auto}"
EXTRA="${EXTRA:-}"    # more cgankd flags for every call, shell-quoted (tools/stages/common.sh, split_words)
# ---- end of settings
source "$ROOT/tools/stages/distill.sh"
