# Make the processed fake set. Reads ROOT DATA GAN_OUT TEACHER_CKPT NFAKE_POOL FAKE RHO SUBSAMPLE ADJUST.
source "$ROOT/tools/stages/common.sh"
adjust_flag=$([ "${ADJUST:-yes}" = yes ] && echo --adjust-labels || echo --no-adjust-labels)
if [ -f "$FAKE" ]; then echo "$FAKE exists; delete it to make it again"; exit 0; fi
banner "fake set: $NFAKE_POOL fakes, subsample $SUBSAMPLE, rho $RHO, $adjust_flag"
"$CGANKD" fake make --gan "$GAN_OUT" --teacher "$TEACHER_CKPT" --data "$DATA" --nfake "$NFAKE_POOL" \
    --out "$FAKE" --subsample "$SUBSAMPLE" --rho "$RHO" $adjust_flag --device "$DEVICE" $EXTRA
