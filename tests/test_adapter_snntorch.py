"""adali_plugins.snntorch: adali() inside real snnTorch neurons."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import boundary_free_grid, reference_factor, reference_grad

snn = pytest.importorskip("snntorch")
from snntorch import surrogate  # noqa: E402

from adali_plugins.snntorch import AdaLi, adali  # noqa: E402

pytestmark = pytest.mark.snntorch
B, N = 4, 6

NEURONS = {
    "Leaky": (lambda g: snn.Leaky(beta=0.9, spike_grad=g), (B, N), False),
    "Synaptic": (
        lambda g: snn.Synaptic(alpha=0.8, beta=0.9, spike_grad=g),
        (B, N),
        False,
    ),
    "Alpha": (lambda g: snn.Alpha(alpha=0.9, beta=0.8, spike_grad=g), (B, N), False),
    "Lapicque": (lambda g: snn.Lapicque(beta=0.9, spike_grad=g), (B, N), False),
    "RLeaky": (
        lambda g: snn.RLeaky(beta=0.9, linear_features=N, spike_grad=g),
        (B, N),
        False,
    ),
    "RSynaptic": (
        lambda g: snn.RSynaptic(alpha=0.8, beta=0.9, linear_features=N, spike_grad=g),
        (B, N),
        False,
    ),
    "SLSTM": (lambda g: snn.SLSTM(N, N, threshold=0.1, spike_grad=g), (B, N), False),
    "SConv2dLSTM": (
        lambda g: snn.SConv2dLSTM(2, 3, 3, threshold=0.1, spike_grad=g),
        (B, 2, 5, 5),
        False,
    ),
    "LeakyParallel": (lambda g: snn.LeakyParallel(N, N, spike_grad=g), (5, B, N), True),
    "StateLeaky": (
        lambda g: snn.StateLeaky(beta=0.9, channels=N, spike_grad=g),
        (5, B, N),
        True,
    ),
    "LinearLeaky": (
        lambda g: snn.LinearLeaky(
            beta=0.9, in_features=N, out_features=N, spike_grad=g
        ),
        (5, B, N),
        True,
    ),
}
AVAILABLE = [name for name in NEURONS if hasattr(snn, name)]


def _run(make, shape, whole_sequence, spike_grad, x):
    torch.manual_seed(0)
    neuron = make(spike_grad)
    if whole_sequence:
        out = neuron(x)
        return out[0] if isinstance(out, tuple) else out
    steps = []
    for t in range(x.shape[0]):
        out = neuron(x[t])
        steps.append(out[0])
    return torch.stack(steps)


@pytest.mark.parametrize("name", AVAILABLE, ids=AVAILABLE)
def test_every_neuron_trains_and_fires_like_atan(name):
    make, shape, whole_sequence = NEURONS[name]
    seq_shape = shape if whole_sequence else (5, *shape)
    torch.manual_seed(1)
    x = (torch.randn(seq_shape) * 3).requires_grad_()
    spikes = _run(make, shape, whole_sequence, adali(), x)
    spikes_atan = _run(make, shape, whole_sequence, surrogate.atan(), x.detach())
    assert torch.equal(spikes, spikes_atan)
    spikes.sum().backward()
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0


def test_is_a_module_registered_as_child():
    lif = snn.Leaky(beta=0.9, spike_grad=adali())
    assert isinstance(lif.spike_grad, AdaLi)
    assert "spike_grad" in dict(lif.named_children())
    assert any(k.startswith("spike_grad.") for k in lif.state_dict())


def test_registered_in_host_namespace_without_shadowing():
    assert surrogate.adali is adali
    assert callable(surrogate.atan) and surrogate.atan is not adali


@pytest.mark.parametrize("neuron", ["Leaky", "Synaptic"])
@pytest.mark.parametrize("epoch", [0, 2, 4])
def test_one_step_analytic_derivative(neuron, epoch):
    g = adali(
        alpha=0.7, beta=0.3, left=0.8, right=1.2, p=0.25, schedule="linear_lagfree"
    )
    g.set_epoch(epoch, 5)
    make = {
        "Leaky": lambda: snn.Leaky(beta=0.9, threshold=1.0, spike_grad=g),
        "Synaptic": lambda: snn.Synaptic(
            alpha=0.8, beta=0.9, threshold=1.0, spike_grad=g
        ),
    }[neuron]
    f = reference_factor(epoch / 4, 0.25, "linear_lagfree")
    x = boundary_free_grid(801, [1.0, 1.0 - 0.8 * f, 1.0 + 1.2 * f], lo=-1, hi=3)
    x = x.reshape(1, -1).requires_grad_()
    spk = make()(x)[0]
    assert torch.equal(spk, (x > 1.0).to(x.dtype))
    spk.sum().backward()
    expected = reference_grad(
        (x.detach() - 1.0).numpy(),
        alpha=0.7,
        beta=0.3,
        left=0.8,
        right=1.2,
        p=0.25,
        q=epoch / 4,
        schedule="linear_lagfree",
        keep="area",
    )
    torch.testing.assert_close(x.grad, torch.from_numpy(expected), rtol=0, atol=1e-12)


def test_fires_strictly_above_threshold_like_snntorch():
    x = torch.tensor([-0.5, 0.0, 0.5])
    assert adali()(x).tolist() == surrogate.atan()(x).tolist() == [0.0, 0.0, 1.0]


def test_init_hidden_and_reset_delay_false():
    g = adali()
    lif = snn.Leaky(beta=0.9, spike_grad=g, init_hidden=True, reset_delay=False)
    x = torch.randn(5, B, N, requires_grad=True)
    out = torch.stack([lif(x[t]) for t in range(5)])
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_whole_model_torch_save_roundtrip(tmp_path):
    net = torch.nn.Sequential(
        torch.nn.Linear(3, 3), snn.Leaky(beta=0.9, spike_grad=adali(), init_hidden=True)
    )
    net[1].spike_grad.set_epoch(3, 7)
    torch.save(net, tmp_path / "net.pt")
    back = torch.load(tmp_path / "net.pt", weights_only=False)  # written just above
    assert float(back[1].spike_grad.progress) == pytest.approx(
        math.log(3) / math.log(7)
    )
    assert torch.equal(back[1].spike_grad.window, net[1].spike_grad.window)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"p": 0}, "p"),
        ({"left": -1}, "left"),
        ({"schedule": "nope"}, "schedule"),
        ({"beta": float("nan")}, "beta"),
    ],
    ids=["p", "left", "schedule", "beta"],
)
def test_invalid_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        adali(**kwargs)


def test_beta_error_says_gradient_mass():
    with pytest.raises(ValueError, match="gradient mass"):
        adali(beta=-1)


def _leaky_run(reset_mechanism, steps=6):
    torch.manual_seed(3)
    x = (torch.randn(steps, B, N) * 2).requires_grad_()
    lif = snn.Leaky(beta=0.9, spike_grad=adali(), reset_mechanism=reset_mechanism)
    codes = []

    def pack(t):
        if t.dtype == torch.uint8:
            codes.append(t)
        return t

    mem = lif.init_leaky()
    spikes = []
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        for t in range(steps):
            spk, mem = lif(x[t], mem)
            spikes.append(spk)
    torch.stack(spikes).pow(2).sum().backward()
    return torch.stack(spikes).detach(), x.grad, len(codes)


@pytest.mark.parametrize("reset_mechanism", ["subtract", "zero"])
def test_reset_call_builds_no_graph_and_changes_nothing(reset_mechanism, monkeypatch):
    import adali_plugins.snntorch as adapter

    spikes, grad, saved = _leaky_run(reset_mechanism)
    assert saved == spikes.shape[0]
    monkeypatch.setattr(adapter, "_DETACHED_CALLERS", frozenset())
    spikes_full, grad_full, saved_full = _leaky_run(reset_mechanism)
    assert saved_full == 2 * spikes.shape[0] - 1
    assert torch.equal(spikes, spikes_full)
    assert torch.equal(grad, grad_full)
