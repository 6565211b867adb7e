"""Which spiking layer of a model is its output layer, and how that was decided.

Why it matters: AdaLi's gradient is a compact box, so a unit whose potential
never enters the window gets exactly zero gradient. In a hidden layer that is a
silent feature; in a spiking output layer read by spike count (one unit per
class, as most snnTorch and SpikingJelly tutorials end) it is a class that is
never predicted again. The authors' image nets end in a non-spiking linear head
(``models/resnet_cifar.py``, ``models/vgg.py`` in paran-ia/AdaLi), so there
AdaLi never sat on an output layer; ``attach`` therefore keeps a spiking output
layer on its own surrogate by default (ours).

The rule (ours), from the order in which modules are registered, which is the
order ``nn.Sequential`` runs them and the order tutorial-style ``__init__``
methods define them:

* the candidate is the last registered spiking neuron;
* if any module with weights of its own (a ``Linear``, a convolution, a norm)
  is registered after it, outside it, the candidate feeds a head: it is hidden
  and the model has no spiking output layer;
* otherwise it is the output layer.

Registration order is not execution order for every custom ``forward``, so
:func:`verify_in_forward` can check the decision against the first real forward
pass and warn when the two disagree.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from .registry import family_of, spiking_neurons

__all__ = [
    "OutputLayer",
    "OutputLayerWarning",
    "find_output_layer",
    "verify_in_forward",
]


class OutputLayerWarning(UserWarning):
    """The first forward pass contradicts the output layer decided from module order."""


@dataclass(frozen=True)
class OutputLayer:
    """The spiking output layer of a model, or why there is none.

    Attributes:
        path: Module path of the spiking output layer (``"<root>"`` for a model
            that is itself a neuron), or None when the model has no spiking
            output layer or it could not be decided.
        reason: One sentence saying how the decision was made.
        decided: False when the model's structure left the question open (then
            ``path`` is None and nothing is kept back).
    """

    path: str | None
    reason: str
    decided: bool = True


def _spiking_paths(model: nn.Module) -> list[str]:
    return [path for path, _, _ in spiking_neurons(model)]


def _inside(path: str, parent: str) -> bool:
    return parent == "" or path == parent or path.startswith(parent + ".")


def _has_own_weights(module: nn.Module) -> bool:
    return any(True for _ in module.parameters(recurse=False))


def find_output_layer(model: nn.Module) -> OutputLayer:
    """Decide which spiking layer of ``model`` is its output layer.

    Args:
        model: Any ``nn.Module`` holding snnTorch or SpikingJelly neurons.

    Returns:
        An :class:`OutputLayer`: the path of the last registered spiking
        neuron when no module with weights is registered after it, None when
        one is (that neuron feeds a head) or when the model has no spiking
        neuron.

    >>> import torch.nn as nn, snntorch as snn  # doctest: +SKIP
    >>> net = nn.Sequential(nn.Linear(4, 8), snn.Leaky(0.9, init_hidden=True),
    ...                     nn.Linear(8, 3), snn.Leaky(0.9, init_hidden=True))
    >>> find_output_layer(net).path  # doctest: +SKIP
    '3'
    """
    spiking = _spiking_paths(model)
    if not spiking:
        return OutputLayer(None, "the model has no spiking layer")
    last = spiking[-1]
    if last == "":
        return OutputLayer(
            None,
            "the model is itself a single neuron, so which layer reads out "
            "cannot be decided",
            decided=False,
        )
    seen_last = False
    for path, module in model.named_modules():
        if path == last:
            seen_last = True
            continue
        if not seen_last or _inside(path, last):
            continue
        if _has_own_weights(module) and family_of(module) is None:
            return OutputLayer(
                None,
                f"the last spiking layer {last!r} feeds {path!r} "
                f"({type(module).__name__}), a layer with weights registered "
                "after it: it is hidden and the model has no spiking output layer",
            )
    return OutputLayer(
        last,
        f"{last!r} is the last spiking layer and no layer with weights is "
        "registered after it",
    )


def verify_in_forward(
    model: nn.Module,
    decision: OutputLayer,
    *,
    on_mismatch: Callable[[str], None] | None = None,
) -> list[RemovableHandle]:
    """Check ``decision`` against the first forward pass of ``model``.

    Records the order in which the spiking layers and the modules with weights
    run during the next forward of ``model``, then removes every hook. If a
    module with weights ran after the last spiking layer that ran (the output
    is a head), or another spiking layer ran last, ``on_mismatch`` gets one
    line saying so (default: an :class:`OutputLayerWarning`).

    Args:
        model: The model ``decision`` was made for.
        decision: What :func:`find_output_layer` returned.
        on_mismatch: Called with the message when the forward contradicts
            ``decision``; defaults to ``warnings.warn(..., OutputLayerWarning)``.

    Returns:
        The hook handles (removed by the check itself; remove them to cancel).
    """
    spiking = set(_spiking_paths(model))
    events: list[str] = []
    handles: list[RemovableHandle] = []

    def record(path: str) -> Callable[..., None]:
        def hook(*_: object) -> None:
            if not _compiling():
                events.append(path)

        return hook

    neuron_paths = sorted(spiking, key=len)
    for path, module in model.named_modules():
        inside_neuron = any(
            _inside(path, n) and path != n for n in neuron_paths if n != ""
        )
        if path in spiking or (
            not inside_neuron and path != "" and _has_own_weights(module)
        ):
            handles.append(module.register_forward_hook(record(path)))

    def done(*_: object) -> None:
        if _compiling():  # checked on the first eager forward instead
            return
        for handle in handles:
            handle.remove()
        message = _mismatch(events, spiking, decision)
        if message is not None:
            if on_mismatch is None:
                warnings.warn(message, OutputLayerWarning, stacklevel=2)
            else:
                on_mismatch(message)

    handles.append(model.register_forward_hook(done))
    return handles


def _compiling() -> bool:
    """Whether torch.compile is tracing (the check then stays out of the graph)."""
    check = getattr(torch.compiler, "is_compiling", None)
    return bool(check()) if check is not None else False


def _mismatch(
    events: list[str], spiking: set[str], decision: OutputLayer
) -> str | None:
    """The complaint about ``decision`` given the run order ``events``, or None."""
    fired = [e for e in events if e in spiking]
    if not fired:
        return None
    last_spiking = fired[-1]
    last_index = len(events) - 1 - events[::-1].index(last_spiking)
    after = events[last_index + 1 :]
    head = next((e for e in after if e not in spiking), None)
    if decision.path is not None:
        if head is not None:
            return (
                f"attach kept {decision.path!r} on its own surrogate as the "
                f"output layer, but {head!r} (with weights) ran after the last "
                "spiking layer in the first forward: it is hidden. Use "
                f"attach(model, output='adali') to give it AdaLi"
            )
        if last_spiking != decision.path:
            return (
                f"attach kept {decision.path!r} on its own surrogate as the "
                f"output layer, but {last_spiking!r} ran last in the first "
                f"forward; use attach(model, exclude=[{last_spiking!r}], "
                "output='adali') to keep that one instead"
            )
        return None
    if decision.decided and head is None:
        return (
            f"attach found no spiking output layer, but {last_spiking!r} ran "
            "last in the first forward with no layer with weights after it: "
            f"if it is the output layer, keep it on its own surrogate with "
            f"attach(model, exclude=[{last_spiking!r}])"
        )
    return None
