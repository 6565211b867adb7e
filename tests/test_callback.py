"""callback.py: calibration inside a training loop leaves the model as it found it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import adali_plugins as ap

pytest.importorskip("spikingjelly")
from spikingjelly.activation_based import functional, layer, neuron

from adali_plugins.spikingjelly import AdaLi

T = 4


def conv_net():
    net = nn.Sequential(
        layer.Conv2d(1, 4, 3, padding=1),
        layer.BatchNorm2d(4),
        neuron.LIFNode(surrogate_function=AdaLi()),
        layer.Flatten(),
        layer.Linear(4 * 8 * 8, 10),
        neuron.LIFNode(surrogate_function=AdaLi()),
    )
    functional.set_step_mode(net, "m")
    return net


def forward(model, batch):
    functional.reset_net(model)
    return model(batch[0])


def batches(n=6):
    g = torch.Generator().manual_seed(0)
    return [
        (torch.rand(T, 8, 1, 8, 8, generator=g) * 3, torch.zeros(8)) for _ in range(n)
    ]


def test_calibrate_on_changes_only_adali_values():
    net = conv_net()
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items() if torch.is_tensor(v)}
    results, summary = ap.calibrate_on(
        net, batches(), forward, num_batches=3, mode="both"
    )
    after = net.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed, "calibration changed nothing"
    assert all(".surrogate_function." in k for k in changed), changed
    assert set(results) == {"2", "5"}
    assert summary["2"].count == 3 * T * 8 * 4 * 8 * 8


def test_callback_every_epoch_and_history():
    net = conv_net()
    cb = ap.CalibrationCallback(
        net, forward, batches=2, mode="both", every_epoch=True, time_steps=T
    )
    cb.on_train_start(batches())
    assert cb.on_epoch_start(0, batches()) is None
    assert cb.on_epoch_start(1, batches()) is not None
    assert [h["epoch"] for h in cb.history] == [0, 1]
    assert cb.history[0]["summary"]["2"].step_count == [2 * 8 * 4 * 8 * 8] * T


def test_callback_without_every_epoch_calibrates_once():
    net = conv_net()
    cb = ap.CalibrationCallback(net, forward, batches=1, mode="window")
    cb.on_train_start(batches())
    assert cb.on_epoch_start(3, batches()) is None
    assert len(cb.history) == 1


def test_on_batch_end_steps_a_per_iteration_scheduler():
    net = conv_net()
    sched = ap.AdaLiScheduler(net, total_epochs=3, steps_per_epoch=4)
    cb = ap.CalibrationCallback(net, forward, scheduler=sched)
    for _ in range(6):
        cb.on_batch_end()
    assert sched.epoch == 1.5


def test_empty_batches_is_an_error():
    with pytest.raises(ValueError, match="nothing"):
        ap.calibrate_on(conv_net(), [], forward)
    with pytest.raises(ValueError, match="num_batches"):
        ap.calibrate_on(conv_net(), batches(), forward, num_batches=0)
