"""Multi-step LIF (and IF) neurons with the AdaLi surrogate and a hand-written BPTT.

Why: run under plain autograd, a multi-step LIF layer keeps float tensors per
element and time step for backward (the potentials, the spikes of the reset). The
AdaLi derivative only needs to know which of four regions ``h - v_threshold`` fell
in, so :class:`AdaLiLIF` saves the uint8 :func:`~.regions.region_code` instead:
1 byte per element and step, plus ``h`` itself (in the compute dtype) only for a
hard reset whose spike is not detached, where ``dv/dh`` depends on it. Backward
walks ``t = T-1 .. 0`` reading the heights by code (``regions.py``).

What: the recurrence of SpikingJelly 2.0's ``_ops/lif/reference.py`` (and
``_ops/if_/reference.py`` with ``tau=None``), op for op, so spikes and potentials
equal SpikingJelly's bit for bit:

* charge ``h = v + (x - (v - v_reset)) / tau`` (``decay_input``), else
  ``h = v - (v - v_reset) / tau + x``, with 0 for a ``v_reset`` of None;
  IF: ``h = v + x``;
* fire ``s = (h - v_threshold >= 0)``;
* reset ``v = s * v_reset + (1 - s) * h`` (hard) or ``v = h - s * v_threshold``
  (soft), with the spike detached from the reset's gradient if ``detach_reset``.

Potentials are computed in ``promote_types(x.dtype, v.dtype)`` like SpikingJelly,
spikes come out in ``x``'s dtype like its fused kernels, and half-precision
gradients are accumulated in float32. Gradients equal plain autograd through the
reference step up to rounding, the final potential included: it is differentiable
and its gradient flows back through time to ``x`` and the initial ``v``.

Host-agnostic (torch only); ``adali_plugins.spikingjelly`` routes SpikingJelly's
``lif_multi_step`` / ``if_multi_step`` here for ``AdaLi``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.autograd.function import once_differentiable

from . import regions
from .starvation import record_codes

__all__ = ["AdaLiLIF", "adali_lif_multi_step"]

_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _grad_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _charge(
    x: torch.Tensor,
    v: torch.Tensor,
    tau: float | None,
    decay_input: bool,
    reset_value: float,
    out: torch.Tensor | None,
) -> torch.Tensor:
    if tau is None:
        return torch.add(v, x, out=out)
    rest = v if reset_value == 0.0 else v - reset_value
    if decay_input:
        return torch.add(v, (x - rest).div_(tau), out=out)
    return torch.add(v - rest / tau, x, out=out)


def _code(
    u: torch.Tensor,
    fired: torch.Tensor,
    tests: list[tuple[Any, torch.Tensor | float]],
    scratch: tuple[torch.Tensor, torch.Tensor],
) -> torch.Tensor:
    """:func:`~.regions.region_code` of ``u`` given ``fired = u >= 0``, as int32.

    The edge test at ``regions.FIRE_EDGE`` is the spike, so ``fired`` stands in
    for it. Comparisons written into float buffers run several times faster on
    the CPU than ones producing bool masks; the codes are the same.
    """
    code, term = scratch
    for i, (op, bound) in enumerate(tests):
        fire = i == regions.FIRE_EDGE
        if i == 0:
            code.copy_(fired) if fire else op(u, bound, out=code)
        else:
            code.add_(fired if fire else op(u, bound, out=term))
    return code.to(torch.int32)


def _run(
    x_seq: torch.Tensor,
    v: torch.Tensor,
    window: torch.Tensor,
    tau: float | None,
    decay_input: bool,
    v_threshold: float,
    v_reset: float | None,
    *,
    store_v_seq: bool,
    save_code: bool,
    save_h: bool,
) -> tuple[Any, ...]:
    """The forward recurrence: spikes, final v, and v trace, codes, h (or None)."""
    dtype = torch.promote_types(x_seq.dtype, v.dtype)
    shape, device = x_seq.shape, x_seq.device
    reset_value = 0.0 if v_reset is None else v_reset
    spikes = torch.empty(shape, dtype=x_seq.dtype, device=device)
    codes = torch.empty(shape, dtype=torch.uint8, device=device) if save_code else None
    hs = torch.empty(shape, dtype=dtype, device=device) if save_h else None
    v_seq = torch.empty(shape, dtype=dtype, device=device) if store_v_seq else None

    def step_buffer() -> torch.Tensor:
        return torch.empty(shape[1:], dtype=dtype, device=device)

    fired = None if spikes.dtype == dtype else step_buffer()
    scratch = (step_buffer(), step_buffer()) if save_code else None
    left, right = window[:2].to(device=device, dtype=dtype).unbind()
    tests = regions.edge_tests(left, right)
    for t in range(shape[0]):
        h = _charge(
            x_seq[t], v, tau, decay_input, reset_value, None if hs is None else hs[t]
        )
        u = h - v_threshold
        s = spikes[t] if fired is None else fired
        torch.ge(u, 0.0, out=s)
        if fired is not None:
            spikes[t] = fired
        if codes is not None and scratch is not None:
            codes[t] = _code(u, s, tests, scratch)
        if v_reset is None:
            v = h - s * v_threshold
        else:
            v = (1.0 - s).mul_(h)
            if v_reset != 0.0:
                v.add_(s * v_reset)
        if v_seq is not None:
            v_seq[t] = v
    return spikes, v, v_seq, codes, hs


def _through_reset(
    gh: torch.Tensor | None,
    carry: torch.Tensor,
    sg: torch.Tensor,
    code: torch.Tensor,
    h: torch.Tensor | None,
    v_threshold: float,
    v_reset: float | None,
    detach_reset: bool,
) -> torch.Tensor:
    """``gh + carry * dv/dh`` for one step (``gh`` None: no spike gradient).

    ``code`` is the step's uint8 region code (below ``FIRED_FROM_CODE``: no spike).
    """
    if v_reset is None:
        out = carry.clone() if gh is None else gh.add_(carry)
        if not detach_reset:
            out.addcmul_(sg, carry, value=-v_threshold)
        return out
    kept = torch.lt(code, regions.FIRED_FROM_CODE, out=torch.empty_like(carry))
    out = kept.mul_(carry) if gh is None else gh.addcmul_(carry, kept)
    if h is not None:
        out.addcmul_((v_reset - h.to(sg.dtype)).mul_(sg), carry)
    return out


class AdaLiLIF(torch.autograd.Function):
    """Multi-step LIF/IF over ``x_seq [T, ...]`` from ``v [...]``, AdaLi backward.

    ``apply(x_seq, v, window, tau, decay_input, v_threshold, v_reset,
    detach_reset, store_v_seq)`` returns ``(spike_seq, v_out, codes, h)``:
    ``v_out`` is the final potential, or the whole trace ``[T, ...]`` if
    ``store_v_seq``; ``codes`` (uint8 region codes) and ``h`` (the charged
    potentials, None unless the reset is hard and not detached) are what
    backward needs, returned as non-differentiable outputs. ``window`` is
    ``[left, right, h_lo, h_hi]``; ``tau`` None means IF. Saved for backward:
    the codes, the two heights, and ``h`` when present.
    """

    @staticmethod
    def forward(
        x_seq: torch.Tensor,
        v: torch.Tensor,
        window: torch.Tensor,
        tau: float | None,
        decay_input: bool,
        v_threshold: float,
        v_reset: float | None,
        detach_reset: bool,
        store_v_seq: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        save_h = v_reset is not None and not detach_reset
        spikes, v_final, v_seq, codes, hs = _run(
            x_seq,
            v,
            window,
            tau,
            decay_input,
            v_threshold,
            v_reset,
            store_v_seq=store_v_seq,
            save_code=True,
            save_h=save_h,
        )
        return spikes, v_seq if store_v_seq else v_final, codes, hs

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        x_seq, v, window, *config, store_v_seq = inputs
        _, v_out, codes, hs = output
        ctx.set_materialize_grads(False)
        ctx.mark_non_differentiable(*(t for t in (codes, hs) if t is not None))
        dtype = _grad_dtype(v_out.dtype)
        heights = window[2:4].to(device=x_seq.device, dtype=dtype)
        ctx.save_for_backward(codes, heights, *([] if hs is None else [hs]))
        ctx.config = tuple(config)
        ctx.store_v_seq = store_v_seq
        ctx.dtypes = (x_seq.dtype, v.dtype)

    @staticmethod
    @once_differentiable
    def backward(
        ctx: Any,
        grad_spikes: torch.Tensor | None,
        grad_v: torch.Tensor | None,
        *_grad_saved: Any,
    ) -> tuple[Any, ...]:
        codes, heights, *rest = ctx.saved_tensors
        hs = rest[0] if rest else None
        tau, decay_input, v_threshold, v_reset, detach_reset = ctx.config
        x_dtype, v_dtype = ctx.dtypes
        dtype = heights.dtype
        grad_x = torch.empty(codes.shape, dtype=x_dtype, device=codes.device)
        trace = grad_v if ctx.store_v_seq else None
        carry = None if grad_v is None or trace is not None else grad_v.to(dtype)
        h_lo, h_hi = heights.unbind()
        for t in range(codes.shape[0] - 1, -1, -1):
            if trace is not None:
                carry = trace[t].to(dtype) if carry is None else carry + trace[t]
            code = codes[t]
            sg = regions.heights_from_code(code, h_lo, h_hi, dtype)
            gh = None if grad_spikes is None else grad_spikes[t].to(dtype) * sg
            if carry is not None:
                h = None if hs is None else hs[t]
                gh = _through_reset(
                    gh, carry, sg, code, h, v_threshold, v_reset, detach_reset
                )
            if gh is None:
                grad_x[t].zero_()
                continue
            if tau is None:
                grad_x[t] = gh
                carry = gh
            elif decay_input:
                if gh.dtype == x_dtype:
                    gx = torch.div(gh, tau, out=grad_x[t])
                else:
                    gx = gh / tau
                    grad_x[t] = gx
                carry = gh.sub_(gx)
            else:
                grad_x[t] = gh
                carry = gh - gh / tau
        grad_v0 = None
        if ctx.needs_input_grad[1] and carry is not None:
            grad_v0 = carry.to(v_dtype)
        return grad_x, grad_v0, None, None, None, None, None, None, None


def adali_lif_multi_step(
    x_seq: torch.Tensor,
    v: torch.Tensor,
    *,
    tau: float | None = 2.0,
    decay_input: bool = True,
    v_threshold: float = 1.0,
    v_reset: float | None = 0.0,
    detach_reset: bool = False,
    window: torch.Tensor,
    store_v_seq: bool = False,
    track: torch.nn.Module | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Multi-step LIF (IF if ``tau`` is None) with the AdaLi surrogate gradient.

    Same arguments and result as SpikingJelly 2.0's ``lif_multi_step``:
    ``(spike_seq, v_final, v_seq or None)``. ``window`` is the AdaLi module's
    ``[left, right, h_lo, h_hi]`` buffer. Without autograd (``no_grad``, or
    neither input needing a gradient) nothing is saved. ``track``: the AdaLi
    module whose reached-units mask a training forward updates from the region
    codes (see :mod:`adali_plugins.starvation`).

    Raises:
        ValueError: ``x_seq`` has no time steps, ``v`` is not ``x_seq[0]``'s
            shape, or a dtype is not floating point.
    """
    if x_seq.dim() == 0 or x_seq.shape[0] == 0:
        raise ValueError("x_seq must be [T, ...] with T >= 1")
    if v.shape != x_seq.shape[1:]:
        raise ValueError(f"v must have shape {tuple(x_seq.shape[1:])}, got {v.shape}")
    if x_seq.dtype not in _FLOATS or v.dtype not in _FLOATS:
        raise ValueError(f"unsupported dtypes {x_seq.dtype}, {v.dtype}")
    if torch.is_grad_enabled() and (x_seq.requires_grad or v.requires_grad):
        spikes, v_out, codes, _ = AdaLiLIF.apply(
            x_seq,
            v,
            window,
            tau,
            decay_input,
            v_threshold,
            v_reset,
            detach_reset,
            store_v_seq,
        )
        if track is not None:
            record_codes(track, codes)
        if store_v_seq:
            return spikes, v_out[-1].clone(), v_out
        return spikes, v_out, None
    with torch.no_grad():
        spikes, v_final, v_seq, _, _ = _run(
            x_seq,
            v,
            window,
            tau,
            decay_input,
            v_threshold,
            v_reset,
            store_v_seq=store_v_seq,
            save_code=False,
            save_h=False,
        )
    return spikes, v_final, v_seq
