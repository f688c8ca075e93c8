# cGAN-KD students (+ optional KD method METHOD) and their real-only controls: each starts from the
# student's NOKD checkpoint and trains the "fake" recipe once on real + NFAKE fakes of FAKE, once on
# real only for as many optimiser steps (--same-steps-as). Folders name the fake set and NFAKE:
#   OUT/<FAKE's stem>_nfake<NFAKE>/{cgankd,control}[_<METHOD>]/<arch>/seed<seed>
# Reads ROOT DATA PRESET VANILLA ARCHS FAKE NFAKE OUT, optional EPOCHS BATCH_SIZE, and with METHOD
# TEACHER_CKPT and the method settings of method_args (INIT_EPOCHS SSKD_T_EPOCHS TA_CKPT METHOD_FLAGS).
source "$ROOT/tools/stages/common.sh"
split_words EXTRA_ARGS "$EXTRA" EXTRA
[ -f "$FAKE" ] || die "missing fake set $FAKE: run make_fake_datasets.sh first, with the size (FAKE_SET_NFAKE here, NFAKE there), RHO, SUBSAMPLE and ADJUST used here (or set FAKE)"
check_ints NFAKE
schedule_args schedule
kd=()
if [ -n "${METHOD:-}" ]; then
    [ -f "$TEACHER_CKPT" ] || die "missing teacher $TEACHER_CKPT: run run_vanilla.sh first (or set TEACHER_CKPT)"
    [ "$METHOD" != takd ] || [ -f "$TA_CKPT" ] || die "missing assistant $TA_CKPT: run run_takd.sh first (or set TA_CKPT)"
    method_args kd "$METHOD"
fi
stem=$(basename "$FAKE" .h5)
arm="$OUT/${stem}_nfake$NFAKE"
for arch in $ARCHS; do
    for seed in $SEEDS; do
        init="$VANILLA/$arch/seed$seed/model.pt"
        [ -f "$init" ] || die "missing $init: run run_vanilla.sh first"
        banner "cGAN-KD${METHOD:+ + $METHOD} $arch seed $seed"
        "$CGANKD" train --data "$DATA" --preset "$PRESET" --arch "$arch" --seed "$seed" --device "$DEVICE" \
            --init "$init" "${schedule[@]}" --fake "$FAKE" --nfake "$NFAKE" "${kd[@]}" \
            --out "$arm/cgankd${METHOD:+_$METHOD}/$arch/seed$seed" --resume "${EXTRA_ARGS[@]}"
        banner "control (real only, same steps)${METHOD:+ + $METHOD} $arch seed $seed"
        "$CGANKD" train --data "$DATA" --preset "$PRESET" --arch "$arch" --seed "$seed" --device "$DEVICE" \
            --init "$init" "${schedule[@]}" --same-steps-as "$FAKE" --nfake "$NFAKE" "${kd[@]}" \
            --out "$arm/control${METHOD:+_$METHOD}/$arch/seed$seed" --resume "${EXTRA_ARGS[@]}"
    done
done
