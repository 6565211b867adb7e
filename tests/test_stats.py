"""stats.py: streaming statistics equal torch's / numpy's on the same values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from adali_plugins.stats import (
    HistogramSpec,
    counts_in_window,
    empty_state,
    histogram_quantile,
    merged,
    side_quantile,
    summarize,
    update,
)

SPEC = HistogramSpec(-4.0, 4.0, 200)


def _state_of(*chunks, left=0.5, right=1.5, spec=SPEC):
    state = empty_state(spec)
    for c in chunks:
        update(state, c, left=left, right=right, spec=spec)
    return state


def _summary(state, spec=SPEC):
    return summarize(
        state,
        spec,
        layer="l",
        neuron="n",
        surrogate="s",
        window_left=0.5,
        window_right=1.5,
    )


def test_moments_and_extremes_match_torch():
    x = torch.randn(10_000, dtype=torch.float64) * 1.3 - 0.4
    s = _summary(_state_of(x[:3000], x[3000:]))
    assert s.count == x.numel()
    assert s.mean == pytest.approx(x.mean().item(), rel=1e-12)
    assert s.std == pytest.approx(x.std(unbiased=False).item(), rel=1e-9)
    assert (s.min, s.max) == (x.min().item(), x.max().item())


def test_histogram_matches_numpy():
    x = torch.randn(20_000) * 2.5
    state = _state_of(x)
    edges = SPEC.edges().numpy()
    expected, _ = np.histogram(x.numpy(), bins=edges)
    # numpy's last bin is closed on the right; ours is [lo, hi) with hi in "over"
    expected[-1] -= int((x.numpy() == SPEC.hi).sum())
    assert state["hist"].tolist() == expected.tolist()
    assert int(state["under"]) == int((x < SPEC.lo).sum())
    assert int(state["over"]) == int((x >= SPEC.hi).sum())


@pytest.mark.parametrize("q", [0.05, 0.25, 0.5, 0.9, 0.99])
def test_quantiles_within_one_bin(q):
    x = torch.randn(50_000, dtype=torch.float64)
    got = histogram_quantile(_state_of(x), SPEC, q)
    assert abs(got - torch.quantile(x, q).item()) <= SPEC.width


def test_nonfinite_are_counted_apart():
    x = torch.tensor([0.1, math.nan, math.inf, -math.inf, -0.2, math.nan])
    state = _state_of(x)
    s = _summary(state)
    assert (s.count, s.nan, s.inf) == (2, 2, 2)
    assert s.mean == pytest.approx(-0.05)
    assert int(state["window"].sum()) == 4
    assert state["window"].tolist() == [1, 1, 1, 1]


def test_window_counts_match_direct_computation():
    x = torch.randn(5000) * 2
    left, right = 0.7, 1.1
    state = _state_of(x, left=left, right=right)
    direct = [
        int((x < -left).sum()),
        int(((x >= -left) & (x < 0)).sum()),
        int(((x >= 0) & (x <= right)).sum()),
        int((x > right).sum()),
    ]
    assert state["window"].tolist() == direct


def test_merge_equals_one_pass():
    x = torch.randn(7000)
    whole = _state_of(x)
    parts = merged([_state_of(x[:2000]), _state_of(x[2000:5000]), _state_of(x[5000:])])
    for key in whole:
        torch.testing.assert_close(parts[key], whole[key], rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("coverage", [0.5, 0.8, 0.95])
@pytest.mark.parametrize("side", ["below", "above"])
def test_side_quantile_hits_coverage_within_one_bin(side, coverage):
    x = torch.randn(40_000, dtype=torch.float64) * 1.2 + 0.3
    dist, clipped = side_quantile(_state_of(x), SPEC, side=side, coverage=coverage)
    values = -x[x < 0] if side == "below" else x[x >= 0]
    assert not clipped
    assert abs(dist - torch.quantile(values, coverage).item()) <= SPEC.width


def test_side_quantile_reports_clipping():
    x = torch.cat([torch.full((100,), -10.0), torch.full((10,), 1.0)])
    dist, clipped = side_quantile(_state_of(x), SPEC, side="below", coverage=0.5)
    assert clipped and dist == 4.0


def test_counts_in_window_from_histogram():
    x = torch.rand(10_000) * 8 - 4
    n_below, n_above = counts_in_window(_state_of(x), SPEC, left=1.0, right=2.0)
    assert n_below == pytest.approx(int(((x >= -1) & (x < 0)).sum()), abs=1)
    assert n_above == pytest.approx(int(((x >= 0) & (x <= 2)).sum()), abs=1)


@pytest.mark.parametrize(
    ("lo", "hi", "bins", "match"),
    [(0.0, 4.0, 10, "lo < 0 < hi"), (-1.0, 2.0, 4, "bin edge"), (-1.0, 1.0, 1, "bins")],
    ids=["zero-not-inside", "zero-not-edge", "too-few-bins"],
)
def test_histogram_spec_validation(lo, hi, bins, match):
    with pytest.raises(ValueError, match=match):
        HistogramSpec(lo, hi, bins)
