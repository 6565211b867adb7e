"""state.py: AdaLi state travels with the model in all four ways and resumes exactly."""

from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch
from torch import nn

import adali_plugins as ap
from adali_plugins.state import STATE_KEYS, AdaLiState

snn = pytest.importorskip("snntorch")
pytest.importorskip("spikingjelly")
from spikingjelly.activation_based import functional, layer, neuron  # noqa: E402


def snntorch_net():
    return nn.Sequential(
        nn.Linear(8, 8),
        snn.Leaky(beta=0.9, init_hidden=True),
        nn.Linear(8, 4),
        snn.Leaky(beta=0.9, init_hidden=True, output=True),
    )


def sj_net():
    net = nn.Sequential(
        layer.Linear(8, 8), neuron.LIFNode(), layer.Linear(8, 4), neuron.IFNode()
    )
    functional.set_step_mode(net, "m")
    return net


MAKERS = {"snntorch": snntorch_net, "spikingjelly": sj_net}


def _trained_state(make):
    """A model whose layers have different, non-default AdaLi state."""
    net = make()
    ap.attach(net, schedule="cosine", output="adali")
    layers = [m for m in net.modules() if isinstance(m, AdaLiState)]
    layers[0].set_params(alpha=0.3, beta=0.7, left=0.9, right=1.1)
    layers[1].set_params(alpha=0.6, beta=0.4, keep="height", p=0.35)
    ap.set_epoch(net, 3, 8)
    return net


def _fingerprint(net):
    return [
        (s.params, float(s.progress), s.window.clone())
        for s in net.modules()
        if isinstance(s, AdaLiState)
    ]


def _same(a, b):
    assert len(a) == len(b) == 2
    for (pa, qa, wa), (pb, qb, wb) in zip(a, b, strict=True):
        assert pa == pb and qa == qb and torch.equal(wa, wb)


def _via_state_dict(net, make):
    fresh = make()
    ap.attach(fresh, output="adali")
    fresh.load_state_dict(net.state_dict())
    return fresh


def _via_torch_save(net, make):
    buf = io.BytesIO()
    torch.save(net, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=False)


WAYS = {
    "state_dict": _via_state_dict,
    "deepcopy": lambda net, make: copy.deepcopy(net),
    "pickle": lambda net, make: pickle.loads(pickle.dumps(net)),
    "torch.save": _via_torch_save,
}


@pytest.mark.parametrize("host", MAKERS)
@pytest.mark.parametrize("way", WAYS)
def test_state_travels_and_schedule_resumes(host, way):
    make = MAKERS[host]
    net = _trained_state(make)
    back = WAYS[way](net, make)
    _same(_fingerprint(net), _fingerprint(back))
    ap.set_epoch(net, 6, 8)
    ap.set_epoch(back, 6, 8)
    _same(_fingerprint(net), _fingerprint(back))


def test_state_dict_keys_use_the_shared_vocabulary():
    net = _trained_state(snntorch_net)
    sd = net.state_dict()
    keys = {k.rsplit(".", 1)[-1] for k in sd if "spike_grad" in k}
    assert set(STATE_KEYS) == keys
    assert all(isinstance(v, torch.Tensor) for v in sd.values())
    assert "window" not in keys and "_extra_state" not in keys


def test_extra_state_restores_schedule_name_and_keep():
    net = _trained_state(sj_net)
    fresh = sj_net()
    ap.attach(fresh, output="adali")
    fresh.load_state_dict(net.state_dict())
    layers = [m for m in fresh.modules() if isinstance(m, AdaLiState)]
    assert [s.schedule for s in layers] == ["cosine", "cosine"]
    assert [s.keep for s in layers] == ["area", "height"]


def test_callable_schedule_must_be_given_again_on_load():
    net = snntorch_net()
    ap.attach(net, schedule=lambda q: 1 - 0.5 * q, output="adali")
    fresh = snntorch_net()
    ap.attach(fresh, output="adali")
    with pytest.raises(ValueError, match="callable schedule"):
        fresh.load_state_dict(net.state_dict())
    again = snntorch_net()
    ap.attach(again, schedule=lambda q: 1 - 0.5 * q, output="adali")
    again.load_state_dict(net.state_dict())


def test_loading_invalid_values_is_refused():
    net = snntorch_net()
    ap.attach(net, output="adali")
    state = net.state_dict()
    state["1.spike_grad.p"] = torch.tensor(0.0, dtype=torch.float64)
    with pytest.raises(ValueError, match="p"):
        net.load_state_dict(state)
    assert net[1].spike_grad.params.p is None


def test_max_height_travels_and_caps_the_window():
    from adali_plugins.snntorch import adali

    g = adali(max_height=1.5)
    g.set_epoch(5, 5)
    assert g.current_window().h_lo == 1.5
    back = copy.deepcopy(g)
    assert back.params.max_height == 1.5
    plain = adali()
    plain.load_state_dict(g.state_dict())
    assert plain.params.max_height == 1.5 and float(plain.window[2]) == 1.5
    assert adali().params.max_height is None
    assert "max_height=1.5" in repr(g)
