"""One profile per host: everything the harness knows about snnTorch or SpikingJelly.

A :class:`HostProfile` is plain data plus a few callables that import their host
only when called, so reading :data:`PROFILES` imports no host. Adding a host to
the harness is one entry here (its reference nets are in ``compare.models``, its
adapter in the library floor); adding a built-in surrogate to the comparison is
one name in its host's ``builtins``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

Factory = Callable[[], nn.Module]


@dataclass(frozen=True)
class HostProfile:
    """What the harness needs to know about one host library."""

    name: str
    builtins: tuple[str, ...]
    """The host's built-in surrogates compared by default."""
    default_builtin: str
    """What a neuron uses when the user passes no surrogate."""
    best_builtin: str
    """Best final accuracy in the README's full sweep on the bundled digits."""
    inclusive: bool
    """Spike convention: fires at ``x >= 0`` (True) or at ``x > 0`` (False)."""
    multi_step: bool
    """Whether the reference nets run the whole sequence in one call."""
    bench_builtins: tuple[str, ...]
    """The built-ins timed in whole training steps (the default first)."""
    builtin: Callable[[str], Callable[..., Any]]
    """The host's constructor of built-in surrogate ``name`` (imports the host)."""
    adali: Callable[[], Callable[..., Any]]
    """The AdaLi constructor for this host (imports the adapter)."""
    reset: Callable[[], Callable[[nn.Module], None]]
    """The host's function that clears neuron state between batches."""
    neuron: Callable[[str, Any], nn.Module]
    """``neuron(kind, surrogate)``: one multi-step spiking layer ``(T, B, ...)``
    for ``compare.architectures``; ``kind`` ``"lif"`` is the reference net's LIF
    (hard reset), ``"if"`` the authors' IF (threshold 1, soft reset, spike not
    detached from the reset)."""


def _snntorch_builtin(name: str) -> Callable[..., Any]:
    from snntorch import surrogate

    return getattr(surrogate, name)


def _snntorch_adali() -> Callable[..., Any]:
    from ..snntorch import adali

    return adali


def _snntorch_reset() -> Callable[[nn.Module], None]:
    from snntorch import utils

    return utils.reset


def _snntorch_neuron(kind: str, surrogate: Any) -> nn.Module:
    import snntorch as snn

    from .architectures import StepOverTime

    if kind == "if":
        # beta = 1 makes Leaky an IF neuron; "subtract" is the soft reset.
        cell = snn.Leaky(
            beta=1.0,
            threshold=1.0,
            reset_mechanism="subtract",
            spike_grad=surrogate,
            init_hidden=True,
        )
    else:
        cell = snn.Leaky(beta=0.5, spike_grad=surrogate, init_hidden=True)
    return StepOverTime(cell)


def _jelly_builtin(name: str) -> Callable[..., Any]:
    from spikingjelly.activation_based import surrogate

    return getattr(surrogate, name)


def _jelly_adali() -> Callable[..., Any]:
    from ..spikingjelly import AdaLi

    return AdaLi


def _jelly_reset() -> Callable[[nn.Module], None]:
    from spikingjelly.activation_based import functional

    return functional.reset_net


def _jelly_neuron(kind: str, surrogate: Any) -> nn.Module:
    from spikingjelly.activation_based import neuron

    if kind == "if":
        return neuron.IFNode(
            v_threshold=1.0,
            v_reset=None,
            detach_reset=False,
            surrogate_function=surrogate,
            step_mode="m",
        )
    return neuron.LIFNode(tau=2.0, surrogate_function=surrogate, step_mode="m")


PROFILES: dict[str, HostProfile] = {
    "snntorch": HostProfile(
        name="snntorch",
        builtins=(
            "atan",
            "fast_sigmoid",
            "sigmoid",
            "triangular",
            "straight_through_estimator",
        ),
        default_builtin="atan",
        best_builtin="atan",
        inclusive=False,
        multi_step=False,
        bench_builtins=("atan", "fast_sigmoid"),
        builtin=_snntorch_builtin,
        adali=_snntorch_adali,
        reset=_snntorch_reset,
        neuron=_snntorch_neuron,
    ),
    "spikingjelly": HostProfile(
        name="spikingjelly",
        builtins=("ATan", "Sigmoid", "PiecewiseQuadratic", "Erf", "Rect"),
        default_builtin="Sigmoid",
        best_builtin="ATan",
        inclusive=True,
        multi_step=True,
        bench_builtins=("Sigmoid", "ATan"),
        builtin=_jelly_builtin,
        adali=_jelly_adali,
        reset=_jelly_reset,
        neuron=_jelly_neuron,
    ),
}
"""The hosts the harness compares on, in their listing order."""


def profile(host: str) -> HostProfile:
    """The profile of ``host``; ValueError naming the known hosts otherwise."""
    try:
        return PROFILES[host]
    except KeyError:
        known = " or ".join(repr(h) for h in PROFILES)
        raise ValueError(f"host must be {known}, got {host!r}") from None
