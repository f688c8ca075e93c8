#!/usr/bin/env bash
# NOKD: each net on the real training set only (teachers, and the students' NOKD rows).
# Edit the settings below, or set any of them in the environment, then run: bash ImageNet-100/scripts/run_vanilla.sh
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
source "$ROOT/tools/stages/common.sh"
# ---- settings
# DATA: keys images_train labels_train images_valid labels_valid (datasets/README.md)
DATA="${DATA:-$ROOT/datasets/ImageNet-100/ImageNet_128x128_100Class.h5}"
PRESET="${PRESET:-imagenet100}"
RUNS="${RUNS:-$ROOT/runs/ImageNet-100}"
OUT="${OUT:-$RUNS/vanilla}"
ARCHS="${ARCHS:-densenet161 vgg19 resnet20 wrn_40_1 wrn_16_2 resnet8x4 resnet56 MobileNetV2 ShuffleV1 vgg8}"
EPOCHS="${EPOCHS:-}"             # empty: the preset's vanilla recipe (240 epochs, batch 128)
BATCH_SIZE="${BATCH_SIZE:-}"
SEEDS="${SEEDS:-0}"
DEVICE="${DEVICE:-auto}"
EXTRA="${EXTRA:-}"    # more cgankd flags for every call, shell-quoted (tools/stages/common.sh, split_words)
# ---- end of settings
source "$ROOT/tools/stages/vanilla.sh"
