"""schedule.py: width factors, windows, and parameter validation."""

from __future__ import annotations

import itertools
import math

import pytest
from conftest import reference_factor

from adali_plugins.schedule import (
    SCHEDULES,
    AdaLiParams,
    progress_from_epoch,
    width_factor,
    window_at,
)

NAMES = sorted(SCHEDULES)


@pytest.mark.parametrize("schedule", NAMES, ids=NAMES)
@pytest.mark.parametrize("p", [0.2, 0.5, 1.0], ids=["p0.2", "p0.5", "p1"])
def test_factor_endpoints_and_reference(schedule, p):
    assert width_factor(0.0, p, schedule) == pytest.approx(1.0)
    assert width_factor(1.0, p, schedule) == pytest.approx(p)
    for q in [0.0, 0.1, 0.33, 0.5, 0.9, 1.0]:
        assert width_factor(q, p, schedule) == pytest.approx(
            reference_factor(q, p, schedule), rel=1e-12
        )


@pytest.mark.parametrize("schedule", NAMES, ids=NAMES)
def test_factor_never_widens(schedule):
    qs = [i / 200 for i in range(201)]
    fs = [width_factor(q, 0.2, schedule) for q in qs]
    assert all(b <= a + 1e-15 for a, b in itertools.pairwise(fs))


def test_worked_example_from_spec():
    first = window_at(0.0, **_defaults())
    last = window_at(1.0, **_defaults())
    assert (first.left, first.right) == pytest.approx((0.5, 1.5))
    assert (first.h_lo, first.h_hi) == pytest.approx((1.0, 1 / 3))
    assert (last.left, last.right) == pytest.approx((0.1, 0.3))
    assert (last.h_lo, last.h_hi) == pytest.approx((5.0, 5 / 3))
    assert first.area == pytest.approx(1.0) and last.area == pytest.approx(1.0)


def test_keep_height_shrinks_area_by_factor():
    w = window_at(1.0, **{**_defaults(), "keep": "height"})
    assert (w.h_lo, w.h_hi) == pytest.approx((1.0, 1 / 3))
    assert w.area == pytest.approx(0.2)


def test_callable_schedule():
    w = window_at(0.5, **{**_defaults(), "schedule": lambda q: 1 - 0.5 * q})
    assert w.left == pytest.approx(0.5 * 0.75)


@pytest.mark.parametrize(
    "bad",
    [lambda q: 0.0, lambda q: -1.0, lambda q: math.nan, lambda q: "x"],
    ids=["zero", "negative", "nan", "string"],
)
def test_callable_schedule_bad_value(bad):
    with pytest.raises(ValueError, match="schedule"):
        width_factor(0.5, 0.2, bad)


def test_progress_from_epoch():
    assert progress_from_epoch(0, 5) == 0.0
    assert progress_from_epoch(4, 5) == 1.0
    assert progress_from_epoch(2.5, 6) == pytest.approx(0.5)
    assert progress_from_epoch(0, 1) == 0.0


@pytest.mark.parametrize(
    ("epoch", "total", "match"),
    [(5, 5, "epoch"), (-1, 5, "epoch"), (1, 0, "total_epochs"), (math.inf, 3, "epoch")],
    ids=["past-end", "negative", "no-epochs", "inf"],
)
def test_progress_from_epoch_errors(epoch, total, match):
    with pytest.raises(ValueError, match=match):
        progress_from_epoch(epoch, total)


INVALID = [
    ({"alpha": -0.1}, "alpha"),
    ({"alpha": math.nan}, "alpha"),
    ({"beta": math.inf}, "beta"),
    ({"alpha": 0.0, "beta": 0.0}, "alpha \\+ beta"),
    ({"left": 0.0}, "left"),
    ({"left": -1.0}, "left"),
    ({"right": math.nan}, "right"),
    ({"right": 0}, "right"),
    ({"p": 0.0}, "p"),
    ({"p": 1.5}, "p"),
    ({"p": math.nan}, "p"),
    ({"schedule": "quadratic"}, "schedule"),
    ({"schedule": 3}, "schedule"),
    ({"keep": "mass"}, "keep"),
]


@pytest.mark.parametrize(("kwargs", "name"), INVALID, ids=[f"{k}" for k, _ in INVALID])
def test_invalid_params_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name) as info:
        AdaLiParams(**kwargs)
    assert "must" in str(info.value)


def test_unknown_parameter_is_a_type_error():
    with pytest.raises(TypeError, match="slope"):
        AdaLiParams().with_changes(slope=3)


def test_defaults_match_spec():
    p = AdaLiParams()
    assert (p.alpha, p.beta, p.left, p.right, p.p) == (0.5, 0.5, 0.5, 1.5, 0.2)
    assert (p.schedule, p.keep) == ("linear", "area")


def _defaults():
    p = AdaLiParams()
    return {
        "alpha": p.alpha,
        "beta": p.beta,
        "left": p.left,
        "right": p.right,
        "p": p.p,
        "schedule": p.schedule,
        "keep": p.keep,
    }


def test_max_height_caps_both_heights():
    w = window_at(1.0, **_defaults(), max_height=2.0)
    assert (w.h_lo, w.h_hi) == (2.0, pytest.approx(5 / 3))
    assert (w.left, w.right) == pytest.approx((0.1, 0.3))


@pytest.mark.parametrize(
    "bad", [0.0, -1.0, math.inf, math.nan], ids=["zero", "neg", "inf", "nan"]
)
def test_invalid_max_height(bad):
    with pytest.raises(ValueError, match="max_height"):
        AdaLiParams(max_height=bad)
