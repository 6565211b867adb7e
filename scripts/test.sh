#!/usr/bin/env bash
# Run the test suite on both tested host pairs, each in its own virtual
# environment under .venvs/: the whole suite on the current pair
# (constraints/current.txt) and the fast lane (-m "not slow": no subprocess
# trainings, DDP or CLI runs) on the legacy pair (constraints/legacy.txt), which
# is there for the older host APIs. Tests run in parallel over the machine's
# cores (pytest-xdist, one test file per worker at a time, one torch thread per
# worker). Arguments replace that choice on both pairs.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
install_fashion_mnist
status=0
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
for pair in current legacy; do
    setup_venv "$pair"
    "$VENV_PYTHON" -c 'import torch, importlib.metadata as m; print("=== host pair:", "torch", torch.__version__, *(f"{p} {m.version(p)}" for p in ("snntorch", "spikingjelly")))'
    if [ "$#" -gt 0 ]; then
        args=("$@")
    elif [ "$pair" = legacy ]; then
        args=(-m "not slow" -n auto --dist loadfile)
    else
        args=(-n auto --dist loadfile)
    fi
    "$VENV_PYTHON" -m pytest "${args[@]}" || status=$?
done
exit $status
