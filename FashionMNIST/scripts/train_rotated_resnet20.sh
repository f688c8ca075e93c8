#!/usr/bin/env bash
# The Rotated Fashion-MNIST resnet20 of docs/benchmarks.md (test MAE 5.34 degrees): a cosine run,
# then a cosine warm restart from its model at the same rate (SGDR-style, two cycles).
# Edit the settings below (or set any of them in the environment), then run:
#   bash FashionMNIST/scripts/train_rotated_resnet20.sh
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
source "$ROOT/tools/stages/common.sh"
# ---- settings
DATA="${DATA:-$ROOT/datasets/FashionMNIST/RotatedFashionMNIST_28x28.h5}"
PRESET="${PRESET:-rotated-fashion-mnist}"
RUNS="${RUNS:-$ROOT/runs/FashionMNIST}"
OUT="${OUT:-$RUNS/rotated_resnet20}"
EPOCHS="${EPOCHS:-40}"                   # first cycle
RESTART_EPOCHS="${RESTART_EPOCHS:-10}"   # second cycle, from the first cycle's model
LR="${LR:-0.01}"                         # both cycles start at this rate
SEEDS="${SEEDS:-0}"
DEVICE="${DEVICE:-auto}"
EXTRA="${EXTRA:-}"    # more cgankd flags for every call, shell-quoted (tools/stages/common.sh, split_words)
# ---- end of settings
split_words EXTRA_ARGS "$EXTRA" EXTRA
for seed in $SEEDS; do
    banner "resnet20 seed $seed: cycle 1, $EPOCHS epochs"
    "$CGANKD" train --data "$DATA" --preset "$PRESET" --arch resnet20 --epochs "$EPOCHS" --lr "$LR" --eval-every 5 \
        --seed "$seed" --device "$DEVICE" --out "$OUT/seed$seed/cycle1" --resume "${EXTRA_ARGS[@]}"
    banner "resnet20 seed $seed: cycle 2, $RESTART_EPOCHS epochs from cycle 1"
    "$CGANKD" train --data "$DATA" --preset "$PRESET" --arch resnet20 --init "$OUT/seed$seed/cycle1/model.pt" \
        --epochs "$RESTART_EPOCHS" --lr "$LR" --eval-every 2 --seed "$seed" --device "$DEVICE" \
        --out "$OUT/seed$seed/cycle2" --resume "${EXTRA_ARGS[@]}"
done
