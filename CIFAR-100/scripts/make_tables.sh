#!/usr/bin/env bash
# Tables (markdown, CSV) and plots of every finished run under RUNS.
# Edit the settings below (or set them in the environment), then run: bash CIFAR-100/scripts/make_tables.sh
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/CIFAR-100}"
RUNS="${RUNS:-$ROOT/runs/CIFAR-100}"
source "$ROOT/tools/stages/tables.sh"
