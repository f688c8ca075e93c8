#!/usr/bin/env bash
# cGAN-KD students (NOKD init + the fake recipe on real + fake) and their real-only controls.
# Edit the settings below (or set them in the environment), then run: bash UTKFace/scripts/run_vanilla_fake.sh
# Also read from the environment: SEEDS (default 0), DEVICE (auto), EXTRA (more cgankd flags).
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/UTKFace/UTKFace_64x64_prop_0.8.h5}"
RUNS="${RUNS:-$ROOT/runs/UTKFace}"
VANILLA="${VANILLA:-$RUNS/vanilla}"
ARCHS="${ARCHS:-wrn_16_1 MobileNetV2 resnet56 ShuffleV1 resnet20 wrn_40_1}"
FAKE="${FAKE:-$RUNS/fake/fake_60000_rho0.7_cdr-rs_adjust-yes.h5}"
NFAKE="${NFAKE:-60000}"
OUT="${OUT:-$RUNS/fake_students}"
source "$ROOT/tools/stages/students_fake.sh"
