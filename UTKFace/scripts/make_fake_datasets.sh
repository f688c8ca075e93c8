#!/usr/bin/env bash
# Sample the GAN, subsample with cDR-RS, filter and relabel with the teacher: the fake h5 file.
# Edit the settings below (or set them in the environment), then run: bash UTKFace/scripts/make_fake_datasets.sh
# Also read from the environment: SEEDS (default 0), DEVICE (auto), EXTRA (more cgankd flags).
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/UTKFace/UTKFace_64x64_prop_0.8.h5}"
RUNS="${RUNS:-$ROOT/runs/UTKFace}"
GAN_OUT="${GAN_OUT:-$RUNS/gan}"
TEACHER_CKPT="${TEACHER_CKPT:-$RUNS/vanilla/vgg13/seed0/model.pt}"
NFAKE_POOL="${NFAKE_POOL:-60000}"
RHO="${RHO:-0.7}"
SUBSAMPLE="${SUBSAMPLE:-cdr-rs}"
ADJUST="${ADJUST:-yes}"
FAKE="${FAKE:-$RUNS/fake/fake_${NFAKE_POOL}_rho${RHO}_${SUBSAMPLE}_adjust-${ADJUST}.h5}"
source "$ROOT/tools/stages/fake.sh"
