"""Swap AdaLi into an existing snnTorch or SpikingJelly model, and back out.

``attach`` validates the whole model first and changes nothing unless every
spiking layer can take AdaLi (or ``strict=False``). Every layer ends with its own
AdaLi instance, because per-layer state (calibrated masses and widths) cannot
live in one object shared by all layers, as snnTorch tutorials and
SpikingJelly's default ``surrogate.Sigmoid()`` do.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .registry import NeuronFamily, family_of, load_adapters
from .state import AdaLiState
from .window import AdaLiParams

logger = logging.getLogger(__name__)

SURROGATE_ATTRS = ("spike_grad", "surrogate_function")
"""Attribute names under which the hosts keep a neuron's surrogate."""


class AttachError(ValueError):
    """The model has layers AdaLi cannot be attached to; nothing was changed."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"cannot attach AdaLi; nothing was changed:\n{lines}\n"
            "Fix these layers, or pass strict=False to attach to the others only."
        )


class NoSpikingLayerError(ValueError):
    """The model holds no snnTorch or SpikingJelly spiking neuron."""


class WrappedModelError(ValueError):
    """``attach`` was given a model already wrapped for data parallelism."""


class NoAdaLiError(ValueError):
    """The model holds no AdaLi surrogate."""


@dataclass(frozen=True)
class Swap:
    """One surrogate replaced by ``attach``."""

    path: str
    neuron: nn.Module
    attr: str
    before: Any
    after: nn.Module

    @property
    def neuron_type(self) -> str:
        return type(self.neuron).__name__


@dataclass(frozen=True)
class SpikingLayer:
    """A spiking neuron found in a model, with its family and surrogate."""

    path: str
    neuron: nn.Module
    family: NeuronFamily

    @property
    def surrogate(self) -> Any:
        return getattr(self.neuron, self.family.attr)


def spiking_layers(model: nn.Module) -> list[SpikingLayer]:
    """Every registered spiking neuron in ``model``, in module order."""
    load_adapters(model)
    found = []
    for path, module in model.named_modules():
        family = family_of(module)
        if family is not None and family.unsupported is None:
            if getattr(module, "surrogate_disable", False):
                continue
            found.append(SpikingLayer(path or "<root>", module, family))
    return found


def adali_modules(model: nn.Module) -> list[tuple[str, AdaLiState]]:
    """Each distinct AdaLi surrogate in ``model`` with its first module path."""
    return [(p, m) for p, m in model.named_modules() if isinstance(m, AdaLiState)]


def _problems(model: nn.Module) -> list[str]:
    problems = []
    for path, module in model.named_modules():
        family = family_of(module)
        where = f"{path or '<root>'} ({type(module).__name__})"
        if family is not None and family.unsupported is not None:
            problems.append(f"{where}: not supported: {family.unsupported}")
        elif family is None and isinstance(module, nn.Module):
            for attr in SURROGATE_ATTRS:
                if callable(getattr(module, attr, None)):
                    problems.append(
                        f"{where}: has a {attr!r} but is not a registered neuron "
                        "family; register it with "
                        "adali_plugins.registry.register_neuron"
                    )
                    break
    return problems


def _device_of(*modules: nn.Module) -> torch.device:
    for module in modules:
        for tensor in [*module.parameters(), *module.buffers()]:
            return tensor.device
    return torch.device("cpu")


class AttachHandle:
    """What ``attach`` changed; ``restore()`` puts the original surrogates back."""

    def __init__(self, model: nn.Module, swaps: list[Swap], skipped: list[str]) -> None:
        self.model = model
        self.swaps = tuple(swaps)
        self.skipped = tuple(skipped)
        self._restored = False

    def __len__(self) -> int:
        return len(self.swaps)

    def __iter__(self) -> Iterator[Swap]:
        return iter(self.swaps)

    @property
    def paths(self) -> list[str]:
        """Module paths of the neurons whose surrogate was replaced."""
        return [s.path for s in self.swaps]

    def restore(self) -> None:
        """Put back the surrogates ``attach`` replaced (shared ones stay shared)."""
        if self._restored:
            raise RuntimeError("this attach handle was already restored")
        for swap in reversed(self.swaps):
            _set_surrogate(swap.neuron, swap.attr, swap.before)
        _notify(self.model, self.swaps)
        self._restored = True

    def __repr__(self) -> str:
        rows = [
            f"  {s.path} ({s.neuron_type}): {_describe(s.before)} -> AdaLi"
            for s in self.swaps
        ]
        rows += [f"  skipped {s}" for s in self.skipped]
        return "AttachHandle(\n" + "\n".join(rows) + "\n)"


def _describe(surrogate: Any) -> str:
    if isinstance(surrogate, nn.Module):
        return type(surrogate).__name__
    name = getattr(surrogate, "__qualname__", None) or type(surrogate).__name__
    return name.replace(".<locals>", "").removesuffix(".inner")


def _set_surrogate(neuron: nn.Module, attr: str, value: Any) -> None:
    if attr in neuron._modules and not isinstance(value, nn.Module):
        delattr(neuron, attr)
    setattr(neuron, attr, value)


def _notify(model: nn.Module, swaps: tuple[Swap, ...] | list[Swap]) -> None:
    seen = set()
    for swap in swaps:
        family = family_of(swap.neuron)
        hook = family.on_swap if family else None
        if hook is not None and hook not in seen:
            seen.add(hook)
            hook(model)


def attach(model: nn.Module, /, *, strict: bool = True, **params: Any) -> AttachHandle:
    """Give every spiking layer of ``model`` its own AdaLi surrogate, in place.

    With ``params`` (``alpha``, ``beta``, ``left``, ``right``, ``p``,
    ``schedule``, ``keep``) every layer gets a fresh AdaLi built from them.
    Without, a layer that already has AdaLi keeps its settings (an
    independent copy if its instance was shared) and the others get defaults.

    >>> handle = attach(model, schedule="sqrt")  # doctest: +SKIP
    >>> handle.paths                        # doctest: +SKIP
    ['lif1', 'lif2']
    >>> handle.restore()                    # doctest: +SKIP

    Raises:
        AttachError: some layers cannot take AdaLi (``strict=True``); nothing changed.
        NoSpikingLayerError: the model has no snnTorch/SpikingJelly spiking neuron.
        WrappedModelError: the model is already wrapped in DDP / DataParallel.
        ValueError, TypeError: a parameter is invalid or unknown.
    """
    chosen = AdaLiParams().with_changes(**params)
    uses: Counter[int] = Counter()

    def make(layer: SpikingLayer) -> nn.Module | None:
        old = layer.surrogate
        if isinstance(old, AdaLiState) and not params:
            return None if uses[id(old)] == 1 else copy.deepcopy(old)
        return layer.family.make(chosen)

    layers = _checked_layers(model, strict)
    uses.update(id(layer.surrogate) for layer in layers)
    handle = _replace(model, layers, make)
    logger.info(
        "attached AdaLi to %d layer(s): %s", len(handle), [s.path for s in handle]
    )
    return handle


def replace_surrogates(
    model: nn.Module,
    make: Callable[[SpikingLayer], Any],
    /,
    *,
    strict: bool = True,
) -> AttachHandle:
    """Give every spiking layer of ``model`` the surrogate ``make(layer)`` returns.

    The general form of ``attach``: ``make`` may return any surrogate the host
    accepts (a host built-in, a module, a closure), or None to leave that layer
    as it is. Validated first, nothing changed on error; ``restore()`` on the
    returned handle puts the originals back.

    Raises:
        AttachError, NoSpikingLayerError, WrappedModelError: as ``attach``.
    """
    return _replace(model, _checked_layers(model, strict), make)


def _replace(
    model: nn.Module, layers: list[SpikingLayer], make: Callable[[SpikingLayer], Any]
) -> AttachHandle:
    swaps = []
    for layer in layers:
        new = make(layer)
        if new is None:
            continue
        old = layer.surrogate
        if isinstance(new, nn.Module):
            new = new.to(
                _device_of(
                    old if isinstance(old, nn.Module) else layer.neuron,
                    layer.neuron,
                    model,
                )
            )
        swaps.append(Swap(layer.path, layer.neuron, layer.family.attr, old, new))
    for swap in swaps:
        _set_surrogate(swap.neuron, swap.attr, swap.after)
    _notify(model, swaps)
    problems = _problems(model)
    for problem in problems:
        logger.warning("attach skipped %s", problem)
    return AttachHandle(model, swaps, problems)


def _checked_layers(model: nn.Module, strict: bool) -> list[SpikingLayer]:
    """The spiking layers, after every check that must pass before a change."""
    if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        raise WrappedModelError(
            f"attach AdaLi before wrapping the model in {type(model).__name__}: "
            "the wrapper only synchronises buffers that existed when it was built, "
            "so AdaLi's window would drift apart across ranks; call "
            "attach(model) and then wrap it"
        )
    layers = spiking_layers(model)
    problems = _problems(model)
    if problems and strict:
        raise AttachError(problems)
    if not layers:
        raise NoSpikingLayerError(
            f"{type(model).__name__} has no snnTorch or SpikingJelly spiking neuron "
            "to attach AdaLi to (layers with surrogate_disable=True are skipped)"
        )
    return layers
