"""kernels.py: compiled kernels give exactly the eager numbers and never recompile."""

from __future__ import annotations

import math

import pytest
import torch
import torch._dynamo as dynamo

from adali_plugins import kernels
from adali_plugins.surrogate import (
    adali_spike,
    grad_from_heights,
    heaviside,
    region_code,
)


def _window(left=0.6, right=1.2, lo=0.9, hi=0.4):
    return torch.tensor([left, right, lo, hi], dtype=torch.float64)


def _inputs(dtype):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(kernels.MIN_ELEMENTS + 5000, generator=gen) * 2
    x[:6] = torch.tensor([math.nan, math.inf, -math.inf, 0.0, -0.6, 1.2])
    return x.to(dtype)


def _run(x, window, inclusive):
    x = x.clone().requires_grad_()
    up = torch.linspace(0.5, 1.5, x.numel()).to(x.dtype)
    out = adali_spike(x, window, inclusive=inclusive)
    out.backward(up)
    return out, x.grad


@pytest.mark.parametrize("inclusive", [True, False], ids=["ge", "gt"])
def test_compiled_equals_eager_exactly(inclusive):
    x, window = _inputs(torch.float32), _window()
    eager = _run(x, window, inclusive)
    with kernels.compiled(True):
        assert kernels.applies_to(x)
        fused = _run(x, window, inclusive)
        assert kernels.compiled_enabled(), "the kernels failed to build"
    assert torch.equal(fused[0], eager[0])
    assert torch.equal(fused[1], eager[1])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bf16", "fp16"])
@pytest.mark.parametrize("inclusive", [True, False], ids=["ge", "gt"])
def test_kernels_match_eager_in_half_precision(dtype, inclusive):
    x, window = _inputs(dtype), _window()
    left, right, h_lo, h_hi = window.to(dtype).unbind()
    fns = kernels._compiled()
    assert fns is not None, "the kernels failed to build"
    spike, code = fns["ge" if inclusive else "gt"](x, left, right)
    assert torch.equal(spike, heaviside(x, inclusive=inclusive))
    assert torch.equal(code, region_code(x, left.item(), right.item()))
    up = torch.linspace(0.5, 1.5, x.numel()).to(dtype)
    expected = grad_from_heights(up, code, h_lo.item(), h_hi.item())
    assert torch.equal(fns["grad"](up, code, h_lo, h_hi), expected)


def test_half_precision_stays_eager_on_the_cpu():
    with kernels.compiled(True):
        assert kernels.applies_to(torch.zeros(kernels.MIN_ELEMENTS))
        for dtype in (torch.bfloat16, torch.float16):
            assert not kernels.applies_to(
                torch.zeros(kernels.MIN_ELEMENTS, dtype=dtype)
            )


def test_moving_window_does_not_recompile():
    dynamo.utils.counters.clear()
    x = _inputs(torch.float32)
    with kernels.compiled(True):
        for left in (0.5, 0.3, 0.1):
            _run(x, _window(left=left, right=3 * left), True)
        _run(x[:1234], _window(), True)
    frames = dynamo.utils.counters["stats"]["unique_graphs"]
    assert frames <= 2, frames


def test_small_tensors_stay_eager_and_large_ones_use_the_kernels():
    with kernels.compiled(True):
        assert not kernels.applies_to(torch.zeros(kernels.MIN_ELEMENTS - 1))
        assert kernels.applies_to(torch.zeros(kernels.MIN_ELEMENTS))
        x = torch.linspace(-2, 2, kernels.MIN_ELEMENTS)
        fused = kernels.spike_and_code(
            x, torch.tensor(0.5), torch.tensor(1.5), inclusive=True
        )
        assert fused is not None
        assert (
            kernels.spike_and_code(
                x[:100], torch.tensor(0.5), torch.tensor(1.5), inclusive=True
            )
            is None
        )
    assert not kernels.applies_to(torch.zeros(kernels.MIN_ELEMENTS))


def test_switch_is_scoped():
    kernels.use_compiled(False)
    with kernels.compiled(True):
        assert kernels.compiled_enabled()
    assert not kernels.compiled_enabled()


def test_both_passes_take_the_kernels_for_float32():
    x = torch.linspace(-2, 2, kernels.MIN_ELEMENTS)
    left, right = torch.tensor(0.5), torch.tensor(1.5)
    with kernels.compiled(True):
        fused = kernels.spike_and_code(x, left, right, inclusive=False)
        assert fused is not None
        grad = kernels.grad_from_code(torch.ones_like(x), fused[1], left, right)
        assert grad is not None
    assert grad.dtype == torch.float32
