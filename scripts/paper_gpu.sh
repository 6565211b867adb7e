#!/usr/bin/env bash
# The paper recipe at full size on one CUDA GPU: the authors' CIFAR-style spiking
# ResNet-18 at full width, IF neurons with soft reset, T = 4, SGD 0.1 with cosine
# annealing, 200 epochs, bf16 autocast; AdaLi beside each host's default and best
# built-in, 1 seed. Fashion-MNIST always (Debian's dataset-fashion-mnist, found by
# the harness); CIFAR-10 too when given the folder holding cifar-10-batches-py.
# Resumable: rerun the same command to continue after an interruption.
# Usage: bash scripts/paper_gpu.sh [CIFAR10_DIR] [extra adali-compare options]
# Uses the python on PATH (a CUDA build of torch); set PYTHON to override.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
CIFAR_DIR="${1:-}"
[ $# -gt 0 ] && shift
common=(--recipe paper --arch resnet18 --width 1 --time-steps 4 --epochs 200
        --seeds 1 --device cuda --amp bf16 --threads 8 "$@")
"$PYTHON" -m adali_plugins.compare --dataset fashion-mnist "${common[@]}" \
    --out runs/paper_gpu_fashion
if [ -n "$CIFAR_DIR" ]; then
    "$PYTHON" -m adali_plugins.compare --dataset cifar10 --data-dir "$CIFAR_DIR" \
        "${common[@]}" --out runs/paper_gpu_cifar10
fi
