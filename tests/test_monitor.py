"""monitor.py: exact per-layer statistics on real neurons of both hosts, no trace."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import adali_plugins as ap
from adali_plugins.monitor import MembraneMonitor, _Probe

snn = pytest.importorskip("snntorch")
pytest.importorskip("spikingjelly")
from snntorch import utils  # noqa: E402
from spikingjelly.activation_based import functional, layer, neuron  # noqa: E402

T, B = 5, 6


def snn_net(init_hidden=True, reset_delay=True):
    kw = {"beta": 0.8, "init_hidden": init_hidden, "reset_delay": reset_delay}
    return nn.Sequential(
        nn.Linear(7, 9), snn.Leaky(**kw), nn.Linear(9, 4), snn.Leaky(**kw, output=True)
    )


def run_snn(net, x, init_hidden=True):
    utils.reset(net)
    if init_hidden:
        for t in range(x.shape[0]):
            net(x[t])
        return None
    mems = [torch.zeros(0), torch.zeros(0)]
    recorded = [[], []]
    for t in range(x.shape[0]):
        h = net[0](x[t])
        spk, mems[0] = net[1](h, mems[0] if t else None)
        recorded[0].append(mems[0] - 1.0)
        spk, mems[1] = net[3](net[2](spk), mems[1] if t else None)
        recorded[1].append(mems[1] - 1.0)
    return [torch.stack(r) for r in recorded]


def sj_net(step_mode, surrogate=None):
    kw = {} if surrogate is None else {"surrogate_function": surrogate}
    net = nn.Sequential(
        layer.Linear(7, 9),
        neuron.LIFNode(**kw),
        layer.Linear(9, 4),
        neuron.LIFNode(**kw),
    )
    functional.set_step_mode(net, step_mode)
    return net


def run_sj(net, x, step_mode):
    functional.reset_net(net)
    return net(x) if step_mode == "m" else torch.stack([net(xt) for xt in x])


def sj_reference_potentials(net, x):
    """Pre-reset x = h - 1 of both LIF layers, by hand (tau=2, hard reset to 0)."""
    out, inp = [], x
    for lin in (net[0], net[2]):
        v = torch.zeros(inp.shape[1], lin.out_features)
        hs, spikes = [], []
        for t in range(inp.shape[0]):
            h = v + (lin(inp[t]) - v) / 2.0
            s = (h >= 1.0).float()
            v = h * (1 - s)
            hs.append(h - 1.0)
            spikes.append(s)
        out.append(torch.stack(hs))
        inp = torch.stack(spikes)
    return out


@pytest.mark.parametrize(
    "init_hidden", [True, False], ids=["init_hidden", "explicit_mem"]
)
@pytest.mark.parametrize("attach", [False, True], ids=["atan", "adali"])
def test_snntorch_counts_are_exact(init_hidden, attach):
    torch.manual_seed(0)
    net = snn_net(init_hidden)
    if attach:
        ap.attach(net)
    x = torch.randn(T, B, 7) * 2
    with MembraneMonitor(net, time_steps=T) as mon:
        reference = run_snn(net, x, init_hidden)
    s = mon.summary()
    assert [r.count for r in s] == [T * B * 9, T * B * 4]
    assert s["1"].step_count == [B * 9] * T
    if reference is not None:
        for row, ref in zip(s, reference, strict=True):
            assert row.mean == pytest.approx(ref.mean().item(), rel=1e-5, abs=1e-6)
            assert row.std == pytest.approx(ref.std(unbiased=False).item(), rel=1e-4)
            assert row.min == pytest.approx(ref.min().item())


def test_snntorch_reset_delay_false_still_pre_reset():
    torch.manual_seed(0)
    net = snn_net(init_hidden=False, reset_delay=False)
    x = torch.randn(1, B, 7) * 3
    with MembraneMonitor(net) as mon:
        utils.reset(net)
        h = net[0](x[0])
        net[1](h)
    # one step from rest: pre-reset potential is the input itself
    assert mon.summary()["1"].mean == pytest.approx((h - 1.0).mean().item(), rel=1e-6)


@pytest.mark.parametrize("step_mode", ["s", "m"])
@pytest.mark.parametrize("surrogate", ["builtin", "adali"])
def test_spikingjelly_counts_and_values_are_exact(step_mode, surrogate):
    torch.manual_seed(0)
    net = sj_net(step_mode)
    if surrogate == "adali":
        ap.attach(net)
    x = torch.randn(T, B, 7) * 2
    with MembraneMonitor(net, time_steps=T) as mon:
        spikes = run_sj(net, x, step_mode)
    s = mon.summary()
    assert [r.count for r in s] == [T * B * 9, T * B * 4]
    for row, ref in zip(s, sj_reference_potentials(net, x), strict=True):
        assert row.mean == pytest.approx(ref.mean().item(), rel=1e-5, abs=1e-6)
        assert row.std == pytest.approx(ref.std(unbiased=False).item(), rel=1e-4)
        assert row.max == pytest.approx(ref.max().item(), rel=1e-6)
    functional.reset_net(net)
    assert torch.equal(run_sj(net, x, step_mode), spikes)


def test_shared_builtin_instance_gets_per_layer_statistics():
    net = sj_net("m")
    assert net[1].surrogate_function is net[3].surrogate_function
    with MembraneMonitor(net) as mon:
        run_sj(net, torch.randn(T, B, 7), "m")
    assert [r.count for r in mon.summary()] == [T * B * 9, T * B * 4]


@pytest.mark.parametrize("host", ["snntorch", "spikingjelly"])
def test_no_trace_after_exit(host):
    net = snn_net() if host == "snntorch" else sj_net("m")
    ap.attach(net)
    keys = list(net.state_dict())
    dicts = [dict(m.__dict__) for m in net.modules()]
    children = [dict(m._modules) for m in net.modules()]
    with MembraneMonitor(net) as mon:
        assert any(
            isinstance(v, _Probe) for m in net.modules() for v in m.__dict__.values()
        )
        assert list(net.state_dict()) == keys
    assert not mon.active
    assert [dict(m.__dict__) for m in net.modules()] == dicts
    assert [dict(m._modules) for m in net.modules()] == children
    assert not any(
        isinstance(v, _Probe) for m in net.modules() for v in m.__dict__.values()
    )
    mon.remove()


def test_double_monitor_refused_and_resume_after_remove():
    net = sj_net("m")
    mon = MembraneMonitor(net)
    with pytest.raises(RuntimeError, match="already watched"):
        MembraneMonitor(net)
    mon.remove()
    other = MembraneMonitor(net)
    other.remove()
    mon.attach()
    run_sj(net, torch.randn(T, B, 7), "m")
    mon.remove()
    assert mon.summary()["1"].count == T * B * 9


def test_reset_and_exports(tmp_path):
    net = sj_net("m")
    with MembraneMonitor(net, time_steps=T) as mon:
        run_sj(net, torch.randn(T, B, 7), "m")
        summary = mon.summary()
        summary.to_csv(tmp_path / "s.csv")
        summary.to_json(tmp_path / "s.json")
        mon.reset()
        assert mon.summary()["1"].count == 0
    rows = json.loads((tmp_path / "s.json").read_text())
    assert [r["layer"] for r in rows] == ["1", "3"] and rows[0]["count"] == T * B * 9
    header = (tmp_path / "s.csv").read_text().splitlines()[0].split(",")
    assert {"layer", "neuron", "count", "mean", "std", "in_window", "q50"} <= set(
        header
    )
    assert "1" in str(summary) and "LIFNode" in str(summary)


def test_nonfinite_counted_and_warned_once(caplog):
    net = snn_net(init_hidden=True)
    with MembraneMonitor(net) as mon:
        utils.reset(net)
        x = torch.randn(B, 7)
        x[0, 0] = float("nan")
        net(x)
    s = mon.summary()
    assert s["1"].nan == 9 and s["1"].count == B * 9 - 9
    assert "non-finite" in caplog.text
    caplog.clear()
    mon.summary()
    assert "non-finite" not in caplog.text


def test_in_window_share_uses_the_layer_window():
    net = snn_net(init_hidden=False)
    ap.attach(net, left=1.0, right=1.0, p=1.0)
    with MembraneMonitor(net) as mon:
        utils.reset(net)
        h = net[0](torch.randn(B, 7) * 3)
        net[1](h)
    x = h.detach() - 1.0
    row = mon.summary()["1"]
    assert (row.window_left, row.window_right) == (1.0, 1.0)
    assert row.in_window == pytest.approx(((x >= -1) & (x <= 1)).float().mean().item())


def test_errors():
    with pytest.raises(ap.NoSpikingLayerError):
        MembraneMonitor(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="not spiking layers"):
        MembraneMonitor(sj_net("m"), layers=["0"])
    with pytest.raises(ValueError, match="time_steps"):
        MembraneMonitor(sj_net("m"), time_steps=0)


@pytest.mark.parametrize("host", ["snntorch", "spikingjelly"])
def test_gradient_norms_at_the_spike_function(host):
    torch.manual_seed(0)
    net = snn_net(init_hidden=False) if host == "snntorch" else sj_net("s")
    ap.attach(net, max_height=None)
    x = (torch.randn(1, B, 7) * 2).requires_grad_()
    with MembraneMonitor(net, grad_norms=True) as mon:
        if host == "snntorch":
            utils.reset(net)
            h = net[0](x[0])
            spk, _ = net[1](h)
        else:
            functional.reset_net(net)
            h = net[0](x[0])
            spk = net[1](h)
        upstream = torch.randn_like(spk)
        spk.backward(upstream)
    row = mon.summary()["1"]
    surrogate = mon.surrogate_of("1")
    xs = (h if host == "snntorch" else h / 2.0).detach() - 1.0
    left, right, lo, hi = surrogate.window.float().tolist()
    g = torch.where(xs < 0, (xs >= -left).float() * lo, (xs <= right).float() * hi)
    expected = (upstream * g).norm().item()
    assert row.grad_norm_mean == pytest.approx(expected, rel=1e-5)
    assert row.grad_norm_max == pytest.approx(expected, rel=1e-5)
    assert mon.summary()["3"].grad_norm_mean is None


@pytest.mark.parametrize("step_mode", ["s", "m"])
def test_eval_mode_is_monitored_on_every_host_version(step_mode):
    net = sj_net(step_mode)
    ap.attach(net)
    net.eval()
    x = torch.randn(T, B, 7) * 2
    with torch.no_grad(), MembraneMonitor(net) as mon:
        spikes = run_sj(net, x, step_mode)
    assert [r.count for r in mon.summary()] == [T * B * 9, T * B * 4]
    assert not net[1].training
    functional.reset_net(net)
    assert torch.equal(run_sj(net, x, step_mode), spikes)
