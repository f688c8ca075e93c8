#!/usr/bin/env bash
# Tables (markdown, CSV) and plots of every finished run under RUNS.
# Edit the settings below (or set them in the environment), then run: bash FashionMNIST/scripts/make_tables.sh
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/FashionMNIST/FashionMNIST_28x28.h5}"
RUNS="${RUNS:-$ROOT/runs/FashionMNIST}"
source "$ROOT/tools/stages/tables.sh"
