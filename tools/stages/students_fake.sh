# cGAN-KD students (+ optional KD method) and their real-only controls: each starts from the
# student's NOKD checkpoint and trains the "fake" recipe once on real + fake, once on real only
# for as many optimiser steps (--same-steps-as).
# Reads ROOT DATA VANILLA ARCHS FAKE NFAKE OUT, optional METHOD TEACHER_CKPT, TA_CKPT (takd's
# trained assistant) and METHOD_FLAGS (more flags for this method, e.g. --distill-set KEY=VALUE).
source "$ROOT/tools/stages/common.sh"
kd_flags=""
[ -n "${METHOD:-}" ] && kd_flags="--teacher $TEACHER_CKPT --distill $METHOD ${METHOD_FLAGS:-}"
[ "${METHOD:-}" = takd ] && kd_flags="$kd_flags --ta $TA_CKPT"
for arch in $ARCHS; do
    for seed in $SEEDS; do
        init="$VANILLA/$arch/seed$seed/model.pt"
        [ -f "$init" ] || { echo "missing $init: run run_vanilla.sh first" >&2; exit 2; }
        banner "cGAN-KD${METHOD:+ + $METHOD} $arch seed $seed"
        "$CGANKD" train --data "$DATA" --arch "$arch" --seed "$seed" --device "$DEVICE" --init "$init" \
            --fake "$FAKE" --nfake "$NFAKE" $kd_flags --out "$OUT/cgankd${METHOD:+_$METHOD}/$arch/seed$seed" --resume $EXTRA
        banner "control (real only, same steps)${METHOD:+ + $METHOD} $arch seed $seed"
        "$CGANKD" train --data "$DATA" --arch "$arch" --seed "$seed" --device "$DEVICE" --init "$init" \
            --same-steps-as "$FAKE" --nfake "$NFAKE" $kd_flags --out "$OUT/control${METHOD:+_$METHOD}/$arch/seed$seed" \
            --resume $EXTRA
    done
done
