"""AdaLi's state must not get in the user's way: strict loads, tensor-only saves,
all-or-nothing loads, and calibration that covers silent layers."""

from __future__ import annotations

import logging
import math

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

import adali_plugins as ap
from adali_plugins.monitor import MembraneMonitor
from adali_plugins.state import (
    AdaLiState,
    AdaLiStateError,
    TorchScriptUnsupportedError,
)

snn = pytest.importorskip("snntorch")
sj = pytest.importorskip("spikingjelly.activation_based")
from snntorch import utils  # noqa: E402
from spikingjelly.activation_based import functional, layer, neuron  # noqa: E402

from adali_plugins.snntorch import adali  # noqa: E402
from adali_plugins.spikingjelly import AdaLi  # noqa: E402


def snn_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(2, 3),
        snn.Leaky(beta=0.9, init_hidden=True),
        nn.Linear(3, 2),
        snn.Leaky(beta=0.9, init_hidden=True),
    )


def sj_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        layer.Linear(2, 3, step_mode="m"),
        neuron.LIFNode(step_mode="m"),
        layer.Linear(3, 2, step_mode="m"),
        neuron.LIFNode(step_mode="m"),
    )


NETS = {"snntorch": snn_net, "spikingjelly": sj_net}


def _layers(net):
    return [m for m in net.modules() if isinstance(m, AdaLiState)]


def _moved(net):
    ap.attach(net, output="adali")
    ap.set_epoch(net, 7, 10)
    _layers(net)[0].set_params(alpha=0.3, beta=0.7)
    return net


def test_issue_repro_plain_checkpoint_into_attached_model():
    m = nn.Sequential(nn.Linear(2, 2), snn.Leaky(beta=0.9, init_hidden=True))
    sd = m.state_dict()
    ap.attach(m, output="adali")
    assert m.load_state_dict(sd) is not None  # strict=True, no Missing key(s)


@pytest.mark.parametrize("host", NETS)
def test_plain_checkpoint_loads_strictly_and_adali_keeps_its_values(host, caplog):
    plain = NETS[host]()
    with torch.no_grad():
        plain[0].weight.fill_(0.25)
    sd = plain.state_dict()
    net = _moved(NETS[host]())
    before = [s.current_window() for s in _layers(net)]
    with caplog.at_level(logging.DEBUG, logger="adali_plugins.state"):
        result = net.load_state_dict(sd, strict=True)
    assert (result.missing_keys, result.unexpected_keys) == ([], [])
    assert torch.equal(net[0].weight, sd["0.weight"])
    assert [s.current_window() for s in _layers(net)] == before
    assert "no AdaLi entries" in caplog.text


@pytest.mark.parametrize("host", NETS)
def test_adali_checkpoint_into_plain_model(host):
    net = _moved(NETS[host]())
    sd = net.state_dict()
    plain = NETS[host]()
    with pytest.raises(RuntimeError, match="Unexpected key"):
        plain.load_state_dict(sd)
    plain.load_state_dict(ap.strip_adali(sd))  # the documented one-liner
    assert torch.equal(plain[2].weight, net[2].weight)
    # or: restore() first, load, attach again
    other = NETS[host]()
    handle = ap.attach(other, output="adali")
    other.load_state_dict(sd)
    handle.restore()
    assert not _layers(other)


@pytest.mark.parametrize("host", NETS)
def test_every_entry_is_a_tensor_and_survives_clone_and_safetensors(host, tmp_path):
    net = _moved(NETS[host]())
    sd = net.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in sd.values())
    cloned = {k: v.clone() for k, v in sd.items()}
    path = tmp_path / "model.safetensors"
    save_file(cloned, str(path))
    fresh = NETS[host]()
    ap.attach(fresh, output="adali")
    fresh.load_state_dict(load_file(str(path)))
    assert [s.current_window() for s in _layers(fresh)] == [
        s.current_window() for s in _layers(net)
    ]
    assert [s.params for s in _layers(fresh)] == [s.params for s in _layers(net)]


