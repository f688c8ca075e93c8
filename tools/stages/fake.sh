# Make the processed fake set FAKE. Reads ROOT DATA PRESET GAN_OUT TEACHER_CKPT NFAKE FAKE RHO SUBSAMPLE
# ADJUST (yes|no), optional FAKE_SEED FILTER_BURN_IN DR_EPOCHS RS_BURN_IN RS_BATCH_SIZE SPARSE_AE_EPOCHS.
# An existing FAKE made with the same settings and inputs is kept; one made otherwise is refused
# (delete it, or choose other settings, which name another file).
source "$ROOT/tools/stages/common.sh"
split_words EXTRA_ARGS "$EXTRA" EXTRA
[ -f "$TEACHER_CKPT" ] || die "missing teacher $TEACHER_CKPT: run run_vanilla.sh first (or set TEACHER_CKPT)"
[ -e "$GAN_OUT" ] || die "missing GAN $GAN_OUT: run run_gan.sh first (or set GAN_OUT)"
check_ints NFAKE FAKE_SEED FILTER_BURN_IN DR_EPOCHS RS_BURN_IN RS_BATCH_SIZE SPARSE_AE_EPOCHS
case "$ADJUST" in
    yes) fake_args=(--adjust-labels) ;;
    no) fake_args=(--no-adjust-labels) ;;
    *) die "ADJUST=$ADJUST: expected yes or no" ;;
esac
[ -z "${FILTER_BURN_IN:-}" ] || fake_args+=(--set "filter_burn_in=$FILTER_BURN_IN")
# cDR-RS sizes (empty: the paper's), as one JSON object: {"dr": {"epochs": 5}, "rs": {...}}.
sections="" rs=""
section() { sections="${sections:+$sections, }\"$1\": {$2}"; }
[ -z "${DR_EPOCHS:-}" ] || section dr "\"epochs\": $DR_EPOCHS"
[ -z "${RS_BURN_IN:-}" ] || rs="\"burn_in\": $RS_BURN_IN"
[ -z "${RS_BATCH_SIZE:-}" ] || rs="${rs:+$rs, }\"batch_size\": $RS_BATCH_SIZE"
[ -z "$rs" ] || section rs "$rs"
[ -z "${SPARSE_AE_EPOCHS:-}" ] || section sparse_ae "\"epochs\": $SPARSE_AE_EPOCHS"
[ -z "$sections" ] || fake_args+=(--set "cdr_rs={$sections}")
mkdir -p "$(dirname "$FAKE")"
banner "fake set $FAKE: $NFAKE fakes, subsample $SUBSAMPLE, rho $RHO, adjust labels $ADJUST"
"$CGANKD" fake make --gan "$GAN_OUT" --teacher "$TEACHER_CKPT" --data "$DATA" --preset "$PRESET" \
    --nfake "$NFAKE" --out "$FAKE" --subsample "$SUBSAMPLE" --rho "$RHO" "${fake_args[@]}" \
    --seed "${FAKE_SEED:-0}" --device "$DEVICE" --resume "${EXTRA_ARGS[@]}"
