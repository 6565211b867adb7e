"""attach.py: swapping AdaLi into finished models of both hosts, and back."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import adali_plugins as ap
from adali_plugins.state import AdaLiState

snn = pytest.importorskip("snntorch")
pytest.importorskip("spikingjelly")
from snntorch import surrogate as snn_surrogate  # noqa: E402
from spikingjelly.activation_based import functional, layer, neuron  # noqa: E402

from adali_plugins.snntorch import adali  # noqa: E402


def snntorch_tutorial_net(spike_grad=None):
    """Tutorial style: one surrogate object passed to every layer."""
    spike_grad = (
        spike_grad if spike_grad is not None else snn_surrogate.fast_sigmoid(slope=25)
    )
    return nn.Sequential(
        nn.Conv2d(1, 4, 3),
        snn.Leaky(beta=0.9, spike_grad=spike_grad, init_hidden=True),
        nn.Flatten(),
        nn.Linear(4 * 6 * 6, 10),
        snn.Leaky(beta=0.9, spike_grad=spike_grad, init_hidden=True, output=True),
    )


def sj_net():
    """SpikingJelly defaults: every node shares the one surrogate.Sigmoid() instance."""
    net = nn.Sequential(
        layer.Conv2d(1, 4, 3),
        neuron.LIFNode(),
        layer.Flatten(),
        layer.Linear(4 * 6 * 6, 10),
        neuron.LIFNode(),
    )
    functional.set_step_mode(net, "m")
    return net


def _surrogates(net):
    return [m for m in net.modules() if isinstance(m, AdaLiState)]


@pytest.mark.parametrize(
    "make", [snntorch_tutorial_net, sj_net], ids=["snntorch", "spikingjelly"]
)
def test_attach_splits_shared_surrogate_and_restores(make):
    net = make()
    attr = "spike_grad" if make is snntorch_tutorial_net else "surrogate_function"
    neurons = [
        m for m in net.modules() if hasattr(m, attr) and not isinstance(m, AdaLiState)
    ]
    originals = [getattr(n, attr) for n in neurons]
    assert originals[0] is originals[1]
    handle = ap.attach(net, output="adali")
    assert handle.paths == ["1", "4"]
    new = [getattr(n, attr) for n in neurons]
    assert all(isinstance(s, AdaLiState) for s in new)
    assert new[0] is not new[1]
    assert len(_surrogates(net)) == 2
    handle.restore()
    assert [getattr(n, attr) for n in neurons] == originals
    assert all(getattr(n, attr) is originals[0] for n in neurons)
    assert not _surrogates(net)
    with pytest.raises(RuntimeError, match="already restored"):
        handle.restore()


def test_attach_params_apply_to_every_layer():
    net = sj_net()
    ap.attach(net, p=0.5, keep="height", alpha=0.3, beta=0.7, output="adali")
    for s in _surrogates(net):
        assert s.params.p == 0.5 and s.keep == "height" and s.params.alpha == 0.3


def test_attach_without_params_keeps_existing_adali_settings_and_splits():
    shared = adali(alpha=0.2, beta=0.8, p=0.4, schedule="linear_lagfree")
    shared.set_epoch(2, 5)
    net = snntorch_tutorial_net(shared)
    handle = ap.attach(net, output="adali")
    layers = _surrogates(net)
    assert len(layers) == 2 and shared not in [*layers[:0]]
    for s in layers:
        assert (s.params.alpha, s.params.p, float(s.progress)) == (0.2, 0.4, 0.5)
    handle.restore()
    assert net[1].spike_grad is shared and net[4].spike_grad is shared


def test_attach_leaves_own_adali_untouched_without_params():
    net = snntorch_tutorial_net()
    ap.attach(net, output="adali")
    before = _surrogates(net)
    handle = ap.attach(net, output="adali")
    assert len(handle) == 0 and _surrogates(net) == before


def test_attached_models_train_and_reset():
    torch.manual_seed(0)
    net = sj_net()
    ap.attach(net, output="adali")
    x = torch.rand(4, 2, 1, 8, 8) * 4
    out = net(x)
    out.sum().backward()
    assert net[0].weight.grad is not None
    functional.reset_net(net)
    assert isinstance(net[1].v, float) or float(net[1].v.abs().sum()) == 0.0


def test_invalid_params_change_nothing():
    net = sj_net()
    before = net[1].surrogate_function
    with pytest.raises(ValueError, match="p"):
        ap.attach(net, p=3.0, output="adali")
    with pytest.raises(TypeError, match="slope"):
        ap.attach(net, slope=4, output="adali")
    assert net[1].surrogate_function is before


def test_no_spiking_neuron_is_a_clear_error():
    with pytest.raises(ap.NoSpikingLayerError, match="no snnTorch or SpikingJelly"):
        ap.attach(nn.Sequential(nn.Linear(2, 2), nn.ReLU()))


class HomeMadeNeuron(nn.Module):
    """A user-written spiking layer that keeps its own surrogate function."""

    def __init__(self):
        super().__init__()
        self.spike_grad = snn_surrogate.atan()

    def forward(self, x):
        return self.spike_grad(x - 1.0)


def test_unknown_family_is_reported_and_strict_false_skips_it():
    net = nn.Sequential(
        nn.Linear(3, 3), HomeMadeNeuron(), snn.Leaky(beta=0.9, init_hidden=True)
    )
    with pytest.raises(ap.AttachError, match=r"1 \(HomeMadeNeuron\)") as info:
        ap.attach(net, output="adali")
    assert "register_neuron" in str(info.value)
    assert not _surrogates(net)
    handle = ap.attach(net, strict=False, output="adali")
    assert handle.paths == ["2"] and len(handle.skipped) == 1


def test_surrogate_disabled_layer_is_skipped():
    net = nn.Sequential(
        snn.Leaky(beta=0.9, surrogate_disable=True, init_hidden=True),
        snn.Leaky(beta=0.9, init_hidden=True),
    )
    assert ap.attach(net, output="adali").paths == ["1"]


@pytest.mark.skipif(
    not hasattr(neuron, "ILIFNode"), reason="ILIFNode exists in spikingjelly 2.0 only"
)
def test_unsupported_spikingjelly_node_is_refused():
    net = nn.Sequential(neuron.ILIFNode(), neuron.LIFNode())
    with pytest.raises(ap.AttachError, match="MultiLevelSpikeCount"):
        ap.attach(net, output="adali")
    assert ap.attach(net, strict=False, output="adali").paths == ["1"]


def test_set_epoch_without_adali_is_a_clear_error():
    with pytest.raises(ap.NoAdaLiError, match="attach"):
        ap.set_epoch(sj_net(), 0, 3)


def test_set_epoch_without_adali_strict_false_is_a_no_op():
    assert ap.set_epoch(sj_net(), 0, 3, strict=False) == 0
    assert ap.set_progress(sj_net(), 0.5, strict=False) == 0


def test_set_epoch_moves_every_layer_and_validates_first():
    net = sj_net()
    ap.attach(net, schedule="linear_lagfree", output="adali")
    assert ap.set_epoch(net, 2, 5) == 2
    assert all(float(s.progress) == 0.5 for s in _surrogates(net))
    with pytest.raises(ValueError, match="epoch"):
        ap.set_epoch(net, 6, 5)
    assert all(float(s.progress) == 0.5 for s in _surrogates(net))


def test_set_epoch_uses_each_layers_own_law():
    net = sj_net()
    ap.attach(net, output="adali")
    layers = _surrogates(net)
    layers[1].set_params(schedule="linear")
    ap.set_epoch(net, 3, 5)
    assert float(layers[0].progress) == pytest.approx(math.log(3) / math.log(5))
    assert float(layers[1].progress) == pytest.approx(0.5)


def test_set_epoch_failing_on_a_later_layer_moves_no_layer():
    net = sj_net()
    ap.attach(net, schedule="linear_lagfree", output="adali")
    layers = _surrogates(net)
    layers[1].set_params(schedule=lambda q: 1.0 if q < 0.6 else math.nan)
    ap.set_epoch(net, 1, 5)
    with pytest.raises(ValueError, match="no layer was moved"):
        ap.set_epoch(net, 4, 5)
    assert [float(s.progress) for s in layers] == [0.25, 0.25]


def test_registry_covers_every_host_neuron_class():
    import inspect

    from adali_plugins.registry import family_of

    ap.spiking_layers(nn.Sequential())
    snn_classes = [
        c
        for _, c in inspect.getmembers(snn, inspect.isclass)
        if issubclass(c, nn.Module) and "spike_grad" in inspect.signature(c).parameters
    ]
    sj_classes = [
        c
        for _, c in inspect.getmembers(neuron, inspect.isclass)
        if issubclass(c, nn.Module)
        and "surrogate_function" in inspect.signature(c).parameters
        and c.__name__
        in {
            "LIFNode",
            "IFNode",
            "ParametricLIFNode",
            "QIFNode",
            "EIFNode",
            "IzhikevichNode",
            "KLIFNode",
            "SimpleLIFNode",
            "SimpleIFNode",
        }
    ]
    assert len(snn_classes) >= 9 and len(sj_classes) >= 6
    missing = [
        c.__name__ for c in snn_classes + sj_classes if family_of(c.__new__(c)) is None
    ]
    assert not missing, f"neuron classes with no registered family: {missing}"


def test_attached_device_and_dtype_follow_model():
    net = snntorch_tutorial_net().double()
    ap.attach(net, output="adali")
    s = _surrogates(net)[0]
    assert s.window.dtype == torch.float64 and s.alpha.dtype == torch.float64
    net.half()
    assert s.alpha.dtype == torch.float64 and float(s.alpha) == 0.5
