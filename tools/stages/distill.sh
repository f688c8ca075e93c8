# KD baselines on real data: each method in METHODS for each student in ARCHS.
# Reads ROOT DATA TEACHER_CKPT METHODS ARCHS OUT.
source "$ROOT/tools/stages/common.sh"
for method in $METHODS; do
    for arch in $ARCHS; do
        for seed in $SEEDS; do
            banner "$method $arch seed $seed"
            "$CGANKD" train --data "$DATA" --arch "$arch" --seed "$seed" --device "$DEVICE" \
                --teacher "$TEACHER_CKPT" --distill "$method" --out "$OUT/$method/$arch/seed$seed" --resume $EXTRA
        done
    done
done
