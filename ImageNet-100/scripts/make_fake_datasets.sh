#!/usr/bin/env bash
# Sample the GAN, subsample with cDR-RS, filter and relabel with the teacher: the fake h5 file.
# Edit the settings below, or set any of them in the environment, then run: bash ImageNet-100/scripts/make_fake_datasets.sh
# A set made earlier with the same settings is kept; other settings name another file.
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
source "$ROOT/tools/stages/common.sh"
# ---- settings
# DATA: keys images_train labels_train images_valid labels_valid (datasets/README.md)
DATA="${DATA:-$ROOT/datasets/ImageNet-100/ImageNet_128x128_100Class.h5}"
PRESET="${PRESET:-imagenet100}"
RUNS="${RUNS:-$ROOT/runs/ImageNet-100}"
GAN_OUT="${GAN_OUT:-$RUNS/gan}"
TEACHER_CKPT="${TEACHER_CKPT:-$RUNS/vanilla/densenet161/seed0/model.pt}"
NFAKE="${NFAKE:-100000}"            # processed fakes in the set (the paper's NFAKE)
RHO="${RHO:-0.9}"                 # filter: keep fakes under the teacher's rho-quantile (1: no filter)
SUBSAMPLE="${SUBSAMPLE:-cdr-rs}"       # cdr-rs | none
ADJUST="${ADJUST:-no}"             # yes: label := the teacher's prediction
FAKE="${FAKE:-$(fake_file "$NFAKE")}"   # named from the four settings above
# Sizes of the processing; empty: the paper's (filter burn-in 1000 per class; cDR-RS density
# ratio 200 epochs; rejection burn-in and batch 1000, 500 (ImageNet-100's make_fake_datasets/scripts/run.sh)).
FILTER_BURN_IN="${FILTER_BURN_IN:-}"
DR_EPOCHS="${DR_EPOCHS:-}"
RS_BURN_IN="${RS_BURN_IN:-1000}"
RS_BATCH_SIZE="${RS_BATCH_SIZE:-500}"
FAKE_SEED="${FAKE_SEED:-0}"
DEVICE="${DEVICE:-auto}"
EXTRA="${EXTRA:-}"    # more cgankd flags, shell-quoted (tools/stages/common.sh, split_words)
# ---- end of settings
source "$ROOT/tools/stages/fake.sh"
