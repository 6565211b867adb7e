#!/usr/bin/env bash
# The main job: train with AdaLi beside the hosts' built-in surrogates on the
# bundled digits, in .venvs/current. Usage: bash scripts/compare.sh [args...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
setup_venv current
"$VENV_PYTHON" integration_examples/snntorch_spike_grad.py "$@"
"$VENV_PYTHON" integration_examples/spikingjelly_conv_multistep.py "$@"
