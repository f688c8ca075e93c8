#!/usr/bin/env bash
# cGAN-KD students (NOKD init + the fake recipe on real + fake) and their real-only controls.
# Edit the settings below (or set them in the environment), then run: bash SteeringAngle/scripts/run_vanilla_fake.sh
# Also read from the environment: SEEDS (default 0), DEVICE (auto), EXTRA (more cgankd flags).
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/SteeringAngle/SteeringAngle_64x64_prop_0.8.h5}"
RUNS="${RUNS:-$ROOT/runs/SteeringAngle}"
VANILLA="${VANILLA:-$RUNS/vanilla}"
ARCHS="${ARCHS:-resnet20 MobileNetV2 wrn_16_1 resnet8x4 wrn_40_1 ShuffleV1 resnet56}"
FAKE="${FAKE:-$RUNS/fake/fake_50000_rho0.7_cdr-rs_adjust-yes.h5}"
NFAKE="${NFAKE:-50000}"
OUT="${OUT:-$RUNS/fake_students}"
source "$ROOT/tools/stages/students_fake.sh"
