# NOKD training of each net in ARCHS for each seed in SEEDS. Reads ROOT DATA OUT ARCHS.
source "$ROOT/tools/stages/common.sh"
for arch in $ARCHS; do
    for seed in $SEEDS; do
        banner "NOKD $arch seed $seed"
        "$CGANKD" train --data "$DATA" --arch "$arch" --seed "$seed" --device "$DEVICE" \
            --out "$OUT/$arch/seed$seed" --resume $EXTRA
    done
done
