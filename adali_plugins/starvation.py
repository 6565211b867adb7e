"""Starved units: AdaLi units that got no surrogate gradient for a whole epoch.

AdaLi's derivative is a compact box: a unit whose potential ``x = u - threshold``
never enters ``[-left, right]`` during an epoch gets exactly zero surrogate
gradient for that epoch. In a hidden layer a few such units are silent features
(healthy nets have some); in a spiking output layer read by spike count one such
unit is a class that is never predicted again. This module catches it while
training (ours; the authors' released code, paran-ia/AdaLi, has no such check).

How it works:

* Each AdaLi surrogate holds a non-persistent ``reached`` buffer (int32, as
  gloo cannot broadcast an int16 buffer under DDP; one entry per unit: the
  input's shape without batch and, on multi-step paths, without time;
  :func:`reached_mask` reads it as bool). Training forwards only
  (autograd recording and the input requiring grad) fold into it, with one
  elementwise minimum, the smallest ``region code - 1`` each unit showed: 0 or
  1 means it was inside the window. The codes are the ones the surrogate saves
  for backward anyway (:func:`record_codes`: the snnTorch and SpikingJelly
  adapters, the fused multi-step LIF); the primitive is checked from ``x``
  (:func:`record`). The buffer never enters a ``state_dict``.
* At each epoch boundary (``set_epoch`` with a whole epoch, or
  ``set_epoch(check_starved=True)``; ``AdaLiScheduler.step`` where an epoch
  ends), :func:`end_epoch` reads and resets every layer's mask and issues one
  :class:`StarvedUnitsWarning` per layer that starved: the output layer
  (``output.find_output_layer``) whenever any unit starved, a hidden layer
  when more than :data:`HIDDEN_THRESHOLD` of its units did.

It is a Python warning (the ecosystem's convention for a condition the user
should act on), so it can be filtered::

    warnings.filterwarnings("ignore", category=adali_plugins.StarvedUnitsWarning)

or switched off entirely, recording included::

    adali_plugins.starvation.check = False

Limits: each process judges the forwards it saw (under DDP a rank's shard).
Not tracked (no warning, no cost): SpikingJelly's cupy backend and
spikingjelly 0.0.0.0.14's fused kernels, which never call the surrogate, and
snnTorch under ``torch.compile``, where the adapter cannot tell snnTorch's
second, detached call in ``mem_reset`` (on the previous potential, the initial
one included) from the firing one. One surrogate instance shared by layers
of different shapes restarts its mask at every shape change (``attach`` gives
each layer its own).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import warnings
import weakref
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .registry import spiking_neurons

logger = logging.getLogger(__name__)

__all__ = [
    "HIDDEN_THRESHOLD",
    "Starvation",
    "StarvedUnitsWarning",
    "check",
    "end_epoch",
    "entered",
    "reached_mask",
    "record",
    "record_codes",
    "starved_units",
]

check: bool = True
"""Track reached units and warn at epoch boundaries (True, the default).
False skips both, so a run pays nothing for it."""

HIDDEN_THRESHOLD = 0.25
"""A hidden AdaLi layer warns when more than this share of its units starved
for a whole epoch (an output layer warns for any). Measured on the main
command's healthy reference conv nets (digits, 8 epochs, 10 runs per host):
hidden layers reach at most 9.3% (snnTorch) and 14.2% (SpikingJelly), growing
as the window narrows; see docs/benchmarks/2026-12-07-starvation.txt and
scripts/starvation_shares.py. 0.25 sits 1.8x above that."""

REACHED = "reached"
UNSEEN = torch.iinfo(torch.int32).max
"""``reached`` before any training forward since the last reset."""
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class StarvedUnitsWarning(UserWarning):
    """Units of an AdaLi layer got no surrogate gradient for a whole epoch."""


@dataclass(frozen=True)
class Starvation:
    """One AdaLi layer's reached units over the forwards since the last reset."""

    layer: str
    units: int
    starved: int
    output: bool
    window: tuple[float, float]

    @property
    def share(self) -> float:
        """Share of the layer's units that never entered the window."""
        return self.starved / self.units if self.units else math.nan


