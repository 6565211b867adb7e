"""surrogate.py: the AdaLi derivative against an independent formula, in float64."""

from __future__ import annotations

import itertools

import pytest
import torch
from conftest import boundary_free_grid, reference_factor, reference_grad

from adali_plugins.surrogate import adali_grad, adali_primitive, adali_spike
from adali_plugins.window import window_at

LAGFREE = ["linear_lagfree", "cosine", "exp", "step"]
PARAM_SETS = {
    "defaults": {"alpha": 0.5, "beta": 0.5, "left": 0.5, "right": 1.5, "p": 0.2},
    "asymmetric": {"alpha": 0.8, "beta": 0.2, "left": 1.0, "right": 0.4, "p": 0.5},
    "wide": {"alpha": 0.3, "beta": 1.1, "left": 2.0, "right": 2.5, "p": 0.05},
}
CASES = list(itertools.product(PARAM_SETS, LAGFREE, ["area", "height"], [0, 3, 7, 9]))


def _window_tensor(params, q, schedule, keep):
    w = window_at(q, schedule=schedule, keep=keep, **params)
    return torch.tensor([w.left, w.right, w.h_lo, w.h_hi], dtype=torch.float64)


@pytest.mark.parametrize(
    ("pset", "schedule", "keep", "epoch"),
    CASES,
    ids=[f"{a}-{b}-{c}-e{d}" for a, b, c, d in CASES],
)
def test_backward_matches_reference(pset, schedule, keep, epoch):
    params = PARAM_SETS[pset]
    q = epoch / 9
    f = reference_factor(q, params["p"], schedule)
    x = boundary_free_grid(2001, [0.0, -params["left"] * f, params["right"] * f])
    x.requires_grad_(True)
    upstream = torch.linspace(0.5, 1.5, x.numel(), dtype=torch.float64)
    adali_spike(x, _window_tensor(params, q, schedule, keep), inclusive=True).backward(
        upstream
    )
    expected = upstream.numpy() * reference_grad(
        x.detach().numpy(), q=q, schedule=schedule, keep=keep, **params
    )
    mismatch = (x.grad.numpy() - expected).__abs__() > 1e-12
    assert not mismatch.any(), (
        f"{mismatch.sum()} mismatches, first at {x[mismatch][:5]}"
    )


@pytest.mark.parametrize("keep", ["area", "height"])
def test_primitive_differentiates_to_grad(keep):
    params = PARAM_SETS["asymmetric"]
    window = _window_tensor(params, 0.4, "cosine", keep)
    left, right, lo, hi = window.unbind()
    x = boundary_free_grid(997, [0.0, -float(left), float(right)], lo=-2, hi=2)
    eps = 1e-7
    fd = (
        adali_primitive(x + eps, left, right, lo, hi)
        - adali_primitive(x - eps, left, right, lo, hi)
    ) / (2 * eps)
    torch.testing.assert_close(
        fd, adali_grad(x, left, right, lo, hi), atol=1e-6, rtol=0
    )


def test_primitive_limits_are_zero_and_area():
    window = _window_tensor(PARAM_SETS["defaults"], 1.0, "linear", "height")
    left, right, lo, hi = window.unbind()
    x = torch.tensor([-10.0, 10.0], dtype=torch.float64)
    out = adali_primitive(x, left, right, lo, hi)
    assert out[0] == 0
    assert out[1] == pytest.approx(0.2)


@pytest.mark.parametrize("inclusive", [True, False], ids=["ge", "gt"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_forward_is_heaviside_in_input_dtype(inclusive, dtype):
    x = torch.tensor([-1.0, -1e-3, 0.0, 1e-3, 2.0], dtype=dtype)
    out = adali_spike(
        x,
        _window_tensor(PARAM_SETS["defaults"], 0, "linear", "area"),
        inclusive=inclusive,
    )
    assert out.dtype == dtype
    expected = [0, 0, 1 if inclusive else 0, 1, 1]
    assert out.tolist() == expected


def test_nan_and_inf_get_zero_gradient():
    x = torch.tensor(
        [float("nan"), float("inf"), -float("inf"), 0.1], requires_grad=True
    )
    window = _window_tensor(PARAM_SETS["defaults"], 0, "linear", "area").float()
    adali_spike(x, window, inclusive=True).sum().backward()
    assert x.grad.tolist() == pytest.approx([0.0, 0.0, 0.0, 1 / 3])


def test_no_grad_input_saves_nothing():
    x = torch.randn(10)
    window = _window_tensor(PARAM_SETS["defaults"], 0, "linear", "area")
    out = adali_spike(x, window, inclusive=True)
    assert out.grad_fn is None
