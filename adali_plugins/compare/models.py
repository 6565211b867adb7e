"""Reference spiking conv nets, one per host, for the harness and the benchmarks.

Both take a time-major input ``(T, B, C, H, W)``, reset their state at the start
of every forward, and return output spikes ``(T, B, classes)``. The architecture
is the same on both hosts: conv-BN-LIF, max-pool, conv-BN-LIF, max-pool, linear-LIF
(two conv and one linear spiking layer). ``surrogate()`` is called once per
spiking layer, so every layer gets its own surrogate instance.

This module imports no other harness module: :data:`CONV_NETS` and
:data:`MLP_NETS` say which class each host uses (a test checks they cover
``compare.hosts.PROFILES``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

SurrogateFactory = Callable[[], Any]


def _flat_features(channels: tuple[int, int], size: int) -> int:
    return channels[1] * (size // 4) ** 2


def _conv_layers(
    lib: Any,
    lif: Callable[[], nn.Module],
    in_channels: int,
    size: int,
    channels: tuple[int, int],
    classes: int,
    batch_norm: bool,
) -> list[nn.Module]:
    """conv-BN-LIF, pool, conv-BN-LIF, pool, flatten, linear, built from
    ``lib`` (``torch.nn`` or SpikingJelly's ``layer``, which name them alike)."""

    def conv_block(c_in: int, c_out: int) -> list[nn.Module]:
        conv = lib.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm)
        norm = lib.BatchNorm2d(c_out) if batch_norm else nn.Identity()
        return [conv, norm, lif(), lib.MaxPool2d(2)]

    return [
        *conv_block(in_channels, channels[0]),
        *conv_block(channels[0], channels[1]),
        lib.Flatten(),
        lib.Linear(_flat_features(channels, size), classes),
    ]


def _mlp_layers(
    lib: Any,
    lif: Callable[[], nn.Module],
    in_features: int,
    hidden: tuple[int, int],
    classes: int,
) -> list[nn.Module]:
    """linear-LIF, linear-LIF, linear, built from ``lib`` like :func:`_conv_layers`."""
    return [
        lib.Linear(in_features, hidden[0]),
        lif(),
        lib.Linear(hidden[0], hidden[1]),
        lif(),
        lib.Linear(hidden[1], classes),
    ]


class _SnnTorchLoop(nn.Module):
    """Resets every snnTorch neuron, then steps ``features`` and the ``out``
    neuron over the leading time axis (snnTorch's usual per-step loop)."""

    features: nn.Module
    out: nn.Module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from snntorch import utils

        utils.reset(self)
        return torch.stack([self.out(self.features(x_t)) for x_t in x])


class _SpikingJellyNet(nn.Module):
    """Resets every SpikingJelly neuron, then runs ``net`` over the whole
    sequence (step mode ``'m'``) or one step at a time (``'s'``)."""

    net: nn.Sequential
    step_mode: str = "m"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from spikingjelly.activation_based import functional

        functional.reset_net(self.net)
        if self.step_mode == "m":
            return self.net(x)
        return torch.stack([self.net(x_t) for x_t in x])


class SnnTorchConvNet(_SnnTorchLoop):
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

        def lif() -> nn.Module:
            return snn.Leaky(beta=beta, spike_grad=surrogate(), init_hidden=True)

        layers = _conv_layers(nn, lif, in_channels, size, channels, classes, batch_norm)
        self.features = nn.Sequential(*layers)
        self.out = lif()


class SpikingJellyConvNet(_SpikingJellyNet):
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

        def lif() -> nn.Module:
            return neuron.LIFNode(tau=tau, surrogate_function=surrogate())

        layers = _conv_layers(
            layer, lif, in_channels, size, channels, classes, batch_norm
        )
        self.net = nn.Sequential(*layers, lif())
        functional.set_step_mode(self.net, step_mode)
        self.step_mode = step_mode


class SnnTorchMLP(_SnnTorchLoop):
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

        layers = _mlp_layers(nn, lif, in_features, hidden, classes)
        self.features = nn.Sequential(*layers)
        self.out = lif()


class SpikingJellyMLP(_SpikingJellyNet):
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

        layers = _mlp_layers(layer, lif, in_features, hidden, classes)
        self.net = nn.Sequential(*layers, lif())
        functional.set_step_mode(self.net, "m")


CONV_NETS: dict[str, type[nn.Module]] = {
    "snntorch": SnnTorchConvNet,
    "spikingjelly": SpikingJellyConvNet,
}
"""The reference conv SNN class of each host."""

MLP_NETS: dict[str, type[nn.Module]] = {
    "snntorch": SnnTorchMLP,
    "spikingjelly": SpikingJellyMLP,
}
"""The reference spiking MLP class for sequences of each host."""


def _net_class(table: dict[str, type[nn.Module]], host: str) -> type[nn.Module]:
    """``table[host]``, or a ValueError naming the known hosts."""
    try:
        return table[host]
    except KeyError:
        known = " or ".join(repr(h) for h in table)
        raise ValueError(f"host must be {known}, got {host!r}") from None


def mlp_net(host: str, surrogate: SurrogateFactory, **options: Any) -> nn.Module:
    """The reference spiking MLP for sequences, for ``host``."""
    return _net_class(MLP_NETS, host)(surrogate, **options)


def conv_net(host: str, surrogate: SurrogateFactory, **options: Any) -> nn.Module:
    """The reference conv SNN for ``host`` (a key of :data:`CONV_NETS`)."""
    return _net_class(CONV_NETS, host)(surrogate, **options)
