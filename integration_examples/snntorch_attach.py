"""A finished snnTorch model gains AdaLi with one call, without editing its code.

Run:  python integration_examples/snntorch_attach.py [--epochs 6]

The model below is written exactly as in the snnTorch tutorials, with one
``fast_sigmoid`` object shared by every layer. ``ap.attach`` gives each hidden
spiking layer its own AdaLi surrogate and keeps the output layer on the
tutorial's surrogate (with AdaLi's compact window, an output unit whose
potentials all sit outside it would receive no gradient at all);
``handle.restore()`` would put the tutorial's back. One calibration pass then
moves each AdaLi layer's window onto its membrane potentials. Seeded before the
net is built, so every run prints the same numbers.
"""

from __future__ import annotations

import argparse

import snntorch as snn
import torch
from snntorch import surrogate, utils
from torch import nn

import adali_plugins as ap
from adali_plugins.compare.data import direct_encode, load_digits_split


def build() -> nn.Sequential:
    """The tutorial's network, one ``fast_sigmoid`` shared by both layers."""
    spike_grad = surrogate.fast_sigmoid(slope=25)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        snn.Leaky(beta=0.5, spike_grad=spike_grad, init_hidden=True),
        nn.Flatten(),
        nn.Linear(8 * 8 * 8, 10),
        snn.Leaky(beta=0.5, spike_grad=spike_grad, init_hidden=True, output=True),
    )


def spike_counts(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    utils.reset(net)
    return torch.stack([net(x_t)[0] for x_t in x]).sum(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    torch.manual_seed(0)  # before the net is built: same weights, same numbers
    net = build()
    handle = ap.attach(net, schedule="cosine")
    print(handle)
    scheduler = ap.AdaLiScheduler(net, total_epochs=args.epochs)
    data = load_digits_split(seed=0)
    batches = [data.x_train[i] for i in torch.randperm(len(data.y_train)).split(64)]
    chosen, _ = ap.calibrate_on(
        net,
        batches,
        lambda model, x: spike_counts(model, direct_encode(x, 4)),
        mode="both",
        layers=handle.paths,
    )
    for r in chosen.values():
        print(
            f"calibrated {r.layer}: [-{r.left:.2f}, {r.right:.2f}], alpha {r.alpha:.2f}"
        )
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for epoch in range(args.epochs):
        for idx in torch.randperm(len(data.y_train)).split(64):
            loss = nn.functional.cross_entropy(
                spike_counts(net, direct_encode(data.x_train[idx], 4)),
                data.y_train[idx],
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
        scheduler.step()
        with torch.no_grad():
            pred = spike_counts(net, direct_encode(data.x_test, 4)).argmax(1)
        print(
            f"epoch {epoch}: test accuracy {(pred == data.y_test).float().mean():.3f}"
        )


if __name__ == "__main__":
    main()
