#!/usr/bin/env bash
# KD baselines on real data (RepDistiller names; weights from cgankd/distill/_settings.py).
# Edit the settings below (or set them in the environment), then run: bash FashionMNIST/scripts/run_distill.sh
# Also read from the environment: SEEDS (default 0), DEVICE (auto), EXTRA (more cgankd flags).
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/FashionMNIST/FashionMNIST_28x28.h5}"
RUNS="${RUNS:-$ROOT/runs/FashionMNIST}"
TEACHER_CKPT="${TEACHER_CKPT:-$RUNS/vanilla/resnet20/seed0/model.pt}"
METHODS="${METHODS:-kd hint attention similarity correlation vid rkd pkt abound factor fsp nst crd}"
ARCHS="${ARCHS:-resnet8}"
OUT="${OUT:-$RUNS/distill}"
source "$ROOT/tools/stages/distill.sh"
