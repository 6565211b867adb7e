"""How the AdaLi surrogate runs: eager torch ops (default) or compiled kernels.

The eager path needs nothing beyond torch. ``use_compiled(True)`` (or the
environment variable ``ADALI_PLUGINS_COMPILED=1``) switches the surrogate to two
kernels built by ``torch.compile`` (inductor): one pass computing spikes and the
1-byte region code together, one pass turning the code into the gradient. The
window enters as 0-dim tensors, so a moving window never recompiles. On the CPU
inductor needs a working C++ compiler at run time; if compiling fails the
surrogate logs a warning and stays eager.

Both paths compute exactly the same numbers (tested element for element): the
compiled kernels build the region code of ``regions.py`` with int32 intermediates,
which inductor vectorises well, where bool/uint8 masks are slow on some CPUs.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from . import regions

logger = logging.getLogger(__name__)

_state: dict[str, Any] = {
    "enabled": os.environ.get("ADALI_PLUGINS_COMPILED", "0") == "1",
    "fns": None,
    "failed": False,
}


def use_compiled(enabled: bool = True) -> None:
    """Route AdaLi through compiled kernels (True) or eager torch ops (False)."""
    _state["enabled"] = bool(enabled)


@contextmanager
def compiled(enabled: bool = True) -> Iterator[None]:
    """Temporarily route AdaLi through compiled kernels (or not)."""
    before = _state["enabled"]
    _state["enabled"] = bool(enabled)
    try:
        yield
    finally:
        _state["enabled"] = before


MIN_ELEMENTS = 32768
"""Smaller tensors stay eager: a compiled call's fixed cost (guards, wrappers,
about 50 us on the CPU) exceeds the work saved."""

CPU_DTYPES = frozenset({torch.float32})
"""Dtypes the kernels take on the CPU. In bfloat16 and float16 the CPU kernels
measured slower than the eager path (up to 2.5x for float16 spikes at x > 0),
so those stay eager there; other devices take every floating dtype."""


def applies_to(x: torch.Tensor) -> bool:
    """Whether a surrogate call on ``x`` goes through the compiled kernels."""
    if x.numel() < MIN_ELEMENTS or not compiled_enabled():
        return False
    return x.device.type != "cpu" or x.dtype in CPU_DTYPES


def compiled_enabled() -> bool:
    """Whether compiled kernels are requested and have not failed to build."""
    return bool(_state["enabled"]) and not _state["failed"]


def _spike_and_code(
    x: torch.Tensor, left: torch.Tensor, right: torch.Tensor, inclusive: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    i32 = torch.int32
    code = None
    for op, bound in regions.edge_tests(left, right):
        term = op(x, bound).to(i32)
        code = term if code is None else code + term
    assert code is not None
    spike = (x >= 0) if inclusive else (x > 0)
    return spike.to(x.dtype), code.to(torch.uint8)


def _grad(
    grad: torch.Tensor, code: torch.Tensor, h_lo: torch.Tensor, h_hi: torch.Tensor
) -> torch.Tensor:
    c = code.to(torch.int32)
    factor = torch.zeros_like(h_lo)
    for value, height in regions.height_terms(h_lo, h_hi):
        factor = torch.where(c == value, height, factor)
    return grad * factor.to(grad.dtype)


def _compiled() -> dict[str, Callable[..., Any]] | None:
    if _state["fns"] is None and not _state["failed"]:
        try:
            fns = {
                name: torch.compile(fn, dynamic=True, fullgraph=True)
                for name, fn in (
                    ("ge", _spike_and_code_ge),
                    ("gt", _spike_and_code_gt),
                    ("grad", _grad),
                )
            }
            # The probe looks like the surrogate's real calls (an input that
            # requires grad, seen under no_grad; four distinct window tensors),
            # so it builds the graphs they reuse instead of one they guard out.
            probe = torch.linspace(-2, 2, 64, requires_grad=True)
            left, right, h_lo, h_hi = torch.tensor([1.0, 1.0, 0.5, 0.5]).unbind()
            with torch.no_grad():
                _, code = fns["ge"](probe, left, right)
            fns["grad"](probe.detach(), code, h_lo, h_hi)
            _state["fns"] = fns
        except Exception as err:
            _fail(err)
    return _state["fns"]


def _fail(err: Exception) -> None:
    _state["failed"] = True
    logger.warning("compiled AdaLi kernels unavailable, staying eager: %s", err)


def _spike_and_code_ge(x: torch.Tensor, left: torch.Tensor, right: torch.Tensor) -> Any:
    return _spike_and_code(x, left, right, True)


def _spike_and_code_gt(x: torch.Tensor, left: torch.Tensor, right: torch.Tensor) -> Any:
    return _spike_and_code(x, left, right, False)


def spike_and_code(
    x: torch.Tensor, left: torch.Tensor, right: torch.Tensor, *, inclusive: bool
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Compiled spikes and region code, or None when compiled kernels are off.

    Inputs are flattened to 1-D so tensors of any rank share one compiled graph.
    """
    fns = _compiled() if applies_to(x) else None
    if fns is None:
        return None
    try:
        spike, code = fns["ge" if inclusive else "gt"](x.reshape(-1), left, right)
    except Exception as err:
        _fail(err)
        return None
    return spike.view(x.shape), code.view(x.shape)


def grad_from_code(
    grad: torch.Tensor, code: torch.Tensor, h_lo: torch.Tensor, h_hi: torch.Tensor
) -> torch.Tensor | None:
    """Compiled ``grad * g(x)`` from the code, or None when compiled kernels are off."""
    fns = _compiled() if applies_to(grad) else None
    if fns is None:
        return None
    try:
        out = fns["grad"](grad.reshape(-1), code.reshape(-1), h_lo, h_hi)
    except Exception as err:
        _fail(err)
        return None
    return out.view(code.shape)
