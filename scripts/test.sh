#!/usr/bin/env bash
# Run the whole test suite on both tested host pairs (constraints/current.txt and
# constraints/legacy.txt), each in its own virtual environment under .venvs/.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for pair in current legacy; do
    venv=".venvs/$pair"
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -c "constraints/$pair.txt" -e ".[all,dev]"
    echo "=== host pair: $pair ($("$venv/bin/python" -c 'import snntorch, spikingjelly, torch; from importlib.metadata import version as v; print("torch", torch.__version__, "snntorch", v("snntorch"), "spikingjelly", v("spikingjelly"))'))"
    "$venv/bin/python" -m pytest "$@" || status=$?
done
exit $status
