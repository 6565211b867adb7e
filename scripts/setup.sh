#!/usr/bin/env bash
# Create (once) and update .venvs/<pair> with the package and the pinned hosts of
# constraints/<pair>.txt; install_fashion_mnist adds Debian's real Fashion-MNIST
# where it can (root with apt-get). Usage: source scripts/setup.sh; setup_venv current
install_fashion_mnist() {
    if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] \
        && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 \
            || echo "note: could not install dataset-fashion-mnist; its tests will skip" >&2
    fi
}

setup_venv() {
    local pair="$1" venv=".venvs/$1"
    if [ ! -x "$venv/bin/python" ]; then
        python3 -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -c "constraints/$pair.txt" -e ".[all,dev]"
    VENV_PYTHON="$venv/bin/python"
}
