"""Property-based tests (hypothesis) over random parameters, schedules and shapes."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from adali_plugins.surrogate import adali_primitive, adali_spike
from adali_plugins.window import SCHEDULES, AdaLiParams

SETTINGS = settings(
    max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

mass = st.floats(0.0, 3.0, allow_nan=False)
width = st.floats(0.01, 4.0, allow_nan=False)
ratio = st.floats(0.01, 1.0, allow_nan=False)
names = st.sampled_from(sorted(SCHEDULES))
keeps = st.sampled_from(["area", "height"])
progress = st.floats(0.0, 1.0, allow_nan=False)
shapes = st.lists(st.integers(1, 7), min_size=1, max_size=4)


@st.composite
def params(draw):
    a, b = draw(mass), draw(mass)
    if a + b == 0.0:
        a = 0.5
    return AdaLiParams(
        alpha=a,
        beta=b,
        left=draw(width),
        right=draw(width),
        p=draw(ratio),
        schedule=draw(names),
        keep=draw(keeps),
    )


def _window(p: AdaLiParams, q: float) -> torch.Tensor:
    w = p.window(q)
    return torch.tensor([w.left, w.right, w.h_lo, w.h_hi], dtype=torch.float64)


@SETTINGS
@given(params(), progress)
def test_area_is_preserved_with_keep_area(p, q):
    p = p.with_changes(keep="area")
    left, right, lo, hi = _window(p, q).unbind()
    total = adali_primitive(
        torch.tensor([1e9], dtype=torch.float64), left, right, lo, hi
    )
    assert float(total) == pytest.approx(p.alpha + p.beta, rel=1e-9, abs=1e-12)


@pytest.mark.slow
@SETTINGS
@given(params(), progress, shapes, st.integers(0, 2**31 - 1))
def test_zero_gradient_outside_window_and_heaviside_forward(p, q, shape, seed):
    window = _window(p, q)
    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn(shape, generator=gen, dtype=torch.float64) * 3).requires_grad_()
    for inclusive in (True, False):
        out = adali_spike(x, window, inclusive=inclusive)
        assert torch.equal(out, (x >= 0 if inclusive else x > 0).to(x.dtype))
    out.backward(torch.ones_like(out))
    outside = (x.detach() < -window[0]) | (x.detach() > window[1])
    assert (x.grad[outside] == 0).all()
    inside = ~outside
    expected = torch.where(x.detach() < 0, window[2], window[3])
    assert torch.equal(x.grad[inside], expected[inside])


@SETTINGS
@given(params(), st.integers(1, 600), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_window_never_widens_over_epochs(p, total, e1, e2):
    lo, hi = sorted((e1 * total, e2 * total))
    early, late = p.window(p.progress_at(lo, total)), p.window(p.progress_at(hi, total))
    assert late.left <= early.left * (1 + 1e-12)
    assert late.right <= early.right * (1 + 1e-12)
    start = p.window(0.0)
    assert (start.left, start.right) == pytest.approx((p.left, p.right))


@pytest.mark.slow
@SETTINGS
@given(
    params(), progress, st.integers(2, 6), st.integers(2, 6), st.integers(0, 2**31 - 1)
)
def test_contiguous_and_strided_inputs_agree(p, q, rows, cols, seed):
    window = _window(p, q)
    gen = torch.Generator().manual_seed(seed)
    base = torch.randn(rows, cols, generator=gen, dtype=torch.float64) * 2
    a = base.clone().requires_grad_()
    storage = base.t().contiguous().requires_grad_()
    b = storage.t()
    assert not b.is_contiguous()
    up = torch.rand(rows, cols, generator=gen, dtype=torch.float64)
    out_a = adali_spike(a, window, inclusive=True)
    out_b = adali_spike(b, window, inclusive=True)
    assert torch.equal(out_a, out_b)
    out_a.backward(up)
    out_b.backward(up)
    assert torch.equal(a.grad, storage.grad.t())


FIELDS = ["alpha", "beta", "left", "right", "left_final", "right_final", "p"]
FIELDS.append("max_height")
bad_value = st.one_of(
    st.just(math.nan),
    st.just(math.inf),
    st.just(-math.inf),
    st.floats(-1e6, -1e-9),
    st.just(0.0),
)


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from(FIELDS), bad_value)
def test_invalid_values_name_the_argument(field, value):
    assume(not (field in ("alpha", "beta") and value == 0.0))
    with pytest.raises(ValueError, match=field):
        AdaLiParams(**{field: value})


@settings(max_examples=100, deadline=None)
@given(st.floats(1.0000001, 1e6) | st.floats(-1e6, 0.0))
def test_p_outside_unit_interval(value):
    with pytest.raises(ValueError, match="p"):
        AdaLiParams(p=value)


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=12).filter(lambda s: s not in SCHEDULES))
def test_unknown_schedule_names(name):
    with pytest.raises(ValueError, match="schedule"):
        AdaLiParams(schedule=name)
