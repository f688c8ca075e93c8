#!/usr/bin/env bash
# cGAN-KD + a KD method, beside the same KD method for as many steps on real data only.
# Edit the settings below, or set any of them in the environment, then run: bash CIFAR-100/scripts/run_distill_fake.sh
# METHODS: any KD method, e.g. kd hint vid rkd crd, also sskd, takd (its assistant: run_takd.sh)
# and the later logit methods dkd dist mlkd. Students go to
# OUT/<fake set>_nfake<NFAKE>/{cgankd,control}_<method>/<arch>/seed<seed>.
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
source "$ROOT/tools/stages/common.sh"
# ---- settings
# DATA: torchvision's cifar-100-python folder, or an h5 with the keys images_train labels_train
#   images_test labels_test, e.g. DATA=$ROOT/datasets/CIFAR-100/CIFAR100_32x32.h5 (datasets/README.md)
DATA="${DATA:-$ROOT/datasets/CIFAR-100}"
PRESET="${PRESET:-cifar100}"
RUNS="${RUNS:-$ROOT/runs/CIFAR-100}"
VANILLA="${VANILLA:-$RUNS/vanilla}"    # the NOKD students each run starts from
TEACHER_CKPT="${TEACHER_CKPT:-$RUNS/vanilla/resnet32x4/seed0/model.pt}"
ARCHS="${ARCHS:-resnet8x4 ShuffleV2}"
METHODS="${METHODS:-kd hint vid rkd crd}"
NFAKE="${NFAKE:-100000}"            # fakes each student sees (the paper's NFAKE)
# The fake set they come from, named by make_fake_datasets.sh's settings: its size (NFAKE there;
# set it larger here for an NFAKE sweep over one set), RHO, SUBSAMPLE, ADJUST.
FAKE_SET_NFAKE="${FAKE_SET_NFAKE:-$NFAKE}"
RHO="${RHO:-0.9}"
SUBSAMPLE="${SUBSAMPLE:-cdr-rs}"
ADJUST="${ADJUST:-yes}"
FAKE="${FAKE:-$(fake_file "$FAKE_SET_NFAKE")}"
OUT="${OUT:-$RUNS/fake_students}"
EPOCHS="${EPOCHS:-}"             # empty: the preset's fake recipe (240 epochs, batch 128)
BATCH_SIZE="${BATCH_SIZE:-}"
INIT_EPOCHS="${INIT_EPOCHS:-}"   # AB, FT, FSP: epochs of the method's own first stage (empty: 30); not --epochs
SSKD_T_EPOCHS="${SSKD_T_EPOCHS:-}"   # SSKD's teacher-head stage (empty: 60); not --epochs
TA_CKPT="${TA_CKPT:-$RUNS/distill/takd/${ARCHS%% *}/seed0/ta/model.pt}"   # takd: run_takd.sh's assistant
METHOD_FLAGS="${METHOD_FLAGS:-}"   # more flags for the KD methods (split as EXTRA)
SEEDS="${SEEDS:-0}"
DEVICE="${DEVICE:-auto}"
EXTRA="${EXTRA:-}"    # more cgankd flags for every call, shell-quoted (tools/stages/common.sh, split_words)
# ---- end of settings
for METHOD in $METHODS; do
    source "$ROOT/tools/stages/students_fake.sh"
done
