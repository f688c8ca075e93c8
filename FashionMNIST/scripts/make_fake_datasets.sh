#!/usr/bin/env bash
# Sample the GAN, subsample with cDR-RS, filter and relabel with the teacher: the fake h5 file.
# Edit the settings below (or set them in the environment), then run: bash FashionMNIST/scripts/make_fake_datasets.sh
# Also read from the environment: SEEDS (default 0), DEVICE (auto), EXTRA (more cgankd flags).
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/FashionMNIST/FashionMNIST_28x28.h5}"
RUNS="${RUNS:-$ROOT/runs/FashionMNIST}"
GAN_OUT="${GAN_OUT:-$RUNS/gan}"
TEACHER_CKPT="${TEACHER_CKPT:-$RUNS/vanilla/resnet20/seed0/model.pt}"
NFAKE_POOL="${NFAKE_POOL:-20000}"
RHO="${RHO:-0.9}"
SUBSAMPLE="${SUBSAMPLE:-cdr-rs}"
ADJUST="${ADJUST:-yes}"
FAKE="${FAKE:-$RUNS/fake/fake_${NFAKE_POOL}_rho${RHO}_${SUBSAMPLE}_adjust-${ADJUST}.h5}"
source "$ROOT/tools/stages/fake.sh"
