#!/usr/bin/env bash
# The positive control: can this protocol see a data effect at all? Scored on held-out training
# images (validation), never on the test split.
# From Fashion-MNIST's training split: N_REAL real images that every arm trains on, N_VAL held-out
# images that score every run, N_EXTRA more held-out real images (cgankd data holdout). A NOKD
# student per seed; then, from it, three finetunes with the same schedule: real only for as many
# steps (control), + NEXTRA of the extra real images with their true labels, + the same images with
# the teacher's labels (cgankd fake relabel). A protocol in which "+ extra real" does not clearly
# beat the control cannot tell whether fakes help.
# Edit the settings below (or set any of them in the environment), then run:
#   bash FashionMNIST/scripts/positive_control.sh
# The angle task: DATA=datasets/FashionMNIST/RotatedFashionMNIST45_28x28.h5 PRESET=rotated-fashion-mnist-45 \
#   RUNS=runs/RotatedFashionMNIST45_positive_control bash FashionMNIST/scripts/positive_control.sh
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
source "$ROOT/tools/stages/common.sh"
# ---- settings
DATA="${DATA:-$ROOT/datasets/FashionMNIST/FashionMNIST_28x28.h5}"   # cgankd data prepare fashion-mnist
PRESET="${PRESET:-fashion-mnist}"
RUNS="${RUNS:-$ROOT/runs/FashionMNIST_positive_control}"
N_REAL="${N_REAL:-1000}"
N_VAL="${N_VAL:-5000}"
N_EXTRA="${N_EXTRA:-5000}"
HOLDOUT_SEED="${HOLDOUT_SEED:-0}"
NEXTRA="${NEXTRA:-$N_EXTRA}"               # extra real images each "+ extra real" student sees
ARCH="${ARCH:-resnet8}"
TEACHER_ARCH="${TEACHER_ARCH:-resnet20}"
TEACHER_EPOCHS="${TEACHER_EPOCHS:-100}"    # with the preset's augmentation (the demo's teacher)
TEACHER_CKPT="${TEACHER_CKPT:-}"           # empty: train the teacher under $RUNS/teacher
NOKD_EPOCHS="${NOKD_EPOCHS:-60}"
NOKD_FLAGS="${NOKD_FLAGS:---no-augment}"   # shell-quoted words (tools/stages/common.sh, split_words)
FINETUNE_EPOCHS="${FINETUNE_EPOCHS:-5}"
FINETUNE_FLAGS="${FINETUNE_FLAGS:---no-augment}"
SEEDS="${SEEDS:-0 1}"
DEVICE="${DEVICE:-auto}"
EXTRA="${EXTRA:-}"                         # more cgankd train flags for every student
# ---- end of settings
check_ints N_REAL N_VAL N_EXTRA HOLDOUT_SEED NEXTRA TEACHER_EPOCHS NOKD_EPOCHS FINETUNE_EPOCHS
split_words nokd_flags "$NOKD_FLAGS" NOKD_FLAGS
split_words finetune_flags "$FINETUNE_FLAGS" FINETUNE_FLAGS
split_words extra "$EXTRA" EXTRA

banner "data: $N_REAL real, $N_VAL validation, $N_EXTRA extra real (seed $HOLDOUT_SEED)"
# Cheap and deterministic: remade every time, the same bytes for the same settings.
"$CGANKD" data holdout --data "$DATA" --n-real "$N_REAL" --n-val "$N_VAL" --n-extra "$N_EXTRA" \
    --seed "$HOLDOUT_SEED" --out "$RUNS/data" --force
stem="$(basename "${DATA%.h5}")"
VAL="$RUNS/data/${stem}_real${N_REAL}_val${N_VAL}_seed${HOLDOUT_SEED}.h5"
EXTRA_TRUE="$RUNS/data/${stem}_extra${N_EXTRA}_seed${HOLDOUT_SEED}.h5"
EXTRA_TEACHER="$RUNS/data/${stem}_extra${N_EXTRA}_seed${HOLDOUT_SEED}_teacher.h5"
common=(--data "$VAL" --preset "$PRESET" --arch "$ARCH" --device "$DEVICE" --resume "${extra[@]}")

if [ -z "$TEACHER_CKPT" ]; then
    banner "teacher $TEACHER_ARCH, $TEACHER_EPOCHS epochs"
    "$CGANKD" train --data "$VAL" --preset "$PRESET" --arch "$TEACHER_ARCH" --epochs "$TEACHER_EPOCHS" \
        --device "$DEVICE" --out "$RUNS/teacher" --resume
    TEACHER_CKPT="$RUNS/teacher/model.pt"
fi
"$CGANKD" fake relabel --data "$EXTRA_TRUE" --teacher "$TEACHER_CKPT" --out "$EXTRA_TEACHER" --device "$DEVICE" --force

for seed in $SEEDS; do
    nokd="$RUNS/nokd_e${NOKD_EPOCHS}/seed$seed"
    banner "NOKD $ARCH seed $seed"
    "$CGANKD" train "${common[@]}" --epochs "$NOKD_EPOCHS" --seed "$seed" "${nokd_flags[@]}" --out "$nokd"
    finetune=(--init "$nokd/model.pt" --epochs "$FINETUNE_EPOCHS" --seed "$seed" --nfake "$NEXTRA" "${finetune_flags[@]}")
    tag="e${NOKD_EPOCHS}_f${FINETUNE_EPOCHS}_n${NEXTRA}"
    banner "control (real only, same steps) seed $seed"
    "$CGANKD" train "${common[@]}" "${finetune[@]}" --same-steps-as "$EXTRA_TRUE" --out "$RUNS/control_$tag/seed$seed"
    banner "+ extra real, true labels, seed $seed"
    "$CGANKD" train "${common[@]}" "${finetune[@]}" --fake "$EXTRA_TRUE" --out "$RUNS/extra_true_$tag/seed$seed"
    banner "+ extra real, teacher labels, seed $seed"
    "$CGANKD" train "${common[@]}" "${finetune[@]}" --fake "$EXTRA_TEACHER" --out "$RUNS/extra_teacher_$tag/seed$seed"
done
"$CGANKD" report "$RUNS" --out "$RUNS/tables"
