#!/usr/bin/env bash
# Tables (markdown, CSV) and plots of every finished run under RUNS.
# Edit the settings below (or set them in the environment), then run: bash SteeringAngle/scripts/make_tables.sh
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/SteeringAngle/SteeringAngle_64x64_prop_0.8.h5}"
RUNS="${RUNS:-$ROOT/runs/SteeringAngle}"
source "$ROOT/tools/stages/tables.sh"
