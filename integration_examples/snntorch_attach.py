"""A finished snnTorch model gains AdaLi with one call, without editing its code.

Run:  python integration_examples/snntorch_attach.py [--epochs 6]

The model below is written exactly as in the snnTorch tutorials, with one
``fast_sigmoid`` object shared by every layer. ``ap.attach`` gives each layer its
own AdaLi surrogate; ``handle.restore()`` would put the tutorial's back. One
calibration pass then moves each layer's window onto its membrane potentials:
with AdaLi's compact window, a layer whose potentials all sit outside it
(typically the output layer at initialisation) receives no gradient at all.
"""

from __future__ import annotations

import argparse

import snntorch as snn
import torch
from snntorch import surrogate, utils
from torch import nn

import adali_plugins as ap
from adali_plugins.compare.data import direct_encode, load_digits_split

spike_grad = surrogate.fast_sigmoid(slope=25)
net = nn.Sequential(
    nn.Conv2d(1, 8, 3, padding=1),
    nn.BatchNorm2d(8),
    snn.Leaky(beta=0.5, spike_grad=spike_grad, init_hidden=True),
    nn.Flatten(),
    nn.Linear(8 * 8 * 8, 10),
    snn.Leaky(beta=0.5, spike_grad=spike_grad, init_hidden=True, output=True),
)


def spike_counts(x: torch.Tensor) -> torch.Tensor:
    utils.reset(net)
    return torch.stack([net(x_t)[0] for x_t in x]).sum(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    torch.manual_seed(0)
    handle = ap.attach(net, schedule="cosine")
    print(handle)
    scheduler = ap.AdaLiScheduler(net, total_epochs=args.epochs)
    data = load_digits_split(seed=0)
    batches = [data.x_train[i] for i in torch.randperm(len(data.y_train)).split(64)]
    chosen, _ = ap.calibrate_on(
        net, batches, lambda model, x: spike_counts(direct_encode(x, 4)), mode="both"
    )
    for r in chosen.values():
        print(
            f"calibrated {r.layer}: [-{r.left:.2f}, {r.right:.2f}], alpha {r.alpha:.2f}"
        )
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for epoch in range(args.epochs):
        for idx in torch.randperm(len(data.y_train)).split(64):
            loss = nn.functional.cross_entropy(
                spike_counts(direct_encode(data.x_train[idx], 4)), data.y_train[idx]
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
        scheduler.step()
        with torch.no_grad():
            pred = spike_counts(direct_encode(data.x_test, 4)).argmax(1)
        print(
            f"epoch {epoch}: test accuracy {(pred == data.y_test).float().mean():.3f}"
        )


if __name__ == "__main__":
    main()
