#!/usr/bin/env bash
# The main job: AdaLi beside the hosts' built-in surrogates on the bundled digits,
# same seeds, data order and optimizer, in .venvs/current. Prints the table and
# writes results.csv, results.json and PNG plots to runs/compare/.
# Usage: bash scripts/compare.sh [adali-compare options, e.g. --seeds 3 --epochs 20]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
setup_venv current
"$VENV_PYTHON" -m adali_plugins.compare "$@"
