#!/usr/bin/env bash
# Set up a fresh machine: a virtual environment with requirements.txt and this package,
# and the Fashion-MNIST files (Debian package dataset-fashion-mnist) when they are missing.
# Sourced by run_demo.sh and run_tests.sh; safe to run again (it skips what is done).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CGANKD_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    echo "[bootstrap] creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.requirements.sha"
want="$(sha256sum "$ROOT/requirements.txt" "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "[bootstrap] installing requirements (about 2 minutes the first time)"
    log="$(mktemp)"
    # pip's output is shown only when it fails (it warns about every local index it skips).
    { "$VENV/bin/pip" install -q -r "$ROOT/requirements.txt" &&
      "$VENV/bin/pip" install -q --no-deps --no-build-isolation -e "$ROOT"; } > "$log" 2>&1 ||
        { cat "$log" >&2; rm -f "$log"; exit 1; }
    rm -f "$log"
    echo "$want" > "$stamp"
fi

FMNIST_SYSTEM=/usr/share/datasets/fashion-mnist
if [ ! -f "$FMNIST_SYSTEM/train-images-idx3-ubyte.gz" ] && [ ! -f "$ROOT/datasets/FashionMNIST/raw/train-images-idx3-ubyte.gz" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "[bootstrap] installing the Debian package dataset-fashion-mnist"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
    else
        echo "[bootstrap] Fashion-MNIST not found: run 'sudo apt-get install dataset-fashion-mnist'" \
             "or copy the four idx .gz files to datasets/FashionMNIST/raw/" >&2
    fi
fi
export PATH="$VENV/bin:$PATH"
