#!/usr/bin/env bash
# cGAN-KD students (NOKD init + the fake recipe on real + fake) and their real-only controls.
# Edit the settings below (or set them in the environment), then run: bash CIFAR-100/scripts/run_vanilla_fake.sh
# Also read from the environment: SEEDS (default 0), DEVICE (auto), EXTRA (more cgankd flags).
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/CIFAR-100}"
RUNS="${RUNS:-$ROOT/runs/CIFAR-100}"
VANILLA="${VANILLA:-$RUNS/vanilla}"
ARCHS="${ARCHS:-resnet20 resnet8x4 vgg8 wrn_40_1 MobileNetV2 ShuffleV1 ShuffleV2 wrn_16_2}"
FAKE="${FAKE:-$RUNS/fake/fake_100000_rho0.9_cdr-rs_adjust-yes.h5}"
NFAKE="${NFAKE:-100000}"
OUT="${OUT:-$RUNS/fake_students}"
source "$ROOT/tools/stages/students_fake.sh"
