"""Which surrogate trains *your* network best? AdaLi beside two built-ins.

The network is written the way snnTorch's tutorials write it (one surrogate
object shared by all layers, ``init_hidden=True``, a loop over time steps in
``forward``) and is not edited for the comparison: ``compare()`` swaps each
candidate into every spiking layer of a fresh copy. The data are a stratified
Fashion-MNIST subset (Debian's ``dataset-fashion-mnist``), or the bundled
digits where that is not installed.

Run:  python integration_examples/compare_your_model.py [--epochs 3 --seeds 3]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import snntorch as snn
import torch
from snntorch import surrogate
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from adali_plugins.compare import compare
from adali_plugins.compare.data import load_digits_split, load_fashion_mnist


class Net(nn.Module):
    """A two-layer spiking MLP, as in snnTorch's tutorial 5."""

    def __init__(self, inputs: int, steps: int = 8) -> None:
        super().__init__()
        spike_grad = surrogate.fast_sigmoid(slope=25)
        self.steps = steps
        self.fc1 = nn.Linear(inputs, 128)
        self.lif1 = snn.Leaky(beta=0.9, spike_grad=spike_grad, init_hidden=True)
        self.fc2 = nn.Linear(128, 10)
        self.lif2 = snn.Leaky(
            beta=0.9, spike_grad=spike_grad, init_hidden=True, output=True
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        spikes, membranes = [], []
        x = x.flatten(1)
        for _ in range(self.steps):
            spk, mem = self.lif2(self.fc2(self.lif1(self.fc1(x))))
            spikes.append(spk)
            membranes.append(mem)
        return torch.stack(spikes), torch.stack(membranes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--train-limit", type=int, default=3000)
    parser.add_argument("--test-limit", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path("runs/compare_your_model"))
    args = parser.parse_args()
    try:
        data = load_fashion_mnist(
            train_limit=args.train_limit, test_limit=args.test_limit
        )
        name = "Fashion-MNIST subset"
    except FileNotFoundError:
        data = load_digits_split()
        name = "bundled digits"
    train = DataLoader(
        TensorDataset(data.x_train, data.y_train), batch_size=128, shuffle=True
    )
    test = DataLoader(TensorDataset(data.x_test, data.y_test), batch_size=256)
    inputs = data.x_train[0].numel()
    result = compare(
        model=lambda seed: Net(inputs),
        train=train,
        test=test,
        surrogates=["AdaLi", "atan", "fast_sigmoid"],
        epochs=args.epochs,
        seeds=args.seeds,
        optimizer=lambda params: torch.optim.Adam(params, lr=5e-3),
        out=args.out,
        on_epoch=lambda label, seed, rec: print(
            f"  {label:<14} seed {seed} epoch {rec['epoch']}: {rec['test_acc']:.3f}"
        ),
    )
    print(f"\n{name}, {len(data.y_train)} train / {len(data.y_test)} test images")
    print(result.summary())
    print("records:", args.out / "results.json")
    print("plot:", result.plot(args.out / "accuracy.png"))


if __name__ == "__main__":
    main()
