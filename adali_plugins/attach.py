"""Swap AdaLi into an existing snnTorch or SpikingJelly model, and back out.

``attach`` validates the whole model first and changes nothing unless every
spiking layer can take AdaLi (or ``strict=False``). Every layer ends with its own
AdaLi instance, because per-layer state (calibrated masses and widths) cannot
live in one object shared by all layers, as snnTorch tutorials and
SpikingJelly's default ``surrogate.Sigmoid()`` do.
"""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
import logging
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from .output import OutputLayer, find_output_layer, verify_in_forward
from .registry import NeuronFamily, family_of, spiking_neurons
from .state import AdaLiState
from .window import AdaLiParams

logger = logging.getLogger(__name__)

SURROGATE_ATTRS = ("spike_grad", "surrogate_function")
"""Attribute names under which the hosts keep a neuron's surrogate."""

OUTPUT_MODES = ("host", "adali")
"""``attach(output=...)``: keep a spiking output layer on its own surrogate
(``"host"``, the default) or give it AdaLi like the others (``"adali"``)."""


class AttachError(ValueError):
    """The model has layers AdaLi cannot be attached to; nothing was changed.

    Args:
        problems: one line per layer: its module path and why.
    """

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


Selector = str | Iterable[str] | Callable[[SpikingLayer], bool] | None
"""Which layers ``exclude`` / ``only`` name: a module path or glob
(``"features.*"``), several of them, or a predicate on a :class:`SpikingLayer`."""


def spiking_layers(model: nn.Module) -> list[SpikingLayer]:
    """Every registered spiking neuron in ``model``, in module order."""
    return [
        SpikingLayer(path or "<root>", module, family)
        for path, module, family in spiking_neurons(model)
    ]


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
    """What ``attach`` changed; ``restore()`` puts the original surrogates back.

    Built by ``attach`` and ``replace_surrogates``, not by hand.

    Args:
        model: The model whose surrogates were replaced.
        swaps: One ``Swap`` per replaced surrogate (module path, neuron,
            attribute, the surrogate before and the one after).
        skipped: Lines naming the layers left out with ``strict=False``
            and why.
        output: The spiking output layer ``attach`` found.
        kept: Paths of the spiking layers left on their own surrogate.
    """

    def __init__(
        self,
        model: nn.Module,
        swaps: list[Swap],
        skipped: list[str],
        *,
        output: OutputLayer | None = None,
        kept: tuple[str, ...] = (),
    ) -> None:
        self.model = model
        self.swaps = tuple(swaps)
        self.skipped = tuple(skipped)
        self.output = output
        """The spiking output layer found by ``attach`` (None for
        ``replace_surrogates``); ``output.path`` is None when there is none."""
        self.kept = kept
        """Paths of the spiking layers left on their own surrogate: the output
        layer (``output="host"``) and those ``exclude`` / ``only`` left out."""
        self._restored = False
        _LIVE.add(self)

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
            if getattr(swap.neuron, swap.attr, None) is swap.after:
                _set_surrogate(swap.neuron, swap.attr, swap.before)
            else:
                # A later handle replaced our AdaLi: when it is restored it
                # must put back what was there before us, not our AdaLi.
                _hand_over(self, swap)
        _notify(self.model, self.swaps)
        self._restored = True
        _LIVE.discard(self)

    def __repr__(self) -> str:
        rows = [
            f"  {s.path} ({s.neuron_type}): {_describe(s.before)} -> AdaLi"
            for s in self.swaps
        ]
        rows += [f"  {p}: kept on its own surrogate" for p in self.kept]
        rows += [f"  skipped {s}" for s in self.skipped]
        return "AttachHandle(\n" + "\n".join(rows) + "\n)"


_LIVE: weakref.WeakSet[AttachHandle] = weakref.WeakSet()
"""Handles not yet restored, so that restoring them in any order ends with the
surrogates that were there before the first one."""


