"""The AdaLi surrogate as a torch function, shared by every adapter.

Notation: ``x = u - threshold`` (the membrane potential before fire/reset, shifted
by the threshold). The forward pass is a Heaviside step; the backward pass replaces
its derivative by an asymmetric two-level box (SPEC §1):

    g(x) = h_lo   if -left <= x < 0
           h_hi   if  0 <= x <= right
           0      otherwise (NaN included)

with ``h_lo = alpha / L`` and ``h_hi = beta / R`` for the current half-widths.
Per element that is three compares and a select: no exp, no division. Where
the regions lie and their heights are defined once, in ``regions.py``.

Reference: K. Hou, K. Wu, Y. Zhou, "Adaptive and lightweight surrogate gradients:
enhancing training efficiency of spiking neural networks", Front. Neurosci., 2026,
doi:10.3389/fnins.2026.1795946. The box shape follows the abstract; its exact
parametrisation here is our reading.
"""

from __future__ import annotations

from typing import Any

import torch

from . import kernels
from .regions import heights_from_code, region_code

Scalar = float | torch.Tensor


def heaviside(x: torch.Tensor, *, inclusive: bool) -> torch.Tensor:
    """Spikes in ``x``'s dtype: ``x >= 0`` if ``inclusive`` else ``x > 0``.

    SpikingJelly fires at ``x >= 0``, snnTorch at ``x > 0``; each adapter picks
    its host's convention so the forward is bit-identical to the host's (NaN
    gives 0). The comparison writes straight into a tensor of ``x``'s dtype: on
    the CPU that is several times faster than a bool mask followed by a cast.
    """
    compare = torch.ge if inclusive else torch.gt
    return compare(x, 0.0, out=torch.empty_like(x))


def adali_grad(
    x: torch.Tensor, left: Scalar, right: Scalar, h_lo: Scalar, h_hi: Scalar
) -> torch.Tensor:
    """The surrogate derivative g(x), in ``x``'s dtype; 0 outside the window."""
    return heights_from_code(region_code(x, left, right), h_lo, h_hi, x.dtype)


def adali_primitive(
    x: torch.Tensor, left: Scalar, right: Scalar, h_lo: Scalar, h_hi: Scalar
) -> torch.Tensor:
    """The integral of g from -inf to x: a two-slope ramp from 0 to the area."""
    return h_lo * (torch.clamp(x, min=-left, max=0.0) + left) + h_hi * torch.clamp(
        x, min=0.0, max=right
    )


def grad_from_code(
    grad_output: torch.Tensor, code: torch.Tensor, window: torch.Tensor
) -> torch.Tensor:
    """``grad_output * g(x)`` from the region code and ``[left, right, h_lo, h_hi]``."""
    _, _, h_lo, h_hi = _window_values(window, grad_output)
    return grad_from_heights(grad_output, code, h_lo, h_hi)


def grad_from_heights(
    grad_output: torch.Tensor, code: torch.Tensor, h_lo: Scalar, h_hi: Scalar
) -> torch.Tensor:
    """``grad_output * g(x)`` from the region code and the two heights."""
    return heights_from_code(code, h_lo, h_hi, grad_output.dtype).mul_(grad_output)


def _window_values(
    window: torch.Tensor, x: torch.Tensor, *, kernel: bool = False
) -> tuple[Scalar, ...]:
    """``(left, right, h_lo, h_hi)``: Python floats for CPU tensors in eager mode
    (no per-call tensor ops, no sync), else 0-dim tensors in ``x``'s dtype (no
    host sync on accelerators, no recompile under ``torch.compile`` or in the
    compiled ``kernel``)."""
    if window.device.type == "cpu" and not (kernel or torch.compiler.is_compiling()):
        return tuple(window.tolist())
    return tuple(window.to(x.dtype, copy=True).unbind())


class AdaLiSpike(torch.autograd.Function):
    """Heaviside forward, AdaLi backward, keeping 1 byte per element for backward.

    ``apply(x, left, right, h_lo, h_hi, inclusive, kernel)`` takes the window as
    :func:`adali_spike` read it once from the module's buffer, and whether the
    compiled ``kernel`` path applies. ``forward`` returns the spikes and the
    uint8 region code of ``x``; only the code is saved, not ``x`` itself, and
    the heights are the ones of this forward.
    """

    @staticmethod
    def forward(
        x: torch.Tensor,
        left: Scalar,
        right: Scalar,
        h_lo: Scalar,
        h_hi: Scalar,
        inclusive: bool,
        kernel: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        fused = None
        if kernel:
            fused = kernels.spike_and_code(x, left, right, inclusive=inclusive)
        if fused is None:
            return heaviside(x, inclusive=inclusive), region_code(x, left, right)
        return fused

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        _, _, _, h_lo, h_hi, _, _ = inputs
        _, code = output
        ctx.mark_non_differentiable(code)
        ctx.save_for_backward(code)
        ctx.heights = (h_lo, h_hi)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor, _grad_code: Any) -> tuple:
        nothing = (None,) * 6
        if not ctx.needs_input_grad[0]:
            return (None, *nothing)
        (code,) = ctx.saved_tensors
        h_lo, h_hi = ctx.heights
        grad = None
        if isinstance(h_lo, torch.Tensor) and isinstance(h_hi, torch.Tensor):
            grad = kernels.grad_from_code(grad_output, code, h_lo, h_hi)
        if grad is None:
            grad = grad_from_heights(grad_output, code, h_lo, h_hi)
        return (grad, *nothing)


def adali_spike(
    x: torch.Tensor, window: torch.Tensor, *, inclusive: bool
) -> torch.Tensor:
    """Spikes with the AdaLi gradient; ``window`` is ``[left, right, h_lo, h_hi]``.

    Without autograd (``no_grad``, or ``x`` needing no gradient) this is the
    plain Heaviside and no code is computed. The window is read once per call.
    """
    return adali_spike_code(x, window, inclusive=inclusive)[0]


def adali_spike_code(
    x: torch.Tensor, window: torch.Tensor, *, inclusive: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """:func:`adali_spike` and the uint8 region code it saved for backward
    (None without autograd), for callers that also want to know which elements
    were inside the window (``starvation``) without computing it again."""
    if not (x.requires_grad and torch.is_grad_enabled()):
        return heaviside(x, inclusive=inclusive), None
    kernel = kernels.applies_to(x)
    values = _window_values(window, x, kernel=kernel)
    spikes, code = AdaLiSpike.apply(x, *values, inclusive, kernel)
    return spikes, code