def install(module: nn.Module) -> None:
    """Give an AdaLi surrogate its (non-persistent, still empty) ``reached`` buffer."""
    module.register_buffer(REACHED, torch.zeros(0, dtype=torch.int32), persistent=False)


def reached_mask(module: nn.Module) -> torch.Tensor | None:
    """Which units of an AdaLi surrogate entered its window (bool) in the
    training forwards since the last reset; None if there was none."""
    reached = module._buffers.get(REACHED)
    if reached is None or not reached.numel() or bool((reached == UNSEEN).all()):
        return None
    return reached <= 1


def entered(
    x: torch.Tensor, left: Any, right: Any, batch_dims: int = 1
) -> torch.Tensor:
    """Which units of ``x`` entered ``[-left, right]`` in any of the leading
    ``batch_dims`` dimensions (bool, ``x.shape[batch_dims:]``).

    Computed as ``min over the batch of |x - centre| <= half-width``: two
    elementwise ops and a fast reduction (on the CPU about 15x cheaper than
    reducing a bool mask with ``any``), exact up to rounding at the edges. A NaN
    potential hides its unit for that call (the min is NaN).
    """
    centre = (right - left) / 2
    half = (right + left) / 2
    return _min_over_batch((x - centre).abs_(), batch_dims) <= half


def _min_over_batch(t: torch.Tensor, batch_dims: int) -> torch.Tensor:
    dims = min(batch_dims, max(t.dim() - 1, 0))
    if dims == 1:
        return t.amin(dim=0)
    return t.amin(dim=tuple(range(dims))) if dims else t


def _merge(module: nn.Module, reached: torch.Tensor, part: torch.Tensor) -> None:
    """Fold one call's per-unit ``part`` (the smallest ``code - 1`` mod 256: 0 or
    1 inside the window) into ``reached`` with one elementwise minimum."""
    if reached.shape != part.shape or reached.device != part.device:
        if reached.numel() and not torch.compiler.is_compiling():
            logger.debug(
                "%s: unit shape changed %s -> %s; reached units restart",
                type(module).__name__,
                tuple(reached.shape),
                tuple(part.shape),
            )
        setattr(module, REACHED, part.to(torch.int32))
        return
    torch.minimum(reached, part, out=reached)


def record(module: nn.Module, x: torch.Tensor, window: torch.Tensor) -> None:
    """Fold into ``module``'s ``reached`` the units of ``x`` (``[batch, ...]``)
    inside the window ``[left, right, h_lo, h_hi]``; only training forwards
    (autograd recording, ``x`` requiring grad) count. For callers without region
    codes (the primitive); :func:`record_codes` is cheaper."""
    if not (check and torch.is_grad_enabled() and x.requires_grad):
        return
    reached = module._buffers.get(REACHED)
    if reached is None:
        return
    if window.device.type == "cpu" and not torch.compiler.is_compiling():
        left, right = window.tolist()[:2]
    else:
        left, right = window[0].to(x.dtype), window[1].to(x.dtype)
    inside = entered(x.detach(), left, right)
    _merge(module, reached, torch.where(inside, 0, 2).to(torch.uint8))


def record_codes(module: nn.Module, codes: torch.Tensor, batch_dims: int = 2) -> None:
    """Like :func:`record` from the uint8 region codes the surrogate saved for
    backward (codes 1 and 2 are inside the window): ``[batch, ...]`` from the
    adapters (``batch_dims=1``), ``[T, batch, ...]`` from the multi-step LIF.
    Call it only from a training forward (where the codes exist). Three ops on
    a quarter of the bytes of ``x``: the cheap path."""
    reached = module._buffers.get(REACHED) if check else None
    if reached is None:
        return
    # code - 1 wraps code 0 to 255: a unit was inside iff its minimum is 0 or 1
    _merge(module, reached, _min_over_batch(codes.sub(1), batch_dims))


