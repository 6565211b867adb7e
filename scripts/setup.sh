#!/usr/bin/env bash
# Create (once) and update .venvs/<pair> with the package and the pinned hosts of
# constraints/<pair>.txt. Usage: source scripts/setup.sh; setup_venv current
setup_venv() {
    local pair="$1" venv=".venvs/$1"
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -c "constraints/$pair.txt" -e ".[all,dev]"
    VENV_PYTHON="$venv/bin/python"
}
