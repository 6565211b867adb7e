"""snnTorch tutorial-style network trained with AdaLi by passing spike_grad=adali().

Run:  python integration_examples/snntorch_spike_grad.py [--epochs 8]

Data: scikit-learn's bundled 8x8 digits (no download), direct-encoded over T steps.
"""

from __future__ import annotations

import argparse

import snntorch as snn
import torch
from snntorch import utils
from torch import nn

import adali_plugins as ap
from adali_plugins.compare.data import direct_encode, load_digits_split
from adali_plugins.snntorch import adali


def build(hidden: int = 128) -> nn.Sequential:
    net = nn.Sequential(
        nn.Flatten(),
        nn.Linear(64, hidden),
        snn.Leaky(beta=0.9, spike_grad=adali(), init_hidden=True),
        nn.Linear(hidden, 10),
        snn.Leaky(beta=0.9, spike_grad=adali(), init_hidden=True, output=True),
    )
    for m in net.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=3.0 / m.in_features**0.5)
    return net


def spike_counts(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    utils.reset(net)
    return torch.stack([net(x_t)[0] for x_t in x]).sum(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4, help="time steps T")
    args = parser.parse_args()
    torch.manual_seed(0)
    data = load_digits_split(seed=0)
    net = build()
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    for epoch in range(args.epochs):
        ap.set_epoch(net, epoch, args.epochs)
        net.train()
        for idx in torch.randperm(len(data.y_train)).split(32):
            counts = spike_counts(net, direct_encode(data.x_train[idx], args.steps))
            loss = nn.functional.cross_entropy(counts * 2.0, data.y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            pred = spike_counts(net, direct_encode(data.x_test, args.steps)).argmax(1)
        acc = (pred == data.y_test).float().mean().item()
        window = net[2].spike_grad.current_window()
        print(
            f"epoch {epoch}: loss {loss.item():.3f}  test accuracy {acc:.3f}  "
            f"window [-{window.left:.3f}, {window.right:.3f}]"
        )


if __name__ == "__main__":
    main()