def _hand_over(handle: AttachHandle, swap: Swap) -> None:
    """Make the later handle that replaced ``swap.after`` restore ``swap.before``."""
    for other in list(_LIVE):
        if other is handle or other._restored:
            continue
        changed = False
        swaps = list(other.swaps)
        for i, later in enumerate(swaps):
            if (
                later.neuron is swap.neuron
                and later.attr == swap.attr
                and later.before is swap.after
            ):
                swaps[i] = dataclasses.replace(later, before=swap.before)
                changed = True
        if changed:
            other.swaps = tuple(swaps)


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


def attach(
    model: nn.Module,
    /,
    *,
    strict: bool = True,
    output: Literal["host", "adali"] = "host",
    exclude: Selector = None,
    only: Selector = None,
    **params: Any,
) -> AttachHandle:
    """Give the spiking layers of ``model`` their own AdaLi surrogate, in place.

    A spiking output layer (the last spiking layer, with no layer with weights
    after it: see :mod:`adali_plugins.output`) keeps its own surrogate by
    default, as in the authors' nets, whose AdaLi layers are all hidden: a
    compact window can leave an output unit with no gradient for good, a class
    never predicted again. One INFO log line names the layer kept;
    ``handle.output`` says how it was found, and the first forward pass is
    checked against that decision (an ``OutputLayerWarning`` if they differ).

    Args:
        model: A finished snnTorch or SpikingJelly model (not yet wrapped in
            DDP / DataParallel).
        strict: Refuse the whole model (nothing changed) when some layer with
            a surrogate cannot take AdaLi; False attaches to the others.
        output: ``"host"`` keeps a spiking output layer on its own surrogate;
            ``"adali"`` gives it AdaLi too (every spiking layer).
        exclude: Layers to leave as they are: module paths or globs
            (``"head.*"``), a list of them, or a predicate on a
            :class:`SpikingLayer`.
        only: Layers to consider, in the same forms; an output layer named
            here by its exact path gets AdaLi whatever ``output`` says (a glob
            or predicate that happens to match it does not).
        **params: AdaLi's parameters (``alpha``, ``beta``, ``left``, ``right``,
            ``left_final``, ``right_final``, ``schedule``, ``p``, ``keep``,
            ``max_height``). With them every chosen layer gets a fresh AdaLi;
            without, a layer that already has AdaLi keeps its settings (an
            independent copy if its instance was shared).

    Returns:
        An :class:`AttachHandle`; ``restore()`` puts the original surrogates back.

    >>> handle = attach(model, schedule="sqrt")  # doctest: +SKIP
    >>> handle.paths, handle.output.path          # doctest: +SKIP
    (['lif1'], 'lif2')
    >>> handle.restore()                          # doctest: +SKIP

    Raises:
        AttachError: some layers cannot take AdaLi (``strict=True``); nothing changed.
        NoSpikingLayerError: the model has no snnTorch/SpikingJelly spiking neuron,
            or no layer is left once the output layer and ``exclude`` are set aside.
        WrappedModelError: the model is already wrapped in DDP / DataParallel.
        ValueError, TypeError: a parameter is invalid or unknown, or a path or
            glob in ``exclude`` / ``only`` names no spiking layer.
    """
    if output not in OUTPUT_MODES:
        raise ValueError(f"output must be 'host' or 'adali', got {output!r}")
    chosen = AdaLiParams().with_changes(**params)
    uses: Counter[int] = Counter()

    def make(layer: SpikingLayer) -> nn.Module | None:
        old = layer.surrogate
        if isinstance(old, AdaLiState) and not params:
            return None if uses[id(old)] == 1 else copy.deepcopy(old)
        return layer.family.make(chosen)

    layers = _checked_layers(model, strict)
    picked_only = _select(layers, only, "only") if only is not None else None
    picked_out = _select(layers, exclude, "exclude") if exclude is not None else set()
    named_only = _exact_paths(layers, only)
    decision = find_output_layer(model)
    chosen_layers = []
    kept = []
    for layer in layers:
        named = layer.path in named_only
        if (picked_only is not None and layer.path not in picked_only) or (
            layer.path in picked_out
        ):
            kept.append(layer.path)
        elif output == "host" and layer.path == decision.path and not named:
            kept.append(layer.path)
        else:
            chosen_layers.append(layer)
    if not chosen_layers:
        hint = (
            f" ({decision.reason}); pass output='adali' to give the output "
            "layer AdaLi too"
            if output == "host" and decision.path in kept
            else ""
        )
        raise NoSpikingLayerError(
            f"no spiking layer of {type(model).__name__} is left for AdaLi: "
            f"{', '.join(repr(p) for p in kept)} kept on their own surrogate{hint}"
        )
    uses.update(id(layer.surrogate) for layer in layers)
    handle = _replace(model, chosen_layers, make)
    handle.output = decision
    handle.kept = tuple(kept)
    _log_placement(handle, output)
    if output == "host" and decision.decided:
        verify_in_forward(model, decision)
    return handle


