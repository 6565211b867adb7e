"""A small real training run per host on the bundled digits: the loss falls."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import adali_plugins as ap
from adali_plugins.compare.data import direct_encode, load_digits_split

pytestmark = pytest.mark.slow  # trains networks for several epochs

T, EPOCHS, BATCH = 4, 6, 32
GAIN = 1.0
WEIGHT_GAIN = 3.0  # potentials reach the initial window [θ-0.5, θ+1.5] at init


def _train(net, forward, reset):
    torch.manual_seed(0)
    for module in net.modules():
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=WEIGHT_GAIN / module.in_features**0.5)
    data = load_digits_split(seed=0)
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    sched = ap.AdaLiScheduler(net, total_epochs=EPOCHS)
    losses = []
    for _ in range(EPOCHS):
        perm = torch.randperm(len(data.y_train))
        epoch_loss = 0.0
        for i in range(0, len(perm), BATCH):
            idx = perm[i : i + BATCH]
            reset(net)
            counts = forward(net, direct_encode(data.x_train[idx] * GAIN, T))
            loss = nn.functional.cross_entropy(counts, data.y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            epoch_loss += loss.item() * len(idx)
        losses.append(epoch_loss / len(perm))
        sched.step()
    with torch.no_grad():
        reset(net)
        acc = (
            (
                forward(net, direct_encode(data.x_test * GAIN, T)).argmax(1)
                == data.y_test
            )
            .float()
            .mean()
        )
    return losses, float(acc)


@pytest.mark.snntorch
def test_snntorch_digits_loss_falls():
    snn = pytest.importorskip("snntorch")
    from snntorch import utils

    from adali_plugins.snntorch import adali

    net = nn.Sequential(
        nn.Flatten(),
        nn.Linear(64, 128),
        snn.Leaky(beta=0.9, spike_grad=adali(), init_hidden=True),
        nn.Linear(128, 10),
        snn.Leaky(beta=0.9, spike_grad=adali(), init_hidden=True, output=True),
    )

    def forward(net, x):
        return torch.stack([net(x[t])[0] for t in range(x.shape[0])]).sum(0) * 2.0

    losses, acc = _train(net, forward, utils.reset)
    assert losses[-1] < 0.6 * losses[0], losses
    assert acc > 0.5, acc  # chance is 0.1


@pytest.mark.spikingjelly
@pytest.mark.parametrize("step_mode", ["s", "m"])
def test_spikingjelly_digits_loss_falls(step_mode):
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import functional, layer, neuron

    from adali_plugins.spikingjelly import AdaLi

    net = nn.Sequential(
        layer.Flatten(),
        layer.Linear(64, 128),
        neuron.LIFNode(surrogate_function=AdaLi()),
        layer.Linear(128, 10),
        neuron.LIFNode(surrogate_function=AdaLi()),
    )
    functional.set_step_mode(net, step_mode)

    def forward(net, x):
        if step_mode == "m":
            return net(x).sum(0) * 2.0
        return torch.stack([net(x[t]) for t in range(x.shape[0])]).sum(0) * 2.0

    losses, acc = _train(net, forward, functional.reset_net)
    assert losses[-1] < 0.6 * losses[0], losses
    assert acc > 0.5, acc  # chance is 0.1
