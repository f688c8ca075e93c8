#!/usr/bin/env bash
# Tables (markdown, CSV) and plots of every finished run under RUNS, into RUNS/tables.
# Edit the settings below, or set any of them in the environment, then run: bash SteeringAngle/scripts/make_tables.sh
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
source "$ROOT/tools/stages/common.sh"
# ---- settings
RUNS="${RUNS:-$ROOT/runs/SteeringAngle}"
EXTRA="${EXTRA:-}"    # more `cgankd report` flags, shell-quoted
# ---- end of settings
source "$ROOT/tools/stages/tables.sh"
