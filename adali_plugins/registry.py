"""Class-keyed registry of spiking-neuron families, filled by each host adapter.

A family says which host a neuron class belongs to, which attribute holds its
surrogate, and how to build an AdaLi surrogate for it. Lookup walks the class's
MRO, so every subclass of a registered base (``snntorch.Leaky`` under
``SpikingNeuron``, ``LIFNode`` under ``BaseNode``) resolves to its family.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from .hosts import HOSTS, adapter, installed_hosts
from .window import AdaLiParams


@dataclass(frozen=True)
class NeuronFamily:
    """What attach and the monitor need to know about one neuron base class."""

    base: type
    host: str
    attr: str
    make: Callable[[AdaLiParams], nn.Module]
    unsupported: str | None = None
    on_swap: Callable[[nn.Module], None] | None = None
    reset_call: str | None = None
    eval_skips_surrogate: bool = False


_REGISTRY: dict[type, NeuronFamily] = {}


def register_neuron(
    base: type,
    *,
    host: str,
    attr: str,
    make: Callable[[AdaLiParams], nn.Module],
    unsupported: str | None = None,
    on_swap: Callable[[nn.Module], None] | None = None,
    reset_call: str | None = None,
    eval_skips_surrogate: bool = False,
) -> None:
    """Register ``base`` (and so all its subclasses) as a spiking-neuron family.

    ``unsupported`` gives the reason why AdaLi cannot serve this family; attach
    then reports it instead of breaking the neuron. ``on_swap(model)`` runs after
    attach or restore changed surrogates in ``model`` (to clear host caches).
    ``reset_call`` names a neuron method that calls the surrogate a second time
    per step only to compute a detached reset (snnTorch's ``mem_reset``); the
    membrane monitor does not count those calls. ``eval_skips_surrogate`` marks
    neurons that compute spikes without calling the surrogate in eval mode
    (spikingjelly 0.0.0.0.14's LIF/IF); the monitor runs them in training mode.
    """
    if host not in HOSTS:
        raise ValueError(f"host must be one of {sorted(HOSTS)}, got {host!r}")
    _REGISTRY[base] = NeuronFamily(
        base=base,
        host=host,
        attr=attr,
        make=make,
        unsupported=unsupported,
        on_swap=on_swap,
        reset_call=reset_call,
        eval_skips_surrogate=eval_skips_surrogate,
    )


def load_adapters(model: nn.Module | None = None) -> None:
    """Import the adapters that fill the registry for ``model``.

    With a model, only the hosts whose classes it contains (judged by the
    module a class is defined in), so attaching to an snnTorch model never
    imports or touches SpikingJelly; without, every installed host.
    """
    hosts = installed_hosts()
    if model is not None:
        used = {type(m).__module__.partition(".")[0] for m in model.modules()}
        hosts = [h for h in hosts if h in used]  # host name = its top package
    for host in hosts:
        adapter(host)


def family_of(module: nn.Module) -> NeuronFamily | None:
    """The family of ``module``'s class, or None if it is no known spiking neuron."""
    for cls in type(module).__mro__:
        family = _REGISTRY.get(cls)
        if family is not None:
            return family
    return None


def spiking_neurons(model: nn.Module) -> list[tuple[str, nn.Module, NeuronFamily]]:
    """Every neuron of ``model`` that can take AdaLi, in module order, with its
    path (``""`` for the model itself) and family: registered, supported, and
    not ``surrogate_disable``. Imports the adapters the model needs first."""
    load_adapters(model)
    found = []
    for path, module in model.named_modules():
        family = family_of(module)
        if family is None or family.unsupported is not None:
            continue
        if not getattr(module, "surrogate_disable", False):
            found.append((path, module, family))
    return found
