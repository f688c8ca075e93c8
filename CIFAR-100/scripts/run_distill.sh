#!/usr/bin/env bash
# KD baselines on real data (RepDistiller names; weights from cgankd/distill/_settings.py).
# Edit the settings below (or set them in the environment), then run: bash CIFAR-100/scripts/run_distill.sh
# Also read from the environment: SEEDS (default 0), DEVICE (auto), EXTRA (more cgankd flags).
# METHODS: any of kd hint attention similarity correlation vid rkd pkt abound factor fsp nst crd,
# and the later logit methods dkd dist mlkd (`cgankd train --help` lists every name; takd, sskd
# and reviewkd have their own scripts). KD + logit standardisation: METHODS=kd
# EXTRA="--distill-set logit_std=true" OUT="$RUNS/distill_logit_std" (its own folder).
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/CIFAR-100}"
RUNS="${RUNS:-$ROOT/runs/CIFAR-100}"
TEACHER_CKPT="${TEACHER_CKPT:-$RUNS/vanilla/resnet32x4/seed0/model.pt}"
METHODS="${METHODS:-kd hint attention similarity correlation vid rkd pkt abound factor fsp nst crd}"
ARCHS="${ARCHS:-resnet8x4 ShuffleV2}"
OUT="${OUT:-$RUNS/distill}"
source "$ROOT/tools/stages/distill.sh"
