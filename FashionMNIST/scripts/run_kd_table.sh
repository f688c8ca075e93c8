#!/usr/bin/env bash
# The KD table in README.md. On the demo's 3000-image Fashion-MNIST subset, with the demo's resnet20
# teacher and cGAN-KD fake set: NOKD students, then for each KD method a finetune from each NOKD
# student on real + fakes, beside its real-only control (same init, as many steps).
# Run `cgankd demo --task fashion-mnist` first (it writes DATA, TEACHER_CKPT and FAKE), edit the
# settings below (or set them in the environment), then run: bash FashionMNIST/scripts/run_kd_table.sh
# Also read from the environment: DEVICE (auto).
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DEMO="${DEMO:-$ROOT/demo_out/fashion-mnist}"
DATA="${DATA:-$DEMO/FashionMNIST_subset3000.h5}"
TEACHER_CKPT="${TEACHER_CKPT:-$DEMO/teacher/model.pt}"
FAKE="${FAKE:-$DEMO/fake_cGAN-KD.h5}"
NFAKE="${NFAKE:-6000}"
RUNS="${RUNS:-$ROOT/runs/FashionMNIST_kd}"
ARCHS="${ARCHS:-resnet8}"
TA_ARCH="${TA_ARCH:-resnet14}"
SEEDS="${SEEDS:-0 1 2}"
# none: cGAN-KD without a KD method; kd_logit_std: kd with logit standardisation (its own folders).
METHODS="${METHODS:-none kd hint crd reviewkd takd sskd dkd dist mlkd kd_logit_std}"
NOKD_EPOCHS="${NOKD_EPOCHS:-30}"
FINETUNE_EPOCHS="${FINETUNE_EPOCHS:-5}"
# SSKD first trains the teacher's SS head (RepDistiller: 60 epochs beside the student's 240); 4 here.
SSKD_FLAGS="${SSKD_FLAGS:---distill-set t_epochs=4 --distill-set t_milestones=[2,3]}"
# CRD's 16384 negatives are capped at the training-set size, which differs with and without fakes;
# one count below both keeps the two arms alike (and the fake arm 3x cheaper).
CRD_FLAGS="${CRD_FLAGS:---distill-set nce_k=2048}"
# Logit standardisation (Sun et al. 2024) on kd: base temperature 2, KD weight 9 (cgankd/distill/_settings.py).
LOGIT_STD_FLAGS="${LOGIT_STD_FLAGS:---distill-set logit_std=true}"

OUT="$RUNS/vanilla" EXTRA="--epochs $NOKD_EPOCHS"
source "$ROOT/tools/stages/vanilla.sh"
if [[ " $METHODS " == *" takd "* ]]; then   # one assistant (seed 0), trained with its TAKD student
    OUT="$RUNS/distill" METHODS_SAVED="$METHODS" SEEDS_SAVED="$SEEDS"
    METHODS=takd SEEDS=0 EXTRA="--ta-arch $TA_ARCH --epochs $NOKD_EPOCHS"
    source "$ROOT/tools/stages/distill.sh"
    METHODS="$METHODS_SAVED" SEEDS="$SEEDS_SAVED"
fi
VANILLA="$RUNS/vanilla" OUT="$RUNS/fake_students" EXTRA="--epochs $FINETUNE_EPOCHS"
TA_CKPT="$RUNS/distill/takd/${ARCHS%% *}/seed0/ta/model.pt"
for METHOD in $METHODS; do
    [ "$METHOD" = none ] && METHOD=""
    METHOD_FLAGS="" OUT="$RUNS/fake_students"
    [ "$METHOD" = sskd ] && METHOD_FLAGS="$SSKD_FLAGS"
    [ "$METHOD" = crd ] && METHOD_FLAGS="$CRD_FLAGS"
    # Run folders are named after the method, so kd + logit standardisation gets a folder of its own.
    [ "$METHOD" = kd_logit_std ] && METHOD=kd METHOD_FLAGS="$LOGIT_STD_FLAGS" OUT="$RUNS/fake_students/logit_std"
    source "$ROOT/tools/stages/students_fake.sh"
done
"$CGANKD" report "$RUNS/vanilla" "$RUNS/fake_students" --out "$RUNS/tables"
