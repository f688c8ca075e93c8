#!/usr/bin/env bash
# The test command: sets up a fresh machine (tools/bootstrap.sh), then runs pytest on CPU.
set -euo pipefail
cd "$(dirname "$0")"
source tools/bootstrap.sh
set +e
python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure here" >&2
    exit 1
fi
exit "$status"
