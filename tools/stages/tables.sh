# Tables and plots of every finished run under RUNS, into RUNS/tables. Reads ROOT RUNS.
source "$ROOT/tools/stages/common.sh"
split_words EXTRA_ARGS "$EXTRA" EXTRA
[ -d "$RUNS" ] || die "no runs under $RUNS yet: run the other scripts first (or set RUNS)"
"$CGANKD" report "$RUNS" --out "$RUNS/tables" "${EXTRA_ARGS[@]}"
