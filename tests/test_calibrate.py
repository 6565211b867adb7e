"""calibrate.py: the mass / window / both rules on crafted and real potentials."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import adali_plugins as ap
from adali_plugins.monitor import MembraneMonitor

snn = pytest.importorskip("snntorch")
from snntorch import utils  # noqa: E402

from adali_plugins.snntorch import adali  # noqa: E402


def passthrough_net(**adali_kw):
    """Leaky with no decay and no reset: x = input - 1 exactly, one layer.

    The window is [-0.5, 1.5] unless ``adali_kw`` says otherwise.
    """
    adali_kw = {"left": 0.5, "right": 1.5, **adali_kw}
    return nn.Sequential(
        snn.Leaky(
            beta=0.0,
            reset_mechanism="none",
            init_hidden=True,
            spike_grad=adali(**adali_kw),
        )
    )


def feed(net, values):
    with MembraneMonitor(net) as mon:
        utils.reset(net)
        net(values + 1.0)
    return mon


def crafted(n_below_in, n_above_in, n_below_out=50, n_above_out=70):
    """Potentials with known counts inside the default window [-0.5, 1.5]."""
    g = torch.Generator().manual_seed(1)
    parts = [
        -0.5 + 0.49 * torch.rand(n_below_in, generator=g),
        1.49 * torch.rand(n_above_in, generator=g),
        -3.0 + 2.0 * torch.rand(n_below_out, generator=g),
        1.6 + torch.rand(n_above_out, generator=g),
    ]
    return torch.cat(parts).reshape(1, -1)


def test_mass_mode_is_the_in_window_share():
    net = passthrough_net()
    mon = feed(net, crafted(300, 100))
    result = ap.calibrate(net, mon, mode="mass")["0"]
    assert result.alpha == pytest.approx(300 / 400)
    assert result.beta == pytest.approx(100 / 400)
    assert (result.n_below, result.n_above) == (300, 100)
    s = net[0].spike_grad
    assert float(s.alpha) == pytest.approx(0.75) and (
        s.params.left,
        s.params.right,
    ) == (0.5, 1.5)


def test_mass_mode_keeps_configured_area_and_clamps():
    net = passthrough_net(alpha=0.3, beta=0.9)
    mon = feed(net, crafted(400, 0))
    result = ap.calibrate(net, mon, mode="mass", min_mass=0.05)["0"]
    assert result.alpha + result.beta == pytest.approx(1.2)
    assert result.alpha == pytest.approx(1.2 * 0.95)


@pytest.mark.parametrize("coverage", [0.6, 0.9])
def test_window_mode_hits_coverage_within_one_bin(coverage):
    net = passthrough_net()
    values = torch.randn(1, 20_000) * 0.8 + 0.2
    mon = feed(net, values)
    result = ap.calibrate(net, mon, mode="window", coverage=coverage)["0"]
    x = values.flatten()
    below, above = -x[x < 0], x[x >= 0]
    width = mon.spec.width
    assert abs(result.left - torch.quantile(below, coverage).item()) <= width
    assert abs(result.right - torch.quantile(above, coverage).item()) <= width
    share_below = (below <= result.left).double().mean().item()
    share_above = (above <= result.right).double().mean().item()
    assert share_below >= coverage and share_above >= coverage
    assert (result.alpha, result.beta) == (0.5, 0.5)


def test_both_mode_sets_window_then_mass():
    net = passthrough_net()
    values = torch.randn(1, 20_000) * 0.8 + 0.2
    result = ap.calibrate(net, feed(net, values), mode="both", coverage=0.8)["0"]
    x = values.flatten()
    n_b = ((x < 0) & (x >= -result.left)).sum().item()
    n_a = ((x >= 0) & (x <= result.right)).sum().item()
    assert result.alpha == pytest.approx(n_b / (n_b + n_a), abs=0.01)


def test_values_travel_in_state_dict():
    net = passthrough_net()
    ap.calibrate(net, feed(net, crafted(300, 100)), mode="mass")
    fresh = passthrough_net()
    fresh.load_state_dict(net.state_dict())
    assert float(fresh[0].spike_grad.alpha) == pytest.approx(0.75)


def test_errors_change_nothing():
    net = nn.Sequential(
        snn.Leaky(
            beta=0.0, reset_mechanism="none", init_hidden=True, spike_grad=adali()
        ),
        snn.Leaky(beta=0.0, reset_mechanism="none", init_hidden=True),
    )
    mon = MembraneMonitor(net)
    utils.reset(net)
    net[0](torch.randn(2, 5))
    mon.remove()
    with pytest.raises(ap.CalibrationError) as info:
        ap.calibrate(net, mon)
    text = str(info.value)
    assert "1: uses" in text and "attach" in text
    empty = MembraneMonitor(net, layers=["0"])
    empty.remove()
    with pytest.raises(ap.CalibrationError, match="no finite membrane potentials"):
        ap.calibrate(net, empty)
    assert float(net[0].spike_grad.alpha) == 0.5
    assert float(net[0].spike_grad.left) == 1.5


def test_shared_instance_is_refused():
    shared = adali()
    net = nn.Sequential(
        snn.Leaky(beta=0.0, init_hidden=True, spike_grad=shared),
        snn.Leaky(beta=0.0, init_hidden=True, spike_grad=shared),
    )
    mon = feed(net, torch.randn(1, 50))
    with pytest.raises(ap.CalibrationError, match="shares its AdaLi instance"):
        ap.calibrate(net, mon)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "median"}, "mode"),
        ({"coverage": 1.0}, "coverage"),
        ({"min_mass": 0.5}, "min_mass"),
    ],
    ids=["mode", "coverage", "min_mass"],
)
def test_invalid_options(kwargs, match):
    net = passthrough_net()
    mon = feed(net, torch.randn(1, 50))
    with pytest.raises(ValueError, match=match):
        ap.calibrate(net, mon, **kwargs)


def test_no_potentials_inside_window_keeps_masses(caplog):
    net = passthrough_net(alpha=0.3, beta=0.7)
    result = ap.calibrate(net, feed(net, torch.full((1, 30), -3.0)), mode="mass")["0"]
    assert (result.alpha, result.beta) == (0.3, 0.7)
    assert "mode='both'" in caplog.text


def test_calibration_is_logged(caplog):
    import logging

    net = passthrough_net()
    with caplog.at_level(logging.INFO, logger="adali_plugins.calibrate"):
        ap.calibrate(net, feed(net, crafted(300, 100)), mode="mass")
    assert "alpha 0.5->0.75" in caplog.text


def test_window_side_without_data_keeps_its_width(caplog):
    net = passthrough_net()
    values = -torch.rand(1, 1000) * 2 - 0.01
    result = ap.calibrate(net, feed(net, values), mode="window", coverage=0.5)["0"]
    assert result.right == 1.5
    assert abs(result.left - 1.0) < 0.05
    assert "no potentials at or above threshold" in caplog.text


def test_layer_with_only_nonfinite_potentials_is_refused():
    net = passthrough_net()
    values = torch.full((1, 40), float("nan"))
    values[0, :10] = float("inf")
    mon = feed(net, values)
    assert mon.summary()["0"].nan == 30 and mon.summary()["0"].inf == 10
    with pytest.raises(ap.CalibrationError, match="no finite membrane potentials"):
        ap.calibrate(net, mon)
    assert float(net[0].spike_grad.alpha) == 0.5


def test_nonfinite_potentials_are_ignored_by_calibration():
    net = passthrough_net()
    values = torch.cat([crafted(300, 100), torch.full((1, 50), float("nan"))], dim=1)
    result = ap.calibrate(net, feed(net, values), mode="mass")["0"]
    assert result.alpha == pytest.approx(0.75)


def test_default_mode_sets_window_and_masses():
    net = passthrough_net()
    result = ap.calibrate(net, feed(net, crafted(300, 100)))["0"]
    other = passthrough_net()
    reference = ap.calibrate(other, feed(other, crafted(300, 100)), mode="both")["0"]
    assert result.mode == "both" and result == reference
    assert result.left != 0.5 and result.alpha != 0.5
    assert float(net[0].spike_grad.left) == pytest.approx(result.left)
