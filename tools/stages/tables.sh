# Tables and plots from every finished run under RUNS. Reads ROOT RUNS.
source "$ROOT/tools/stages/common.sh"
"$CGANKD" report "$RUNS" --out "$RUNS/tables"
