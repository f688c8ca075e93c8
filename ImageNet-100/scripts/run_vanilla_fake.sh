#!/usr/bin/env bash
# cGAN-KD students (NOKD init + the fake recipe on real + fake) and their real-only controls.
# Edit the settings below (or set them in the environment), then run: bash ImageNet-100/scripts/run_vanilla_fake.sh
# Also read from the environment: SEEDS (default 0), DEVICE (auto), EXTRA (more cgankd flags).
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/ImageNet-100/ImageNet_128x128_100Class.h5}"
RUNS="${RUNS:-$ROOT/runs/ImageNet-100}"
VANILLA="${VANILLA:-$RUNS/vanilla}"
ARCHS="${ARCHS:-resnet20 wrn_40_1 wrn_16_2 resnet8x4 resnet56 MobileNetV2 ShuffleV1 vgg8}"
FAKE="${FAKE:-$RUNS/fake/fake_100000_rho0.9_cdr-rs_adjust-no.h5}"
NFAKE="${NFAKE:-100000}"
OUT="${OUT:-$RUNS/fake_students}"
source "$ROOT/tools/stages/students_fake.sh"
