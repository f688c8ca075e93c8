#!/usr/bin/env bash
# NOKD: each net on the real training set only (teachers, and the students' NOKD rows).
# Edit the settings below, or set any of them in the environment, then run: bash CIFAR-100/scripts/run_vanilla.sh
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
source "$ROOT/tools/stages/common.sh"
# ---- settings
# DATA: torchvision's cifar-100-python folder, or an h5 with the keys images_train labels_train
#   images_test labels_test, e.g. DATA=$ROOT/datasets/CIFAR-100/CIFAR100_32x32.h5 (datasets/README.md)
DATA="${DATA:-$ROOT/datasets/CIFAR-100}"
PRESET="${PRESET:-cifar100}"
RUNS="${RUNS:-$ROOT/runs/CIFAR-100}"
OUT="${OUT:-$RUNS/vanilla}"
ARCHS="${ARCHS:-densenet121 resnet32x4 resnet20 resnet8x4 vgg8 wrn_40_1 MobileNetV2 ShuffleV1 ShuffleV2 wrn_16_2}"
EPOCHS="${EPOCHS:-}"             # empty: the preset's vanilla recipe (240 epochs, batch 64)
BATCH_SIZE="${BATCH_SIZE:-}"
SEEDS="${SEEDS:-0}"
DEVICE="${DEVICE:-auto}"
EXTRA="${EXTRA:-}"    # more cgankd flags for every call, shell-quoted (tools/stages/common.sh, split_words)
# ---- end of settings
source "$ROOT/tools/stages/vanilla.sh"
