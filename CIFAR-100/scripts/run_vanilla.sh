#!/usr/bin/env bash
# NOKD: train each net on the real training set only (teachers, and the students' NOKD rows).
# Recipe: the cifar100 preset (epochs, batch, lr, schedule); add flags via EXTRA to override.
# Edit the settings below, then run: bash CIFAR-100/scripts/run_vanilla.sh
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/CIFAR-100}"
OUT="${OUT:-$ROOT/runs/CIFAR-100/vanilla}"
ARCHS="${ARCHS:-densenet121 resnet110 resnet32x4 vgg13 vgg19 wrn_40_2 ResNet50 resnet20 resnet8x4 vgg8 wrn_40_1 wrn_16_2 MobileNetV2 ShuffleV1 ShuffleV2}"
SEEDS="${SEEDS:-0}"
DEVICE="${DEVICE:-auto}"
EXTRA="${EXTRA:-}"
source "$ROOT/tools/stages/vanilla.sh"
