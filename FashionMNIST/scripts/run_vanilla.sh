#!/usr/bin/env bash
# NOKD: train each net on the real training set only (teachers, and the students' NOKD rows).
# Recipe: the fashion-mnist preset (epochs, batch, lr, schedule); add flags via EXTRA to override.
# Edit the settings below, then run: bash FashionMNIST/scripts/run_vanilla.sh
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/FashionMNIST/FashionMNIST_28x28.h5}"
OUT="${OUT:-$ROOT/runs/FashionMNIST/vanilla}"
ARCHS="${ARCHS:-resnet20 resnet8}"
SEEDS="${SEEDS:-0}"
DEVICE="${DEVICE:-auto}"
EXTRA="${EXTRA:-}"
source "$ROOT/tools/stages/vanilla.sh"
