# Train the dataset's conditional GAN. Reads ROOT DATA GAN (biggan|ccgan) GAN_OUT.
source "$ROOT/tools/stages/common.sh"
banner "GAN $GAN on $DATA"
"$CGANKD" gan train --data "$DATA" --gan "$GAN" --out "$GAN_OUT" --device "$DEVICE" --resume $EXTRA
