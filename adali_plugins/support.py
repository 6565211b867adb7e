"""The gradient window of any surrogate, measured from its derivative.

AdaLi's window is explicit. For a smooth surrogate (atan, sigmoid, erf...) we
call its window the region where its derivative exceeds ``fraction`` (10% by
default) of its peak: outside it, a potential receives almost no gradient. The
derivative is taken by autograd on a fine float64 grid, so this works for any
surrogate callable, built-in or custom, without restating its formula.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .state import AdaLiState


def surrogate_window(
    surrogate: Callable[[torch.Tensor], torch.Tensor],
    *,
    fraction: float = 0.1,
    span: float = 8.0,
    points: int = 16_001,
) -> tuple[float, float]:
    """``(left, right)`` such that g > ``fraction`` * peak on [-left, right].

    AdaLi surrogates return their current window exactly. A surrogate whose
    derivative is flat over the whole grid (straight-through) returns ``(span,
    span)``; one with no gradient at all returns ``(0.0, 0.0)``.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    if isinstance(surrogate, AdaLiState):
        w = surrogate.current_window()
        return w.left, w.right
    x = torch.linspace(-span, span, points, dtype=torch.float64, requires_grad=True)
    with torch.enable_grad():
        surrogate(x).sum().backward()
    grad = torch.nan_to_num(x.grad.detach().abs(), nan=0.0, posinf=0.0)
    peak = float(grad.max())
    if peak == 0.0:
        return 0.0, 0.0
    inside = x.detach()[grad > fraction * peak]
    return max(-float(inside.min()), 0.0), max(float(inside.max()), 0.0)