def test_callable_schedule_still_refused_with_a_clear_error():
    net = snn_net()
    ap.attach(net, schedule=lambda q: 1 - 0.5 * q, output="adali")
    sd = net.state_dict()
    assert int(sd["1.spike_grad.schedule_code"]) == -1
    fresh = snn_net()
    ap.attach(fresh, output="adali")
    with pytest.raises(ValueError, match="callable schedule"):
        fresh.load_state_dict(sd)


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("3.spike_grad.alpha", math.nan, "alpha"),
        ("3.spike_grad.schedule_code", 99, "schedule_code"),
        ("3.spike_grad.keep_code", 5, "keep_code"),
        ("3.spike_grad.progress", 2.0, "progress"),
        ("3.spike_grad.left", 1e-320, "height"),
    ],
    ids=["nan-alpha", "schedule", "keep", "progress", "tiny-width"],
)
def test_invalid_last_layer_changes_no_layer(key, value, match):
    source = _moved(snn_net())
    sd = source.state_dict()
    sd[key] = torch.tensor(value, dtype=sd[key].dtype)
    target = snn_net()
    ap.attach(target, output="adali")
    before = [(s.params, float(s.progress)) for s in _layers(target)]
    with pytest.raises(AdaLiStateError, match=match) as info:
        target.load_state_dict(sd)
    assert "no AdaLi layer was changed" in str(info.value)
    assert [(s.params, float(s.progress)) for s in _layers(target)] == before


def test_checkpoint_from_before_tensor_codes_still_loads():
    net = snn_net()
    ap.attach(net, output="adali")
    sd = net.state_dict()
    for prefix in ("1.spike_grad.", "3.spike_grad."):
        for key in ("schedule_code", "keep_code", "left_final", "right_final"):
            del sd[prefix + key]
        sd[prefix + "p"] = torch.tensor(0.2, dtype=torch.float64)
        sd[prefix + "_extra_state"] = {"schedule": "linear", "keep": "height"}
    fresh = snn_net()
    ap.attach(fresh, output="adali")
    result = fresh.load_state_dict(sd)
    assert result.unexpected_keys == []
    for s in _layers(fresh):
        # 0.1's "linear" was the lag-free linear ramp to p * initial width
        assert (s.schedule, s.keep) == ("linear_lagfree", "height")
        assert s.params.final_widths == pytest.approx((0.3, 0.3))


# --- calibration coverage, exact on constructed distributions ---------------


def passthrough(values: torch.Tensor, **kw) -> tuple[nn.Module, MembraneMonitor]:
    """One Leaky layer with x = input - 1 exactly; monitored on ``values``."""
    net = nn.Sequential(
        snn.Leaky(
            beta=0.0, reset_mechanism="none", init_hidden=True, spike_grad=adali(**kw)
        )
    )
    with MembraneMonitor(net) as mon:
        utils.reset(net)
        net(values.reshape(1, -1) + 1.0)
    return net, mon


def _coverage(x: torch.Tensor, left: float, right: float) -> tuple[float, float]:
    below, above = x[x < 0], x[x >= 0]
    share = [
        float((below >= -left).double().mean()) if below.numel() else 1.0,
        float((above <= right).double().mean()) if above.numel() else 1.0,
    ]
    return share[0], share[1]


DISTRIBUTIONS = {
    "at-rest": lambda: torch.full((4000,), -1.0),
    "at-threshold": lambda: torch.zeros(4000),
    "rest-and-threshold": lambda: torch.cat(
        [torch.full((3000,), -1.0), torch.zeros(1000)]
    ),
    "rest-plus-spread": lambda: torch.cat(
        [torch.full((2000,), -1.0), torch.linspace(-2.0, 2.0, 2001)]
    ),
    "normal": lambda: torch.randn(20_000, generator=torch.Generator().manual_seed(3)),
    "bin-edges": lambda: torch.arange(-400, 401, dtype=torch.float32) / 125,
}


