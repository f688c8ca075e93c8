#!/usr/bin/env bash
# cGAN-KD students (NOKD init + the fake recipe on real + fake) and their real-only controls.
# Edit the settings below (or set them in the environment), then run: bash FashionMNIST/scripts/run_vanilla_fake.sh
# Also read from the environment: SEEDS (default 0), DEVICE (auto), EXTRA (more cgankd flags).
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/FashionMNIST/FashionMNIST_28x28.h5}"
RUNS="${RUNS:-$ROOT/runs/FashionMNIST}"
VANILLA="${VANILLA:-$RUNS/vanilla}"
ARCHS="${ARCHS:-resnet8}"
FAKE="${FAKE:-$RUNS/fake/fake_20000_rho0.9_cdr-rs_adjust-yes.h5}"
NFAKE="${NFAKE:-20000}"
OUT="${OUT:-$RUNS/fake_students}"
source "$ROOT/tools/stages/students_fake.sh"
