# Sourced by every stage body: the cgankd command and a helper that names a run folder.
set -euo pipefail
CGANKD="${CGANKD:-$ROOT/.venv/bin/cgankd}"
[ -x "$CGANKD" ] || CGANKD=cgankd
SEEDS="${SEEDS:-0}"
DEVICE="${DEVICE:-auto}"
EXTRA="${EXTRA:-}"
banner() { echo; echo "== $*"; }