@pytest.mark.parametrize("coverage", [0.5, 0.9, 0.999])
@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_window_covers_at_least_the_requested_share(name, coverage):
    x = DISTRIBUTIONS[name]()
    net, mon = passthrough(x, left=0.5, right=0.5, schedule="fixed")
    result = ap.calibrate(net, mon, mode="window", coverage=coverage)["0"]
    shares = _coverage(x, result.left, result.right)
    assert min(shares) >= coverage, (shares, result.left, result.right)
    # and no wider than one histogram bin beyond the exact distance needed
    for side, got in ((-x[x < 0], result.left), (x[x >= 0], result.right)):
        if side.numel():
            need = side.sort().values[math.ceil(coverage * side.numel()) - 1]
            assert got <= float(need) + mon.spec.width + 1e-6


def test_issue_repro_silent_spikingjelly_layer_is_covered():
    node = neuron.LIFNode(step_mode="m", surrogate_function=AdaLi())
    net = nn.Sequential(node)
    with MembraneMonitor(net) as mon:
        functional.reset_net(net)
        net(torch.zeros(4, 8, 16))
    ap.calibrate(net, mon, mode="window")
    assert node.surrogate_function.current_window().left >= 1.0


def test_layer_still_silent_after_calibration_is_named(caplog):
    net, mon = passthrough(torch.full((100,), -1.0), left=0.5, right=0.5)
    with caplog.at_level(logging.WARNING, logger="adali_plugins.calibrate"):
        result = ap.calibrate(net, mon, mode="mass")["0"]
    assert result.silent and result.as_dict()["silent"] is True
    assert "0 stays silent" in caplog.text


@pytest.mark.parametrize("host", NETS)
@pytest.mark.parametrize("how", ["script", "trace"])
def test_torchscript_is_refused_with_a_clear_error(host, how):
    net = NETS[host]()
    ap.attach(net, output="adali")
    x = torch.randn(3, 2) if host == "snntorch" else torch.randn(4, 3, 2)
    with pytest.raises(TorchScriptUnsupportedError, match=r"torch\.compile"):
        if how == "script":
            torch.jit.script(net)
        else:
            torch.jit.trace(net, x)


def test_attach_to_a_wrapped_model_is_refused():
    net = snn_net()
    with pytest.raises(ap.WrappedModelError, match="before wrapping"):
        ap.attach(nn.DataParallel(net), output="adali")
    assert not _layers(net)


def test_defaults_agree_across_every_entry_point():
    import copy
    import inspect

    from adali_plugins.compare.spec import parse_surrogate
    from adali_plugins.window import DEFAULTS

    for fn in (adali, AdaLi.__init__):
        sig = inspect.signature(fn).parameters
        for name, value in DEFAULTS.__dict__.items():
            assert sig[name].default == value, (fn, name)
    built = [adali(), AdaLi()]
    built += _layers(_attached(snn_net())) + _layers(_attached(sj_net()))
    for host in NETS:
        built.append(parse_surrogate("AdaLi").factory(host)())
    for s in built:
        assert s.params == DEFAULTS
        assert (s.current_window().left, s.current_window().right) == (1.5, 1.5)
    assert copy.deepcopy(built[0]).params == DEFAULTS


def _attached(net):
    ap.attach(net, output="adali")
    return net


@pytest.mark.parametrize("host", NETS)
def test_default_schedule_state_travels_mid_schedule(host, tmp_path):
    import copy

    net = _attached(NETS[host]())
    ap.set_epoch(net, 37, 100)
    want = [(s.params, float(s.progress), s.current_window()) for s in _layers(net)]
    assert want[0][2].left < 1.5 and want[0][1] == pytest.approx(
        math.log(37) / math.log(100)
    )
    fresh = _attached(NETS[host]())
    fresh.load_state_dict(net.state_dict())
    torch.save(net, tmp_path / "whole.pt")
    whole = torch.load(tmp_path / "whole.pt", weights_only=False)  # our own file
    for other in (fresh, copy.deepcopy(net), whole):
        got = [
            (s.params, float(s.progress), s.current_window()) for s in _layers(other)
        ]
        assert got == want
