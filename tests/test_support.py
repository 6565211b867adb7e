"""support.py: a surrogate's gradient window, checked against closed forms."""

from __future__ import annotations

import math

import pytest

from adali_plugins.support import surrogate_window

STEP = 16 / 16_000


def test_snntorch_atan_window_is_3_over_pi():
    surrogate = pytest.importorskip("snntorch.surrogate")
    left, right = surrogate_window(surrogate.atan(alpha=2.0))
    assert left == pytest.approx(3 / math.pi, abs=STEP)
    assert right == pytest.approx(3 / math.pi, abs=STEP)


def test_spikingjelly_sigmoid_and_rect_windows():
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import surrogate

    s = (1 - math.sqrt(1 - 4 * 0.025)) / 2  # s(1-s) = 0.1 * 1/4, the lower root
    expected = -math.log(s / (1 - s)) / 4.0
    left, right = surrogate_window(surrogate.Sigmoid(alpha=4.0))
    assert left == pytest.approx(expected, abs=STEP) and right == pytest.approx(
        expected, abs=STEP
    )
    if hasattr(surrogate, "Rect"):
        assert surrogate_window(surrogate.Rect(alpha=1.0)) == pytest.approx(
            (0.5, 0.5), abs=STEP
        )


def test_snntorch_sigmoid_overflow_far_from_threshold_is_ignored():
    surrogate = pytest.importorskip("snntorch.surrogate")
    s = (1 - math.sqrt(1 - 4 * 0.025)) / 2
    expected = -math.log(s / (1 - s)) / 25.0
    left, right = surrogate_window(surrogate.sigmoid(slope=25))
    assert left == pytest.approx(expected, abs=STEP)
    assert right == pytest.approx(expected, abs=STEP)


def test_adali_window_is_exact():
    from adali_plugins.snntorch import adali

    g = adali(left=0.3, right=0.9, p=0.5, schedule="linear_lagfree")
    g.set_epoch(1, 2)
    assert surrogate_window(g) == pytest.approx((0.15, 0.45))


def test_flat_and_dead_derivatives():
    import torch

    class Straight(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return (x > 0).to(x.dtype)

        @staticmethod
        def backward(ctx, g):
            return g

    assert surrogate_window(Straight.apply) == (8.0, 8.0)
    assert surrogate_window(lambda x: (x > 0).to(x.dtype) + 0 * x) == (0.0, 0.0)
    with pytest.raises(ValueError, match="fraction"):
        surrogate_window(Straight.apply, fraction=1.5)
