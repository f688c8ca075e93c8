#!/usr/bin/env bash
# NOKD: train each net on the real training set only (teachers, and the students' NOKD rows).
# Recipe: the imagenet100 preset (epochs, batch, lr, schedule); add flags via EXTRA to override.
# Edit the settings below, then run: bash ImageNet-100/scripts/run_vanilla.sh
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/ImageNet-100/ImageNet_128x128_100Class.h5}"
OUT="${OUT:-$ROOT/runs/ImageNet-100/vanilla}"
ARCHS="${ARCHS:-densenet161 resnet110 wrn_40_2 ResNet34 vgg19 resnet20 wrn_40_1 wrn_16_2 resnet8x4 resnet56 MobileNetV2 ShuffleV1 vgg8}"
SEEDS="${SEEDS:-0}"
DEVICE="${DEVICE:-auto}"
EXTRA="${EXTRA:-}"
source "$ROOT/tools/stages/vanilla.sh"
