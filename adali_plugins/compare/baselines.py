"""Adaptive surrogate baselines for the harness: our re-implementations.

These are written by us from the papers' descriptions, not from their code, and
kept out of the public surrogate API: they exist so that AdaLi is compared with
the adaptive methods it competes with, not only with fixed built-ins.

* ``ESG`` (epoch-sharpened, in the style of the evolutionary surrogate gradient
  of IM-Loss, Guo et al., NeurIPS 2022): forward Heaviside, backward the
  derivative of ``(tanh(K x) + 1) / 2``, i.e. ``K/2 (1 - tanh(K x)^2)``, with the
  sharpness growing geometrically over training, ``K(q) = k_min (k_max/k_min)^q``
  (our choice of curve; the surrogate goes from wide to sharp).
* ``MPD`` (width from the membrane-potential spread, in the style of DS-ATGO /
  MPD-AGL): a rectangular surrogate ``1/(2a)`` on ``|x| <= a`` whose half-width
  is set at every epoch start to ``a = c * std(x)`` of that layer's potentials
  (our choice: ``c = 1``, floored at 0.05).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from ..attach import spiking_layers
from ..callback import restore_buffers, snapshot_buffers
from ..monitor import MembraneMonitor
from .hosts import profile


class _SpikeWith(torch.autograd.Function):
    """Heaviside forward; backward multiplies by ``derivative(x)``."""

    @staticmethod
    def forward(
        x: torch.Tensor,
        derivative: Callable[[torch.Tensor], torch.Tensor],
        inclusive: bool,
    ) -> torch.Tensor:
        return (x >= 0 if inclusive else x > 0).to(x.dtype)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        x, derivative, _ = inputs
        ctx.derivative = derivative
        ctx.save_for_backward(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, None, None]:
        (x,) = ctx.saved_tensors
        return grad * ctx.derivative(x), None, None


class ESG(nn.Module):
    """Epoch-sharpened tanh surrogate (IM-Loss style; our re-implementation)."""

    def __init__(
        self, *, inclusive: bool, k_min: float = 1.0, k_max: float = 10.0
    ) -> None:
        super().__init__()
        self.inclusive = inclusive
        self.k_min, self.k_max = k_min, k_max
        self.register_buffer("k", torch.tensor(k_min, dtype=torch.float64))

    def set_progress(self, q: float) -> None:
        self.k.fill_(self.k_min * (self.k_max / self.k_min) ** q)

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        k = self.k.to(x.dtype)
        return k / 2 * (1 - torch.tanh(k * x) ** 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _SpikeWith.apply(x, self.derivative, self.inclusive)


class MPD(nn.Module):
    """Rectangular surrogate whose half-width follows the layer's potential spread."""

    def __init__(
        self, *, inclusive: bool, scale: float = 1.0, floor: float = 0.05
    ) -> None:
        super().__init__()
        self.inclusive = inclusive
        self.scale, self.floor = scale, floor
        self.register_buffer("a", torch.tensor(1.0, dtype=torch.float64))

    def set_spread(self, std: float) -> None:
        self.a.fill_(max(self.scale * std, self.floor))

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        a = self.a.to(x.dtype)
        return (x.abs() <= a).to(x.dtype) / (2 * a)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _SpikeWith.apply(x, self.derivative, self.inclusive)


BASELINES: dict[str, type[nn.Module]] = {"ESG": ESG, "MPD": MPD}


def make(name: str, host: str, **options: Any) -> Callable[[], nn.Module]:
    """A factory of baseline ``name`` following ``host``'s spike convention."""
    cls = BASELINES[name]
    inclusive = profile(host).inclusive
    return lambda: cls(inclusive=inclusive, **options)


def adapt(
    model: nn.Module,
    *,
    epoch: int,
    total_epochs: int,
    batches: Iterable[Any],
    forward: Callable[[nn.Module, Any], Any],
    num_batches: int = 4,
) -> dict[str, float]:
    """Per-epoch update of every baseline in ``model``; returns the new values."""
    chosen: dict[str, float] = {}
    q = epoch / (total_epochs - 1) if total_epochs > 1 else 0.0
    for layer in spiking_layers(model):
        if isinstance(layer.surrogate, ESG):
            layer.surrogate.set_progress(q)
            chosen[layer.path] = float(layer.surrogate.k)
    if any(isinstance(m, MPD) for m in model.modules()):
        kept = snapshot_buffers(model)
        with torch.no_grad(), MembraneMonitor(model) as mon:
            for i, batch in enumerate(batches):
                if i >= num_batches:
                    break
                forward(model, batch)
        restore_buffers(model, kept)
        for row in mon.summary():
            surrogate = mon.surrogate_of(row.layer)
            if isinstance(surrogate, MPD) and row.count:
                surrogate.set_spread(row.std)
                chosen[row.layer] = float(surrogate.a)
    return chosen
