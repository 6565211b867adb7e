"""plots.py: PNG files a user can open, drawn from real monitor statistics."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import adali_plugins as ap
from adali_plugins.plots import density, plot_membrane_histograms, plot_window_history

pytest.importorskip("matplotlib")
snn = pytest.importorskip("snntorch")
from snntorch import utils  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def _monitored(scale=2.0):
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(6, 16),
        snn.Leaky(beta=0.9, init_hidden=True),
        nn.Linear(16, 4),
        snn.Leaky(beta=0.9, init_hidden=True),
    )
    ap.attach(net)
    mon = ap.MembraneMonitor(net)
    utils.reset(net)
    for _ in range(4):
        net(torch.randn(32, 6) * scale)
    mon.remove()
    return net, mon


def test_histogram_png(tmp_path):
    _, mon = _monitored()
    out = plot_membrane_histograms(mon, tmp_path / "hist.png")
    data = out.read_bytes()
    assert data.startswith(PNG) and len(data) > 10_000


def test_density_integrates_to_in_range_share():
    _, mon = _monitored(scale=0.5)
    state = mon.state("1")
    in_range = float(state["hist"].sum()) / float(state["count"])
    assert float(density(mon, "1").sum()) * mon.spec.width == pytest.approx(in_range)


def test_window_history_png(tmp_path):
    net, mon = _monitored()
    history = []
    for epoch in range(3):
        ap.set_epoch(net, epoch, 3)
        mon.reset()
        mon.attach()
        utils.reset(net)
        net(torch.randn(32, 6) * 2)
        mon.remove()
        history.append((epoch, mon.summary()))
    widths = [s["1"].window_right for _, s in history]
    assert widths == sorted(widths, reverse=True) and widths[0] > widths[-1]
    out = plot_window_history(history, tmp_path / "window.png")
    assert out.read_bytes().startswith(PNG)


def test_empty_history_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="history is empty"):
        plot_window_history([], tmp_path / "x.png")
