#!/usr/bin/env bash
# Tables (markdown, CSV) and plots of every finished run under RUNS.
# Edit the settings below (or set them in the environment), then run: bash ImageNet-100/scripts/make_tables.sh
ROOT="${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}"
DATA="${DATA:-$ROOT/datasets/ImageNet-100/ImageNet_128x128_100Class.h5}"
RUNS="${RUNS:-$ROOT/runs/ImageNet-100}"
source "$ROOT/tools/stages/tables.sh"
