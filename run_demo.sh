#!/usr/bin/env bash
# The main job: sets up a fresh machine (tools/bootstrap.sh), then runs the embedded demo on CPU.
set -euo pipefail
cd "$(dirname "$0")"
source tools/bootstrap.sh
cgankd demo "$@"
