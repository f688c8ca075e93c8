#!/usr/bin/env bash
# cGAN-KD students (NOKD init + the fake recipe on real + fake) and their real-only controls.
# Edit the settings below, or set any of them in the environment, then run: bash ImageNet-100/scripts/run_vanilla_fake.sh
# Students go to OUT/<fake set>_nfake<NFAKE>/{cgankd,control}/<arch>/seed<seed>.
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
source "$ROOT/tools/stages/common.sh"
# ---- settings
# DATA: keys images_train labels_train images_valid labels_valid (datasets/README.md)
DATA="${DATA:-$ROOT/datasets/ImageNet-100/ImageNet_128x128_100Class.h5}"
PRESET="${PRESET:-imagenet100}"
RUNS="${RUNS:-$ROOT/runs/ImageNet-100}"
VANILLA="${VANILLA:-$RUNS/vanilla}"    # the NOKD students each run starts from
ARCHS="${ARCHS:-resnet20 wrn_40_1 wrn_16_2 resnet8x4 resnet56 MobileNetV2 ShuffleV1 vgg8}"
NFAKE="${NFAKE:-100000}"            # fakes each student sees (the paper's NFAKE)
# The fake set they come from, named by make_fake_datasets.sh's settings: its size (NFAKE there;
# set it larger here for an NFAKE sweep over one set), RHO, SUBSAMPLE, ADJUST.
FAKE_SET_NFAKE="${FAKE_SET_NFAKE:-$NFAKE}"
RHO="${RHO:-0.9}"
SUBSAMPLE="${SUBSAMPLE:-cdr-rs}"
ADJUST="${ADJUST:-no}"
FAKE="${FAKE:-$(fake_file "$FAKE_SET_NFAKE")}"
OUT="${OUT:-$RUNS/fake_students}"
EPOCHS="${EPOCHS:-}"             # empty: the preset's fake recipe (240 epochs, batch 256)
BATCH_SIZE="${BATCH_SIZE:-}"
SEEDS="${SEEDS:-0}"
DEVICE="${DEVICE:-auto}"
EXTRA="${EXTRA:-}"    # more cgankd flags for every call, shell-quoted (tools/stages/common.sh, split_words)
# ---- end of settings
source "$ROOT/tools/stages/students_fake.sh"
