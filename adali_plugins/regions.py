"""Where the AdaLi derivative is non-zero, and its height there: defined once.

With ``x = u - threshold`` and the window ``(left, right, h_lo, h_hi)``, every
element falls in one of four regions, numbered by how many of three edge tests
it passes:

    code = [x >= -left] + [x >= 0] + [x > right]

    code 0: below the window (NaN too: every comparison with NaN is false)
    code 1: [-left, 0)     derivative h_lo
    code 2: [0, right]     derivative h_hi
    code 3: above          derivative 0

Because ``left`` and ``right`` are positive, ``code >= 2`` exactly when
``x >= 0``, so the code also tells whether the neuron fired (SpikingJelly's
``>=`` convention).

Every backend derives from :data:`EDGES` and :data:`HEIGHT_OF_CODE`: the eager
ops (:func:`region_code`, :func:`heights_from_code`), the compiled kernels
(``kernels.py``), the multi-step LIF (``lif.py``) and the CUDA source for
SpikingJelly's cupy backend (:func:`cuda_source`). Only one of the two height
terms is non-zero at any element, so each backend computes ``h_lo``, ``h_hi``
or 0 exactly and they all agree bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

Scalar = float | torch.Tensor


class Edge(NamedTuple):
    """One edge test of the region code: ``x <op> bound(left, right)``."""

    op: str  # "ge" or "gt"
    bound: Callable[[Scalar, Scalar], Scalar]


EDGES: tuple[Edge, ...] = (
    Edge("ge", lambda left, right: -left),
    Edge("ge", lambda left, right: 0.0),
    Edge("gt", lambda left, right: right),
)
"""The three tests whose sum is the region code, lowest edge first."""

HEIGHT_OF_CODE: tuple[str | None, ...] = (None, "h_lo", "h_hi", None)
"""The derivative at each code: the name of a height, or None for zero."""

FIRE_EDGE = 1
"""Index in :data:`EDGES` of the test ``x >= 0``: the spike itself, which a
caller that has already fired the neuron can reuse instead of recomputing."""

FIRED_FROM_CODE = 2
"""``code >= FIRED_FROM_CODE`` exactly when ``x >= 0``."""

_TORCH_OPS = {"ge": torch.ge, "gt": torch.gt}
_C_OPS = {"ge": ">=", "gt": ">"}
_HALF2_OPS = {"ge": "__hge2", "gt": "__hgt2"}


def edge_tests(left: Scalar, right: Scalar) -> list[tuple[Callable, Scalar]]:
    """``[(torch comparison, bound), ...]`` for the window, in :data:`EDGES` order."""
    return [(_TORCH_OPS[e.op], e.bound(left, right)) for e in EDGES]


def height_terms(h_lo: Scalar, h_hi: Scalar) -> list[tuple[int, Scalar]]:
    """``[(code, height), ...]`` for the codes with a non-zero derivative."""
    named = {"h_lo": h_lo, "h_hi": h_hi}
    return [(c, named[n]) for c, n in enumerate(HEIGHT_OF_CODE) if n is not None]


def region_code(x: torch.Tensor, left: Scalar, right: Scalar) -> torch.Tensor:
    """The region code of every element of ``x``, as uint8.

    The comparisons write int8 directly (on the CPU several times faster than
    bool masks) and are summed in place, so no float temporary is made.
    """
    (first_op, first_bound), *rest = edge_tests(left, right)
    code = first_op(
        x, first_bound, out=torch.empty(x.shape, dtype=torch.int8, device=x.device)
    )
    scratch = torch.empty_like(code)
    for op, bound in rest:
        code.add_(op(x, bound, out=scratch))
    return code.view(torch.uint8)


def heights_from_code(
    code: torch.Tensor, h_lo: Scalar, h_hi: Scalar, dtype: torch.dtype
) -> torch.Tensor:
    """The derivative at each element, in ``dtype``, from its region code.

    Comparisons write into float tensors, the fast kind on the CPU; one term is
    non-zero per element, so the result is ``h_lo``, ``h_hi`` or 0 exactly.
    """
    code_f = code.to(dtype)
    owned = code_f is not code
    terms = height_terms(h_lo, h_hi)
    factor = None
    for i, (c, h) in enumerate(terms):
        reuse = owned and i == len(terms) - 1
        out = code_f if reuse else torch.empty_like(code_f)
        term = torch.eq(code_f, float(c), out=out).mul_(h)
        factor = term if factor is None else term.add_(factor)
    assert factor is not None
    return factor


def cuda_source(
    y: str, x: str, dtype: str, window: tuple[float, float, float, float]
) -> str:
    """CUDA statements assigning ``y = g(x)`` for a ``'float'`` or ``'half2'`` kernel.

    The window enters as literals, so a new window is a new kernel source.
    """
    left, right, h_lo, h_hi = window
    tests = [(e.op, float(e.bound(left, right))) for e in EDGES]
    terms = height_terms(h_lo, h_hi)
    if dtype == "float":
        code = " + ".join(
            f"(float)(adali_backward__x {_C_OPS[op]} {_lit(b)})" for op, b in tests
        )
        height = " + ".join(
            f"(adali_backward__code == {c}.0f) * {_lit(h)}" for c, h in terms
        )
        return (
            f"const float adali_backward__x = {x};\n"
            f"const float adali_backward__code = {code};\n"
            f"{y} = {height};"
        )
    if dtype == "half2":
        parts = [f"{_HALF2_OPS[op]}({x}, {_half2(b)})" for op, b in tests]
        code = parts[0]
        for part in parts[1:]:
            code = f"__hadd2({code}, {part})"
        products = [
            f"__hmul2(__heq2(adali_backward__code, {_half2(c)}), {_half2(h)})"
            for c, h in terms
        ]
        height = products[0]
        for product in products[1:]:
            height = f"__hadd2({height}, {product})"
        return f"const half2 adali_backward__code = {code};\n{y} = {height};"
    raise NotImplementedError(f"dtype must be 'float' or 'half2', got {dtype!r}")


def _lit(value: float) -> str:
    return f"{float(value)!r}f"


def _half2(value: float) -> str:
    return f"__float2half2_rn({_lit(value)})"