def _layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Each distinct AdaLi surrogate with the path of the neuron that uses it
    (its own path when no registered neuron does). An AdaLi surrogate is known
    by its ``reached`` buffer, so this module needs neither ``state`` nor
    ``attach`` (which import it)."""
    owner: dict[int, str] = {}
    for path, module, family in spiking_neurons(model):
        surrogate = getattr(module, family.attr, None)
        owner.setdefault(id(surrogate), path or "<root>")
    out, seen = [], set()
    for path, module in model.named_modules():
        if REACHED in module._buffers and id(module) not in seen:
            seen.add(id(module))
            out.append((owner.get(id(module), path), module))
    return out


def starved_units(model: nn.Module, *, reset: bool = False) -> dict[str, Starvation]:
    """Each AdaLi layer's starved units since the last reset, keyed by the
    neuron's module path; layers with no training forward since are left out.

    ``reset=True`` also empties every mask, as an epoch boundary does.
    """
    layers = _layers(model)
    found: dict[str, Starvation] = {}
    output_path: str | None = None
    decided = False
    for path, module in layers:
        mask = reached_mask(module)
        if mask is None:
            continue
        units = mask.numel()
        starved = units - int(mask.count_nonzero())
        if reset:
            module._buffers[REACHED].fill_(UNSEEN)
        if not decided:
            output_path, decided = _output_path(model), True
        w = module.current_window()  # type: ignore[attr-defined]
        found[path] = Starvation(
            path, units, starved, path == output_path, (w.left, w.right)
        )
    return found


def _output_path(model: nn.Module) -> str | None:
    from .output import find_output_layer

    path = find_output_layer(model).path
    return "<root>" if path == "" else path


def end_epoch(model: nn.Module, *, epoch: float | None = None) -> dict[str, Starvation]:
    """Read and reset every AdaLi layer's mask; warn once per starving layer.

    ``epoch`` is the epoch about to start (as passed to ``set_epoch``), only
    for the message. Returns what was read (empty when ``check`` is False).
    """
    if not check:
        return {}
    found = starved_units(model, reset=True)
    if not found:
        return found
    finished = _finished_epoch(model, epoch)
    for s in found.values():
        if s.starved and (s.output or s.share > HIDDEN_THRESHOLD):
            warnings.warn(
                _message(s, finished), StarvedUnitsWarning, stacklevel=_stacklevel()
            )
    return found


_LAST_FINISHED: weakref.WeakKeyDictionary[nn.Module, int] = weakref.WeakKeyDictionary()


def _finished_epoch(model: nn.Module, epoch: float | None) -> int | None:
    """The 0-based epoch whose forwards were just read: ``epoch - 1``, or one
    past the last one reported when the schedule stopped moving (a scheduler
    clips its epoch to the last one, so its final two boundaries share it)."""
    if epoch is None:
        return None
    finished = int(epoch) - 1
    last = _LAST_FINISHED.get(model)
    if last is not None and finished >= 0 and finished <= last:
        finished = last + 1
    _LAST_FINISHED[model] = finished
    return finished if finished >= 0 else None


def _message(s: Starvation, finished: int | None) -> str:
    when = "the last epoch" if finished is None else f"epoch {finished}"
    role = (
        "the output layer: each starved unit is a class that stops learning"
        if s.output
        else f"a hidden layer; more than {HIDDEN_THRESHOLD:.0%} starved"
    )
    left, right = s.window
    return (
        f"AdaLi layer {s.layer!r}: {s.starved} of {s.units} units "
        f"({s.share:.1%}) never entered the window [-{left:.3g}, {right:.3g}] "
        f"during {when}, so they got no surrogate gradient ({role}). Fix: keep "
        f"this layer on a host surrogate (attach(model, exclude=[{s.layer!r}]), "
        f"or attach's default output='host' for the output layer), run "
        f"adali_plugins.calibrate(model, monitor), or widen the window "
        f"(left=, right=, left_final=). Silence: adali_plugins.starvation.check "
        f"= False, or filter adali_plugins.StarvedUnitsWarning."
    )


def _stacklevel() -> int:
    """The stacklevel pointing at the first caller outside the library
    (the harness in ``compare/`` counts as a caller)."""
    level, frame = 2, sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        inside = name.startswith(_PACKAGE_DIR) and not name.startswith(
            _PACKAGE_DIR + "compare" + os.sep
        )
        if not inside:
            break
        level += 1
        frame = frame.f_back
    return level
