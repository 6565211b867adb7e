"""SpikingJelly conv SNN in step mode 'm' trained with surrogate_function=AdaLi().

Run:  python integration_examples/spikingjelly_conv_multistep.py [--epochs 6]

Data: scikit-learn's bundled 8x8 digits (no download), direct-encoded over T steps.
The AdaLi window is moved once per epoch by an AdaLiScheduler.
"""

from __future__ import annotations

import argparse

import torch
from spikingjelly.activation_based import functional, layer, neuron
from torch import nn

import adali_plugins as ap
from adali_plugins.compare.data import direct_encode, load_digits_split
from adali_plugins.spikingjelly import AdaLi


def build(channels: int = 16) -> nn.Sequential:
    net = nn.Sequential(
        layer.Conv2d(1, channels, 3, padding=1, bias=False),
        layer.BatchNorm2d(channels),
        neuron.LIFNode(tau=2.0, surrogate_function=AdaLi()),
        layer.MaxPool2d(2),
        layer.Flatten(),
        layer.Linear(channels * 4 * 4, 10),
        neuron.LIFNode(tau=2.0, surrogate_function=AdaLi()),
    )
    functional.set_step_mode(net, "m")
    nn.init.normal_(net[5].weight, std=3.0 / net[5].in_features ** 0.5)
    return net


def firing_rates(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    functional.reset_net(net)
    return net(x).mean(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--steps", type=int, default=4, help="time steps T")
    args = parser.parse_args()
    torch.manual_seed(0)
    data = load_digits_split(seed=0)
    net = build()
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    scheduler = ap.AdaLiScheduler(net, total_epochs=args.epochs)
    for epoch in range(args.epochs):
        net.train()
        for idx in torch.randperm(len(data.y_train)).split(32):
            rates = firing_rates(net, direct_encode(data.x_train[idx] * 2, args.steps))
            loss = nn.functional.mse_loss(
                rates, nn.functional.one_hot(data.y_train[idx], 10).float()
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            test_rates = firing_rates(net, direct_encode(data.x_test * 2, args.steps))
        pred = test_rates.argmax(1)
        acc = (pred == data.y_test).float().mean().item()
        q = scheduler.get_last_progress()
        print(
            f"epoch {epoch}: loss {loss.item():.4f}  test accuracy {acc:.3f}  q {q:.2f}"
        )
        scheduler.step()


if __name__ == "__main__":
    main()
