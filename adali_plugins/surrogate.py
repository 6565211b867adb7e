"""The AdaLi surrogate maths, written once and shared by every adapter.

Notation: ``x = u - threshold`` (the membrane potential before fire/reset, shifted
by the threshold). The forward pass is a Heaviside step; the backward pass replaces
its derivative by an asymmetric two-level box (SPEC §1):

    g(x) = h_lo   if -left <= x < 0
           h_hi   if  0 <= x <= right
           0      otherwise (NaN included)

with ``h_lo = alpha / L`` and ``h_hi = beta / R`` for the current half-widths.
Per element that is two compares and a select: no exp, no division.

Reference: K. Hou, K. Wu, Y. Zhou, "Adaptive and lightweight surrogate gradients:
enhancing training efficiency of spiking neural networks", Front. Neurosci., 2026,
doi:10.3389/fnins.2026.1795946. The box shape follows the abstract; its exact
parametrisation here is our reading.
"""

from __future__ import annotations

from typing import Any

import torch

from . import kernels

Scalar = float | torch.Tensor


def heaviside(x: torch.Tensor, *, inclusive: bool) -> torch.Tensor:
    """Spikes in ``x``'s dtype: ``x >= 0`` if ``inclusive`` else ``x > 0``.

    SpikingJelly fires at ``x >= 0``, snnTorch at ``x > 0``; each adapter picks
    its host's convention so the forward is bit-identical to the host's.
    """
    fired = x >= 0 if inclusive else x > 0
    return fired.to(x.dtype)


def adali_grad(
    x: torch.Tensor, left: Scalar, right: Scalar, h_lo: Scalar, h_hi: Scalar
) -> torch.Tensor:
    """The surrogate derivative g(x), in ``x``'s dtype; 0 outside the window."""
    below = (x >= -left).to(x.dtype) * h_lo
    above = (x <= right).to(x.dtype) * h_hi
    return torch.where(x < 0, below, above)


def adali_primitive(
    x: torch.Tensor, left: Scalar, right: Scalar, h_lo: Scalar, h_hi: Scalar
) -> torch.Tensor:
    """The integral of g from -inf to x: a two-slope ramp from 0 to the area."""
    return h_lo * (torch.clamp(x, min=-left, max=0.0) + left) + h_hi * torch.clamp(
        x, min=0.0, max=right
    )


def region_code(x: torch.Tensor, left: Scalar, right: Scalar) -> torch.Tensor:
    """Where each element sits, as uint8: 0 below the window (or NaN), 1 in
    ``[-left, 0)``, 2 in ``[0, right]``, 3 above the window.

    One byte per element is all the backward pass needs: the derivative is the
    table ``[0, h_lo, h_hi, 0]`` looked up at the code.
    """
    code = (x >= -left).view(torch.uint8)
    code += (x >= 0).view(torch.uint8)
    code += (x > right).view(torch.uint8)
    return code


def grad_from_code(
    grad_output: torch.Tensor, code: torch.Tensor, window: torch.Tensor
) -> torch.Tensor:
    """``grad_output * g(x)`` from the region code and ``[left, right, h_lo, h_hi]``."""
    table = torch.nn.functional.pad(window[2:4], (1, 1)).to(grad_output.dtype)
    factor = torch.index_select(table, 0, code.reshape(-1).to(torch.int32))
    return factor.view(code.shape).mul_(grad_output)


class AdaLiSpike(torch.autograd.Function):
    """Heaviside forward, AdaLi backward, keeping 1 byte per element for backward.

    ``window`` is a 1-D tensor ``[left, right, h_lo, h_hi]`` (kept by the
    surrogate module as a buffer so no host sync happens per call). Forward
    returns the spikes and the uint8 :func:`region_code` of ``x``; only the code
    is saved, not ``x`` itself.
    """

    @staticmethod
    def forward(
        x: torch.Tensor, window: torch.Tensor, inclusive: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        bounds = window[:2].to(x.dtype)
        fused = kernels.spike_and_code(x, bounds[0], bounds[1], inclusive=inclusive)
        if fused is not None:
            return fused
        code = region_code(x, bounds[0], bounds[1])
        spike = (code >= 2).to(x.dtype) if inclusive else heaviside(x, inclusive=False)
        return spike, code

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        _, window, _ = inputs
        _, code = output
        ctx.mark_non_differentiable(code)
        ctx.save_for_backward(code, window)

    @staticmethod
    def backward(
        ctx: Any, grad_output: torch.Tensor, _grad_code: Any
    ) -> tuple[Any, None, None]:
        if not ctx.needs_input_grad[0]:
            return None, None, None
        code, window = ctx.saved_tensors
        heights = window[2:4].to(grad_output.dtype)
        fused = kernels.grad_from_code(grad_output, code, heights[0], heights[1])
        if fused is None:
            fused = grad_from_code(grad_output, code, window)
        return fused, None, None


def adali_spike(
    x: torch.Tensor, window: torch.Tensor, *, inclusive: bool
) -> torch.Tensor:
    """Spikes with the AdaLi gradient; ``window`` is ``[left, right, h_lo, h_hi]``.

    Without autograd (``no_grad``, or ``x`` needing no gradient) this is the
    plain Heaviside and no code is computed.
    """
    if not (x.requires_grad and torch.is_grad_enabled()):
        return heaviside(x, inclusive=inclusive)
    spike, _ = AdaLiSpike.apply(x, window, inclusive)
    return spike
