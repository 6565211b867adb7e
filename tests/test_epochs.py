"""scheduler.py: AdaLiScheduler speaks torch's LR-scheduler API."""

from __future__ import annotations

import math

import pytest
from torch import nn

import adali_plugins as ap
from adali_plugins.state import AdaLiState

snn = pytest.importorskip("snntorch")


def _net(**params):
    net = nn.Sequential(nn.Linear(4, 4), snn.Leaky(beta=0.9, init_hidden=True))
    ap.attach(net, **params, output="adali")
    return net


def _progress(net):
    return [float(m.progress) for m in net.modules() if isinstance(m, AdaLiState)]


def test_per_epoch_steps_follow_the_released_log_law():
    net = _net()
    sched = ap.AdaLiScheduler(net, total_epochs=5)
    expected = [0.0, 0.0] + [math.log(n) / math.log(5) for n in (2, 3, 4)]
    assert _progress(net) == [0.0]
    for epoch in range(1, 5):
        sched.step()
        assert _progress(net) == [pytest.approx(expected[epoch])]


def test_per_epoch_steps_lagfree():
    net = _net(schedule="linear_lagfree")
    sched = ap.AdaLiScheduler(net, total_epochs=5)
    assert _progress(net) == [0.0] and sched.get_last_progress() == 0.0
    for epoch in range(1, 5):
        sched.step()
        assert _progress(net) == [pytest.approx(epoch / 4)]
    sched.step()
    assert _progress(net) == [1.0]


def test_per_iteration_progress_is_a_fractional_epoch():
    net = _net(schedule="linear_lagfree")
    sched = ap.AdaLiScheduler(net, total_epochs=3, steps_per_epoch=10)
    for _ in range(15):
        sched.step()
    assert sched.epoch == 1.5
    assert _progress(net) == [pytest.approx(0.75)]
    log = _net()
    sched = ap.AdaLiScheduler(log, total_epochs=3, steps_per_epoch=10)
    for _ in range(15):
        sched.step()
    assert _progress(log) == [pytest.approx(math.log(1.5) / math.log(3))]


def test_state_dict_resumes_exactly():
    net = _net()
    sched = ap.AdaLiScheduler(net, total_epochs=7, steps_per_epoch=3)
    for _ in range(8):
        sched.step()
    other = _net()
    resumed = ap.AdaLiScheduler(other, total_epochs=1)
    resumed.load_state_dict(sched.state_dict())
    assert _progress(other) == _progress(net)
    sched.step()
    resumed.step()
    assert _progress(other) == _progress(net)
    assert all(not callable(v) for v in sched.state_dict().values())


@pytest.mark.parametrize(
    "bad", [0, -2, 1.5, True], ids=["zero", "negative", "float", "bool"]
)
def test_invalid_steps_per_epoch(bad):
    with pytest.raises(ValueError, match="steps_per_epoch"):
        ap.AdaLiScheduler(_net(), total_epochs=3, steps_per_epoch=bad)


def test_invalid_total_epochs():
    with pytest.raises(ValueError, match="total_epochs"):
        ap.AdaLiScheduler(_net(), total_epochs=0)


def test_model_without_adali():
    with pytest.raises(ap.NoAdaLiError):
        ap.AdaLiScheduler(nn.Linear(2, 2), total_epochs=3)
    sched = ap.AdaLiScheduler(nn.Linear(2, 2), total_epochs=3, strict=False)
    sched.step()
    assert sched.last_epoch == 1 and sched.get_last_progress() == 0.0


def test_failing_schedule_moves_nothing_and_keeps_the_counter():
    def schedule(q):
        if q > 0.6:
            raise ValueError("schedule broke")
        return 1.0 - q

    net = nn.Sequential(
        nn.Linear(4, 4),
        snn.Leaky(beta=0.9, init_hidden=True),
        nn.Linear(4, 4),
        snn.Leaky(beta=0.9, init_hidden=True),
    )
    ap.attach(net, schedule=schedule, output="adali")
    net[3].spike_grad.set_params(schedule="linear_lagfree")
    sched = ap.AdaLiScheduler(net, total_epochs=3)
    sched.step()
    before = _progress(net)
    with pytest.raises(ValueError, match="schedule broke"):
        sched.step()
    assert _progress(net) == before and sched.last_epoch == 1


def test_bad_scheduler_state_changes_nothing():
    net = _net()
    sched = ap.AdaLiScheduler(net, total_epochs=5)
    sched.step()
    sched.step()
    before = (_progress(net), sched.state_dict())
    for bad in (
        {"last_epoch": "3", "total_epochs": 5, "steps_per_epoch": None},
        {"last_epoch": 3, "total_epochs": 0, "steps_per_epoch": None},
        {"last_epoch": 3, "total_epochs": 5, "steps_per_epoch": 0},
        {"last_epoch": 3},
    ):
        with pytest.raises((ValueError, TypeError)):
            sched.load_state_dict(bad)
        assert (_progress(net), sched.state_dict()) == before
