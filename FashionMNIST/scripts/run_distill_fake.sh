#!/usr/bin/env bash
# cGAN-KD + a KD method, beside the same KD method for as many steps on real data only.
# Edit the settings below (or set them in the environment), then run: bash FashionMNIST/scripts/run_distill_fake.sh
# Also read from the environment: SEEDS (default 0), DEVICE (auto), EXTRA (more cgankd flags).
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/FashionMNIST/FashionMNIST_28x28.h5}"
RUNS="${RUNS:-$ROOT/runs/FashionMNIST}"
VANILLA="${VANILLA:-$RUNS/vanilla}"
TEACHER_CKPT="${TEACHER_CKPT:-$RUNS/vanilla/resnet20/seed0/model.pt}"
ARCHS="${ARCHS:-resnet8}"
FAKE="${FAKE:-$RUNS/fake/fake_20000_rho0.9_cdr-rs_adjust-yes.h5}"
NFAKE="${NFAKE:-20000}"
OUT="${OUT:-$RUNS/fake_students}"
# takd only: its trained assistant (run_takd.sh writes one beside each TAKD student).
TA_CKPT="${TA_CKPT:-$RUNS/distill/takd/${ARCHS%% *}/seed0/ta/model.pt}"
for METHOD in ${METHODS:-kd hint vid rkd crd}; do
    source "$ROOT/tools/stages/students_fake.sh"
done
