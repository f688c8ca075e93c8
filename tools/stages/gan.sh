# Train the dataset's conditional GAN into GAN_OUT. Reads ROOT DATA PRESET GAN (biggan|ccgan) GAN_OUT,
# optional GAN_ITERS GAN_BATCH_SIZE GAN_D_STEPS GAN_SEED and GAN_SET (more KEY=VALUE settings, split as EXTRA).
source "$ROOT/tools/stages/common.sh"
split_words EXTRA_ARGS "$EXTRA" EXTRA
split_words gan_set "${GAN_SET:-}" GAN_SET
gan_args=()
[ -z "${GAN_ITERS:-}" ] || gan_args+=(--iters "$GAN_ITERS")
[ -z "${GAN_BATCH_SIZE:-}" ] || gan_args+=(--batch-size "$GAN_BATCH_SIZE")
[ -z "${GAN_D_STEPS:-}" ] || gan_args+=(--set "d_steps=$GAN_D_STEPS")
for setting in "${gan_set[@]}"; do gan_args+=(--set "$setting"); done
banner "GAN $GAN on $DATA"
"$CGANKD" gan train --data "$DATA" --preset "$PRESET" --gan "$GAN" --out "$GAN_OUT" --seed "${GAN_SEED:-0}" \
    --device "$DEVICE" "${gan_args[@]}" --resume "${EXTRA_ARGS[@]}"
