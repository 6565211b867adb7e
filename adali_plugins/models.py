"""Reference spiking conv nets, one per host, for the harness and the benchmarks.

Both take a time-major input ``(T, B, C, H, W)``, reset their state at the start
of every forward, and return output spikes ``(T, B, classes)``. The architecture
is the same on both hosts: conv-BN-LIF, max-pool, conv-BN-LIF, max-pool, linear-LIF
(two conv and one linear spiking layer). ``surrogate()`` is called once per
spiking layer, so every layer gets its own surrogate instance.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

SurrogateFactory = Callable[[], Any]


def _flat_features(channels: tuple[int, int], size: int) -> int:
    return channels[1] * (size // 4) ** 2


class SnnTorchConvNet(nn.Module):
    """snnTorch version: ``snn.Leaky`` layers stepped in a Python loop over T."""

    def __init__(
        self,
        surrogate: SurrogateFactory,
        *,
        in_channels: int = 1,
        size: int = 28,
        channels: tuple[int, int] = (16, 32),
        classes: int = 10,
        beta: float = 0.5,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        import snntorch as snn

        def norm(c: int) -> nn.Module:
            return nn.BatchNorm2d(c) if batch_norm else nn.Identity()

        def lif() -> nn.Module:
            return snn.Leaky(beta=beta, spike_grad=surrogate(), init_hidden=True)

        self.features = nn.Sequential(
            nn.Conv2d(in_channels, channels[0], 3, padding=1, bias=not batch_norm),
            norm(channels[0]),
            lif(),
            nn.MaxPool2d(2),
            nn.Conv2d(channels[0], channels[1], 3, padding=1, bias=not batch_norm),
            norm(channels[1]),
            lif(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(_flat_features(channels, size), classes),
        )
        self.out = snn.Leaky(beta=beta, spike_grad=surrogate(), init_hidden=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from snntorch import utils

        utils.reset(self)
        return torch.stack([self.out(self.features(x_t)) for x_t in x])


class SpikingJellyConvNet(nn.Module):
    """SpikingJelly version: ``LIFNode`` layers in step mode ``'m'`` (or ``'s'``)."""

    def __init__(
        self,
        surrogate: SurrogateFactory,
        *,
        in_channels: int = 1,
        size: int = 28,
        channels: tuple[int, int] = (16, 32),
        classes: int = 10,
        tau: float = 2.0,
        batch_norm: bool = True,
        step_mode: str = "m",
    ) -> None:
        super().__init__()
        from spikingjelly.activation_based import functional, layer, neuron

        def norm(c: int) -> nn.Module:
            return layer.BatchNorm2d(c) if batch_norm else nn.Identity()

        def lif() -> nn.Module:
            return neuron.LIFNode(tau=tau, surrogate_function=surrogate())

        self.net = nn.Sequential(
            layer.Conv2d(in_channels, channels[0], 3, padding=1, bias=not batch_norm),
            norm(channels[0]),
            lif(),
            layer.MaxPool2d(2),
            layer.Conv2d(channels[0], channels[1], 3, padding=1, bias=not batch_norm),
            norm(channels[1]),
            lif(),
            layer.MaxPool2d(2),
            layer.Flatten(),
            layer.Linear(_flat_features(channels, size), classes),
            lif(),
        )
        functional.set_step_mode(self.net, step_mode)
        self.step_mode = step_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from spikingjelly.activation_based import functional

        functional.reset_net(self.net)
        if self.step_mode == "m":
            return self.net(x)
        return torch.stack([self.net(x_t) for x_t in x])


class SnnTorchMLP(nn.Module):
    """snnTorch spiking MLP for sequences ``(T, B, F)``: Linear-LIF twice, then a
    linear-LIF readout, stepped over T (three spiking layers, like the conv net)."""

    def __init__(
        self,
        surrogate: SurrogateFactory,
        *,
        in_features: int,
        hidden: tuple[int, int] = (128, 128),
        classes: int = 10,
        beta: float = 0.9,
    ) -> None:
        super().__init__()
        import snntorch as snn

        def lif() -> nn.Module:
            return snn.Leaky(beta=beta, spike_grad=surrogate(), init_hidden=True)

        self.features = nn.Sequential(
            nn.Linear(in_features, hidden[0]),
            lif(),
            nn.Linear(hidden[0], hidden[1]),
            lif(),
            nn.Linear(hidden[1], classes),
        )
        self.out = lif()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from snntorch import utils

        utils.reset(self)
        return torch.stack([self.out(self.features(x_t)) for x_t in x])


class SpikingJellyMLP(nn.Module):
    """SpikingJelly spiking MLP for sequences ``(T, B, F)`` in step mode ``'m'``.

    ``decay_input=False`` with a soft reset gives snnTorch's ``Leaky`` charge
    ``v = beta * v + x`` with ``beta = 1 - 1 / tau`` and subtracts the threshold
    on a spike, as the snnTorch version does (SpikingJelly subtracts before the
    next decay, snnTorch after it).
    """

    def __init__(
        self,
        surrogate: SurrogateFactory,
        *,
        in_features: int,
        hidden: tuple[int, int] = (128, 128),
        classes: int = 10,
        tau: float = 10.0,
    ) -> None:
        super().__init__()
        from spikingjelly.activation_based import functional, layer, neuron

        def lif() -> nn.Module:
            return neuron.LIFNode(
                tau=tau,
                decay_input=False,
                v_reset=None,
                surrogate_function=surrogate(),
            )

        self.net = nn.Sequential(
            layer.Linear(in_features, hidden[0]),
            lif(),
            layer.Linear(hidden[0], hidden[1]),
            lif(),
            layer.Linear(hidden[1], classes),
            lif(),
        )
        functional.set_step_mode(self.net, "m")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from spikingjelly.activation_based import functional

        functional.reset_net(self.net)
        return self.net(x)


def mlp_net(host: str, surrogate: SurrogateFactory, **options: Any) -> nn.Module:
    """The reference spiking MLP for sequences, for ``host``."""
    if host == "snntorch":
        return SnnTorchMLP(surrogate, **options)
    if host == "spikingjelly":
        return SpikingJellyMLP(surrogate, **options)
    raise ValueError(f"host must be 'snntorch' or 'spikingjelly', got {host!r}")


def conv_net(host: str, surrogate: SurrogateFactory, **options: Any) -> nn.Module:
    """The reference conv SNN for ``host`` ("snntorch" or "spikingjelly")."""
    if host == "snntorch":
        return SnnTorchConvNet(surrogate, **options)
    if host == "spikingjelly":
        return SpikingJellyConvNet(surrogate, **options)
    raise ValueError(f"host must be 'snntorch' or 'spikingjelly', got {host!r}")
