# KD baselines on real data: each method in METHODS for each student in ARCHS, into
# OUT/<method>/<arch>/seed<seed>. Reads ROOT DATA PRESET TEACHER_CKPT METHODS ARCHS OUT, optional
# EPOCHS BATCH_SIZE and the method settings of method_args (INIT_EPOCHS SSKD_T_EPOCHS TA_ARCH).
source "$ROOT/tools/stages/common.sh"
split_words EXTRA_ARGS "$EXTRA" EXTRA
[ -f "$TEACHER_CKPT" ] || die "missing teacher $TEACHER_CKPT: run run_vanilla.sh first (or set TEACHER_CKPT)"
schedule_args schedule
for method in $METHODS; do
    method_args kd "$method"
    for arch in $ARCHS; do
        for seed in $SEEDS; do
            banner "$method $arch seed $seed"
            "$CGANKD" train --data "$DATA" --preset "$PRESET" --arch "$arch" --seed "$seed" --device "$DEVICE" \
                "${schedule[@]}" "${kd[@]}" --out "$OUT/$method/$arch/seed$seed" --resume "${EXTRA_ARGS[@]}"
        done
    done
done