def _log_placement(handle: AttachHandle, output: str) -> None:
    decision = handle.output
    assert decision is not None
    logger.info(
        "attached AdaLi to %d layer(s): %s", len(handle), [s.path for s in handle]
    )
    if output == "host" and decision.path in handle.kept:
        logger.info(
            "kept the spiking output layer %r on its own surrogate (%s); "
            "attach(model, output='adali') gives it AdaLi too",
            decision.path,
            decision.reason,
        )
    elif not decision.decided:
        logger.info("no output layer kept back: %s", decision.reason)


def _exact_paths(layers: list[SpikingLayer], selector: Selector) -> set[str]:
    """The layer paths ``selector`` spells out exactly (not by glob or predicate)."""
    if isinstance(selector, str):
        selector = [selector]
    if selector is None or callable(selector):
        return set()
    try:
        names = set(selector)
    except TypeError:
        return set()
    return {layer.path for layer in layers if layer.path in names}


def _select(layers: list[SpikingLayer], selector: Selector, name: str) -> set[str]:
    """The paths of ``layers`` that ``selector`` names; every pattern must match."""
    if callable(selector) and not isinstance(selector, str):
        return {layer.path for layer in layers if selector(layer)}
    if isinstance(selector, str):
        patterns: list[Any] = [selector]
    elif isinstance(selector, Iterable):
        patterns = list(selector)
    else:
        patterns = [selector]
    if not patterns or not all(isinstance(p, str) for p in patterns):
        raise TypeError(
            f"{name} must be a module path, a glob, a list of them or a "
            f"predicate on a SpikingLayer, got {selector!r}"
        )
    paths = [layer.path for layer in layers]
    picked = set()
    for pattern in patterns:
        hits = {p for p in paths if fnmatch.fnmatchcase(p, pattern)}
        if not hits:
            raise ValueError(
                f"{name}={pattern!r} names no spiking layer; the spiking layers "
                f"are {paths}"
            )
        picked |= hits
    return picked


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

    Args:
        model: A finished snnTorch or SpikingJelly model.
        make: ``make(layer)`` for each :class:`SpikingLayer`: the new
            surrogate, or None to leave that layer as it is.
        strict: Refuse the whole model (nothing changed) when some
            layer with a surrogate is of an unsupported family; False
            replaces the others and logs each layer skipped.

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
    wrapped = next(
        (
            (path, m)
            for path, m in model.named_modules()
            if isinstance(m, (nn.parallel.DistributedDataParallel, nn.DataParallel))
        ),
        None,
    )
    if wrapped is not None:
        where = f" (at {wrapped[0]!r})" if wrapped[0] else ""
        raise WrappedModelError(
            f"attach AdaLi before wrapping the model in {type(wrapped[1]).__name__}"
            f"{where}: "
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
