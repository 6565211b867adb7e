#!/usr/bin/env bash
# Run the whole test suite on both tested host pairs (constraints/current.txt and
# constraints/legacy.txt), each in its own virtual environment under .venvs/.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
install_fashion_mnist
status=0
for pair in current legacy; do
    setup_venv "$pair"
    "$VENV_PYTHON" -c 'import torch, importlib.metadata as m; print("=== host pair:", "torch", torch.__version__, *(f"{p} {m.version(p)}" for p in ("snntorch", "spikingjelly")))'
    "$VENV_PYTHON" -m pytest "$@" || status=$?
done
exit $status
