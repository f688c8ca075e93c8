#!/usr/bin/env bash
# TAKD: teacher -> teaching assistant (TA_ARCH, trained first into <student>/ta) -> student.
# Edit the settings below, or set any of them in the environment, then run: bash ImageNet-100/scripts/run_takd.sh
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
source "$ROOT/tools/stages/common.sh"
# ---- settings
# DATA: keys images_train labels_train images_valid labels_valid (datasets/README.md)
DATA="${DATA:-$ROOT/datasets/ImageNet-100/ImageNet_128x128_100Class.h5}"
PRESET="${PRESET:-imagenet100}"
RUNS="${RUNS:-$ROOT/runs/ImageNet-100}"
TEACHER_CKPT="${TEACHER_CKPT:-$RUNS/vanilla/vgg19/seed0/model.pt}"
ARCHS="${ARCHS:-vgg8 ShuffleV1}"
OUT="${OUT:-$RUNS/distill}"
EPOCHS="${EPOCHS:-}"             # empty: the preset's vanilla recipe (240 epochs, batch 128)
BATCH_SIZE="${BATCH_SIZE:-}"
METHODS=takd
TA_ARCH="${TA_ARCH:-vgg13}"
TA_CKPT="${TA_CKPT:-}"   # a trained assistant to use instead (empty: train one of TA_ARCH per student)
SEEDS="${SEEDS:-0}"
DEVICE="${DEVICE:-auto}"
EXTRA="${EXTRA:-}"    # more cgankd flags for every call, shell-quoted (tools/stages/common.sh, split_words)
# ---- end of settings
source "$ROOT/tools/stages/distill.sh"
