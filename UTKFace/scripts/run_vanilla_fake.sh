#!/usr/bin/env bash
# cGAN-KD students (NOKD init + the fake recipe on real + fake) and their real-only controls.
# Edit the settings below, or set any of them in the environment, then run: bash UTKFace/scripts/run_vanilla_fake.sh
# Students go to OUT/<fake set>_nfake<NFAKE>/{cgankd,control}/<arch>/seed<seed>.
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
source "$ROOT/tools/stages/common.sh"
# ---- settings
# DATA: keys images_train labels_train images_test labels_test, ages 1-60 (datasets/README.md)
DATA="${DATA:-$ROOT/datasets/UTKFace/UTKFace_64x64_prop_0.8.h5}"
PRESET="${PRESET:-utkface}"
RUNS="${RUNS:-$ROOT/runs/UTKFace}"
VANILLA="${VANILLA:-$RUNS/vanilla}"    # the NOKD students each run starts from
ARCHS="${ARCHS:-wrn_16_1 MobileNetV2 resnet56 ShuffleV1 resnet20 wrn_40_1}"
NFAKE="${NFAKE:-60000}"            # fakes each student sees (the paper's NFAKE)
# The fake set they come from, named by make_fake_datasets.sh's settings: its size (NFAKE there;
# set it larger here for an NFAKE sweep over one set), RHO, SUBSAMPLE, ADJUST.
FAKE_SET_NFAKE="${FAKE_SET_NFAKE:-$NFAKE}"
RHO="${RHO:-0.7}"
SUBSAMPLE="${SUBSAMPLE:-cdr-rs}"
ADJUST="${ADJUST:-yes}"
FAKE="${FAKE:-$(fake_file "$FAKE_SET_NFAKE")}"
OUT="${OUT:-$RUNS/fake_students}"
EPOCHS="${EPOCHS:-}"             # empty: the preset's fake recipe (240 epochs, batch 128)
BATCH_SIZE="${BATCH_SIZE:-}"
SEEDS="${SEEDS:-0}"
DEVICE="${DEVICE:-auto}"
EXTRA="${EXTRA:-}"    # more cgankd flags for every call, shell-quoted (tools/stages/common.sh, split_words)
# ---- end of settings
source "$ROOT/tools/stages/students_fake.sh"
