#!/usr/bin/env bash
# Sample the GAN, subsample with cDR-RS, filter and relabel with the teacher: the fake h5 file.
# Edit the settings below, or set any of them in the environment, then run: bash SteeringAngle/scripts/make_fake_datasets.sh
# A set made earlier with the same settings is kept; other settings name another file.
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
source "$ROOT/tools/stages/common.sh"
# ---- settings
# DATA: keys images_train labels_train images_test labels_test, angles in degrees (datasets/README.md)
DATA="${DATA:-$ROOT/datasets/SteeringAngle/SteeringAngle_64x64_prop_0.8.h5}"
PRESET="${PRESET:-steeringangle}"
RUNS="${RUNS:-$ROOT/runs/SteeringAngle}"
GAN_OUT="${GAN_OUT:-$RUNS/gan}"
TEACHER_CKPT="${TEACHER_CKPT:-$RUNS/vanilla/vgg19/seed0/model.pt}"
NFAKE="${NFAKE:-50000}"            # processed fakes in the set (the paper's NFAKE)
RHO="${RHO:-0.7}"                 # filter: keep fakes under the teacher's rho-quantile (1: no filter)
SUBSAMPLE="${SUBSAMPLE:-cdr-rs}"       # cdr-rs | none
ADJUST="${ADJUST:-yes}"             # yes: label := the teacher's prediction
FAKE="${FAKE:-$(fake_file "$NFAKE")}"   # named from the four settings above
# Sizes of the processing; empty: the paper's (filter burn-in 1000 in all; cDR-RS density
# ratio 200 epochs, sparse autoencoder 200 epochs; rejection burn-in and batch 500, 500).
FILTER_BURN_IN="${FILTER_BURN_IN:-}"
DR_EPOCHS="${DR_EPOCHS:-}"
RS_BURN_IN="${RS_BURN_IN:-}"
RS_BATCH_SIZE="${RS_BATCH_SIZE:-}"
SPARSE_AE_EPOCHS="${SPARSE_AE_EPOCHS:-}"   # the feature net of regression cDR-RS
FAKE_SEED="${FAKE_SEED:-0}"
DEVICE="${DEVICE:-auto}"
EXTRA="${EXTRA:-}"    # more cgankd flags, shell-quoted (tools/stages/common.sh, split_words)
# ---- end of settings
source "$ROOT/tools/stages/fake.sh"
