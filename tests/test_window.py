"""schedule.py: the released window laws, our lag-free shapes, and validation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from conftest import reference_factor

from adali_plugins.window import (
    DEFAULTS,
    SCHEDULES,
    AdaLiParams,
    progress_from_epoch,
    window_at,
)

RELEASED = ["log", "linear", "sqrt"]
LAGFREE = ["linear_lagfree", "cosine", "exp", "step"]


class ReleasedLoop:
    """The released training loop's window, replayed as its code runs it.

    ``paran-ia/AdaLi`` keeps the widths in a global config that ``train.py``
    updates after each epoch with ``handleConfig(adaptive, epoch + 1)``; the
    first call only stores the law's constants. Restated here from the
    formulas in the issue, with numpy, independently of ``schedule.py``.
    """

    def __init__(self, law: str, total: int, w0=(1.5, 1.5), wmin=(0.3, 0.3)):
        self.law, self.total = law, total
        self.w0, self.wmin = w0, wmin
        self.width = list(w0)
        self.consts: list[tuple[float, float]] = []

    def after_epoch(self, index: int) -> None:
        """What ``handleConfig(law, index)`` does to the widths."""
        e = self.total
        if index == 1:
            for w0, wmin in zip(self.w0, self.wmin, strict=True):
                if self.law == "log":
                    k, b = w0, np.log(wmin / w0) / np.log(e) if e > 1 else 0.0
                elif self.law == "linear":
                    k = (wmin - w0) / (e - 1) if e > 1 else 0.0
                    b = w0 - k
                else:
                    k = (wmin - w0) / np.sqrt(e - 1) if e > 1 else 0.0
                    b = w0 - k
                self.consts.append((k, b))
            return
        for side, (k, b) in enumerate(self.consts):
            if self.law == "log":
                self.width[side] = k * np.exp(b * np.log(index))
            elif self.law == "linear":
                self.width[side] = k * index + b
            else:
                self.width[side] = k * np.sqrt(index) + b


@pytest.mark.parametrize("total", [1, 2, 10, 500])
@pytest.mark.parametrize("law", RELEASED)
def test_released_loop_replayed_every_epoch(law, total):
    loop = ReleasedLoop(law, total)
    params = AdaLiParams(schedule=law)
    for k in range(total):
        w = params.window(params.progress_at(k, total))
        assert (w.left, w.right) == pytest.approx(tuple(loop.width), rel=1e-12), k
        assert (w.h_lo, w.h_hi) == pytest.approx(
            (0.5 / loop.width[0], 0.5 / loop.width[1]), rel=1e-12
        )
        loop.after_epoch(k + 1)


@pytest.mark.parametrize("law", RELEASED)
def test_released_loop_with_asymmetric_custom_widths(law):
    loop = ReleasedLoop(law, 20, w0=(1.0, 2.0), wmin=(0.2, 0.5))
    params = AdaLiParams(
        left=1.0, right=2.0, left_final=0.2, right_final=0.5, schedule=law
    )
    for k in range(20):
        w = params.window(params.progress_at(k, 20))
        assert (w.left, w.right) == pytest.approx(tuple(loop.width), rel=1e-12)
        loop.after_epoch(k + 1)


def test_log_at_the_issue_figures():
    # E = 500: epochs 0 and 1 at 1.5; epoch k >= 1 at 1.5 * 0.2 ** (ln k / ln 500).
    p = AdaLiParams()
    for k, width in [
        (0, 1.5),
        (1, 1.5),
        (2, 1.5 * 0.2 ** (math.log(2) / math.log(500))),
    ]:
        assert p.window(p.progress_at(k, 500)).left == pytest.approx(width)
    assert p.window(p.progress_at(499, 500)).left > 0.3
    assert p.window(p.progress_at(500, 500)).left == pytest.approx(0.3)


@pytest.mark.parametrize("law", RELEASED)
def test_fractional_epochs_use_the_same_formula(law):
    p = AdaLiParams(schedule=law)
    e = 10
    for k in [0.0, 0.5, 1.0, 1.25, 3.5, 9.75]:
        n = max(k, 1.0)
        expected = {
            "log": 1.5 * 0.2 ** (math.log(n) / math.log(e)),
            "linear": 1.5 + (0.3 - 1.5) * (n - 1) / (e - 1),
            "sqrt": 1.5 + (0.3 - 1.5) * (math.sqrt(n) - 1) / math.sqrt(e - 1),
        }[law]
        assert p.window(p.progress_at(k, e)).right == pytest.approx(expected)


def test_sqrt_never_reaches_its_final_width():
    p = AdaLiParams(schedule="sqrt")
    assert p.window(p.progress_at(99, 100)).left > 0.3 + 1e-3


def test_fixed_keeps_the_initial_window():
    p = AdaLiParams(schedule="fixed", left=0.25, right=0.25)
    for k in range(5):
        w = p.window(p.progress_at(k, 5))
        assert (w.left, w.right, w.h_lo) == (0.25, 0.25, 2.0)


@pytest.mark.parametrize("schedule", LAGFREE)
@pytest.mark.parametrize("p", [0.2, 0.5, 1.0], ids=["p0.2", "p0.5", "p1"])
def test_lagfree_shapes_against_reference(schedule, p):
    params = AdaLiParams(left=0.5, right=1.5, p=p, schedule=schedule)
    for q in [0.0, 0.1, 0.33, 0.5, 0.9, 1.0]:
        f = reference_factor(q, p, schedule)
        w = params.window(q)
        assert (w.left, w.right) == pytest.approx((0.5 * f, 1.5 * f), rel=1e-12)


@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_windows_never_widen_over_training(schedule):
    p = AdaLiParams(schedule=schedule)
    widths = [p.window(p.progress_at(k / 4, 30)).left for k in range(121)]
    assert all(b <= a + 1e-15 for a, b in itertools.pairwise(widths))


def test_lagfree_progress_is_the_old_indexing():
    assert progress_from_epoch(0, 5, "linear_lagfree") == 0.0
    assert progress_from_epoch(4, 5, "linear_lagfree") == 1.0
    assert progress_from_epoch(2.5, 6, "cosine") == pytest.approx(0.5)
    assert progress_from_epoch(0, 1, "exp") == 0.0


@pytest.mark.parametrize(
    ("epoch", "total", "match", "error"),
    [
        (6, 5, "epoch", ValueError),
        (-1, 5, "epoch", ValueError),
        (1, 0, "total_epochs", ValueError),
        (math.inf, 3, "epoch", ValueError),
        (1, 2.0, "total_epochs", TypeError),
    ],
    ids=["past-end", "negative", "no-epochs", "inf", "float-total"],
)
def test_progress_from_epoch_errors(epoch, total, match, error):
    with pytest.raises(error, match=match):
        progress_from_epoch(epoch, total)


def test_final_widths_absolute_ratio_and_default():
    assert AdaLiParams(left=1.0).final_widths == (0.3, 0.3)
    assert AdaLiParams(left=1.0, p=0.5).final_widths == (0.5, 0.75)
    both = AdaLiParams(left=1.0, p=0.5, left_final=0.1)
    assert both.final_widths == (0.1, 0.75)  # the absolute width wins
    changed = AdaLiParams(left_final=0.2).with_changes(p=0.4)
    assert changed.final_widths == pytest.approx((0.6, 0.6))


def test_keep_height_shrinks_area():
    p = AdaLiParams(keep="height")
    w = p.window(1.0)
    assert (w.h_lo, w.h_hi) == pytest.approx((1 / 3, 1 / 3))
    assert w.area == pytest.approx(0.2)
    assert AdaLiParams().window(1.0).area == pytest.approx(1.0)


def test_callable_schedule():
    w = window_at(0.5, left=0.5, schedule=lambda q: 1 - 0.5 * q)
    assert w.left == pytest.approx(0.5 * 0.75)
    assert progress_from_epoch(2, 5, lambda q: 1.0) == 0.5


@pytest.mark.parametrize(
    "bad",
    [lambda q: 0.0, lambda q: -1.0, lambda q: math.nan, lambda q: "x"],
    ids=["zero", "negative", "nan", "string"],
)
def test_callable_schedule_bad_value(bad):
    with pytest.raises(ValueError, match="schedule"):
        AdaLiParams(schedule=bad).window(0.5)


INVALID = [
    ({"alpha": -0.1}, "alpha", ValueError),
    ({"alpha": math.nan}, "alpha", ValueError),
    ({"beta": math.inf}, "beta", ValueError),
    ({"alpha": 0.0, "beta": 0.0}, "alpha \\+ beta", ValueError),
    ({"left": 0.0}, "left", ValueError),
    ({"left": -1.0}, "left", ValueError),
    ({"right": math.nan}, "right", ValueError),
    ({"right": 0}, "right", ValueError),
    ({"left_final": 0.0}, "left_final", ValueError),
    ({"p": 0.0}, "p", ValueError),
    ({"p": 1.5}, "p", ValueError),
    ({"p": math.nan}, "p", ValueError),
    ({"schedule": "quadratic"}, "schedule", ValueError),
    ({"schedule": 3}, "schedule", ValueError),
    ({"keep": "mass"}, "keep", ValueError),
    ({"alpha": 1e300, "left": 1e-10}, "height", ValueError),
    ({"alpha": "0.7"}, "alpha", TypeError),
    ({"alpha": True}, "alpha", TypeError),
    ({"left": None}, "left", TypeError),
]


@pytest.mark.parametrize(
    ("kwargs", "name", "error"), INVALID, ids=[f"{k}" for k, _, _ in INVALID]
)
def test_invalid_params_name_the_argument(kwargs, name, error):
    with pytest.raises(error, match=name) as info:
        AdaLiParams(**kwargs)
    assert "must" in str(info.value)


def test_unknown_parameter_is_a_type_error():
    with pytest.raises(TypeError, match="slope"):
        AdaLiParams().with_changes(slope=3)


def test_defaults_are_the_released_code():
    p = AdaLiParams()
    assert (p.alpha, p.beta, p.left, p.right) == (0.5, 0.5, 1.5, 1.5)
    assert p.final_widths == (0.3, 0.3)
    assert (p.schedule, p.keep, p.p, p.max_height) == ("log", "area", None, None)
    assert p == DEFAULTS


def test_max_height_caps_both_heights():
    w = AdaLiParams(max_height=1.5).window(1.0)
    assert (w.h_lo, w.h_hi) == (1.5, 1.5)
    assert (w.left, w.right) == pytest.approx((0.3, 0.3))


@pytest.mark.parametrize(
    "bad", [0.0, -1.0, math.inf, math.nan], ids=["zero", "neg", "inf", "nan"]
)
def test_invalid_max_height(bad):
    with pytest.raises(ValueError, match="max_height"):
        AdaLiParams(max_height=bad)
