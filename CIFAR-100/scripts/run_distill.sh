#!/usr/bin/env bash
# KD baselines on real data (RepDistiller names; weights from cgankd/distill/_settings.py).
# Edit the settings below, or set any of them in the environment, then run: bash CIFAR-100/scripts/run_distill.sh
# METHODS: any of kd hint attention similarity correlation vid rkd pkt abound factor fsp nst crd,
# and the later logit methods dkd dist mlkd (`cgankd train --help` lists every name; takd, sskd
# and reviewkd have their own scripts). KD + logit standardisation, in a folder of its own:
#   METHODS=kd METHOD_FLAGS="--distill-set logit_std=true" OUT=$RUNS/distill_logit_std bash <this script>
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
METHODS="${METHODS:-kd hint attention similarity correlation vid rkd pkt abound factor fsp nst crd}"
INIT_EPOCHS="${INIT_EPOCHS:-}"   # AB, FT, FSP: epochs of the method's own first stage (empty: 30); not --epochs
METHOD_FLAGS="${METHOD_FLAGS:-}"   # more flags for the KD methods, e.g. "--distill-set T=2" (split as EXTRA)
SEEDS="${SEEDS:-0}"
DEVICE="${DEVICE:-auto}"
EXTRA="${EXTRA:-}"    # more cgankd flags for every call, shell-quoted (tools/stages/common.sh, split_words)
# ---- end of settings
source "$ROOT/tools/stages/distill.sh"
