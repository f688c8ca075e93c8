# NOKD training of each net in ARCHS for each seed in SEEDS, into OUT/<arch>/seed<seed>.
# Reads ROOT DATA PRESET OUT ARCHS, optional EPOCHS BATCH_SIZE.
source "$ROOT/tools/stages/common.sh"
split_words EXTRA_ARGS "$EXTRA" EXTRA
schedule_args schedule
for arch in $ARCHS; do
    for seed in $SEEDS; do
        banner "NOKD $arch seed $seed"
        "$CGANKD" train --data "$DATA" --preset "$PRESET" --arch "$arch" --seed "$seed" --device "$DEVICE" \
            "${schedule[@]}" --out "$OUT/$arch/seed$seed" --resume "${EXTRA_ARGS[@]}"
    done
done
