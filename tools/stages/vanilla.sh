# Stage body shared by every <dataset>/scripts/run_vanilla.sh: NOKD training of each net in
# ARCHS for each seed in SEEDS. Reads ROOT DATA OUT ARCHS SEEDS DEVICE and optional EXTRA.
set -euo pipefail
CGANKD="${CGANKD:-$ROOT/.venv/bin/cgankd}"
for arch in $ARCHS; do
    for seed in $SEEDS; do
        echo "== NOKD $arch seed $seed"
        "$CGANKD" train --data "$DATA" --arch "$arch" --seed "$seed" --device "$DEVICE" \
            --out "$OUT/$arch/seed$seed" --resume ${EXTRA:-}
    done
done
