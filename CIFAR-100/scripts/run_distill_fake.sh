#!/usr/bin/env bash
# cGAN-KD + a KD method, beside the same KD method for as many steps on real data only.
# Edit the settings below (or set them in the environment), then run: bash CIFAR-100/scripts/run_distill_fake.sh
# Also read from the environment: SEEDS (default 0), DEVICE (auto), EXTRA (more cgankd flags).
# METHODS: any KD method, e.g. kd hint vid rkd crd, or the later logit methods dkd dist mlkd
# (`cgankd train --help` lists every name). KD + logit standardisation: METHODS=kd
# METHOD_FLAGS="--distill-set logit_std=true" OUT="$RUNS/fake_students_logit_std" (its own folder).
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/CIFAR-100}"
RUNS="${RUNS:-$ROOT/runs/CIFAR-100}"
VANILLA="${VANILLA:-$RUNS/vanilla}"
TEACHER_CKPT="${TEACHER_CKPT:-$RUNS/vanilla/resnet32x4/seed0/model.pt}"
ARCHS="${ARCHS:-resnet8x4 ShuffleV2}"
METHODS="${METHODS:-kd hint vid rkd crd}"
FAKE="${FAKE:-$RUNS/fake/fake_100000_rho0.9_cdr-rs_adjust-yes.h5}"
NFAKE="${NFAKE:-100000}"
OUT="${OUT:-$RUNS/fake_students}"
# takd only: its trained assistant (run_takd.sh writes one beside each TAKD student).
TA_CKPT="${TA_CKPT:-$RUNS/distill/takd/${ARCHS%% *}/seed0/ta/model.pt}"
for METHOD in $METHODS; do
    source "$ROOT/tools/stages/students_fake.sh"
done
