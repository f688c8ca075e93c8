#!/usr/bin/env bash
# TAKD: teacher -> teaching assistant (resnet20) -> student.
# Edit the settings below (or set them in the environment), then run: bash CIFAR-100/scripts/run_takd.sh
# Also read from the environment: SEEDS (default 0), DEVICE (auto), EXTRA (more cgankd flags).
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/CIFAR-100}"
RUNS="${RUNS:-$ROOT/runs/CIFAR-100}"
TEACHER_CKPT="${TEACHER_CKPT:-$RUNS/vanilla/resnet32x4/seed0/model.pt}"
METHODS="${METHODS:-takd}"
ARCHS="${ARCHS:-resnet8x4 ShuffleV2}"
OUT="${OUT:-$RUNS/distill}"
EXTRA="${EXTRA:---ta-arch resnet20}"
source "$ROOT/tools/stages/distill.sh"
