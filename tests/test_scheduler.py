"""scheduler.py: AdaLiScheduler speaks torch's LR-scheduler API."""

from __future__ import annotations

import pytest
from torch import nn

import adali_plugins as ap
from adali_plugins.state import AdaLiState

snn = pytest.importorskip("snntorch")


def _net():
    net = nn.Sequential(nn.Linear(4, 4), snn.Leaky(beta=0.9, init_hidden=True))
    ap.attach(net)
    return net


def _progress(net):
    return [float(m.progress) for m in net.modules() if isinstance(m, AdaLiState)]


def test_per_epoch_steps():
    net = _net()
    sched = ap.AdaLiScheduler(net, total_epochs=5)
    assert _progress(net) == [0.0] and sched.get_last_progress() == 0.0
    for epoch in range(1, 5):
        sched.step()
        assert _progress(net) == [pytest.approx(epoch / 4)]
    sched.step()
    assert _progress(net) == [1.0]


def test_per_iteration_progress_is_a_fractional_epoch():
    net = _net()
    sched = ap.AdaLiScheduler(net, total_epochs=3, steps_per_epoch=10)
    for _ in range(15):
        sched.step()
    assert sched.epoch == 1.5
    assert _progress(net) == [pytest.approx(0.75)]


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
