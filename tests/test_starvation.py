"""Starved units (``adali_plugins.starvation``): the reached mask of real host
neurons against a numpy oracle, one ``StarvedUnitsWarning`` per starving layer
per epoch, quiet on healthy nets, never in a ``state_dict``."""

from __future__ import annotations

import os
import re
import warnings

import numpy as np
import pytest
import torch
from torch import nn

snn = pytest.importorskip("snntorch")
pytest.importorskip("spikingjelly")
from snntorch import utils as snn_utils  # noqa: E402
from spikingjelly.activation_based import functional, layer, neuron  # noqa: E402

import adali_plugins as ap  # noqa: E402
from adali_plugins import starvation  # noqa: E402
from adali_plugins.snntorch import adali  # noqa: E402
from adali_plugins.spikingjelly import LEGACY, AdaLi, fast_lif  # noqa: E402

DEVICE = os.environ.get("ADALI_TEST_DEVICE", "cuda")
"""The accelerator of the device test, as in tests/test_device.py."""

LEFT, RIGHT = 0.5, 0.3
"""A fixed window [-0.5, 0.3] (schedule="fixed"), so the oracle needs no schedule."""

T, B, F = 6, 5, 12


def _currents(seed: int = 0) -> torch.Tensor:
    """Input currents [T, B, F], offset per unit: the low units never reach."""
    gen = torch.Generator().manual_seed(seed)
    offsets = torch.linspace(-3.0, 1.5, F, dtype=torch.float64)
    noise = torch.randn(T, B, F, generator=gen, dtype=torch.float64) * 0.8
    return (noise + offsets).requires_grad_()


def _oracle_snntorch(cur: np.ndarray, beta: float) -> np.ndarray:
    """x = mem - 1 of snnTorch's Leaky (subtract reset from the previous step)."""
    mem, xs = np.zeros(cur.shape[1:]), []
    for t in range(cur.shape[0]):
        reset = (mem - 1.0 > 0).astype(np.float64)
        mem = beta * mem + cur[t] - reset
        xs.append(mem - 1.0)
    return np.array(xs)


def _oracle_spikingjelly(cur: np.ndarray, tau: float) -> np.ndarray:
    """x = h - 1 of SpikingJelly's LIF (decay_input, hard reset to 0, x >= 0 fires)."""
    v, xs = np.zeros(cur.shape[1:]), []
    for t in range(cur.shape[0]):
        h = v + (cur[t] - v) / tau
        xs.append(h - 1.0)
        v = np.where(h - 1.0 >= 0, 0.0, h)
    return np.array(xs)


def _entered(xs: np.ndarray) -> np.ndarray:
    edges = np.abs(np.concatenate([(xs + LEFT).ravel(), (xs - RIGHT).ravel()]))
    assert edges.min() > 1e-9, "an input sits on a window edge; pick another seed"
    return np.any((xs >= -LEFT) & (xs <= RIGHT), axis=(0, 1))


def _snntorch_run(lif: nn.Module, cur: torch.Tensor) -> None:
    mem = torch.zeros(cur.shape[1:], dtype=cur.dtype, device=cur.device)
    for t in range(cur.shape[0]):
        _, mem = lif(cur[t], mem)


def _sj_run(node: nn.Module, cur: torch.Tensor) -> None:
    functional.reset_net(node)
    node(cur)


def _snntorch_neuron() -> tuple[nn.Module, object, np.ndarray, int]:
    lif = snn.Leaky(
        beta=0.5, spike_grad=adali(left=LEFT, right=RIGHT, schedule="fixed")
    ).double()
    return lif, _snntorch_run, _oracle_snntorch(_currents().detach().numpy(), 0.5), T


def _sj_lif() -> tuple[nn.Module, object, np.ndarray, int]:
    node = neuron.LIFNode(
        tau=2.0,
        surrogate_function=AdaLi(left=LEFT, right=RIGHT, schedule="fixed"),
        step_mode="m",
    )
    oracle = _oracle_spikingjelly(_currents().detach().numpy(), 2.0)
    return node, _sj_run, oracle, 1


def _sj_generic() -> tuple[nn.Module, object, np.ndarray, int]:
    node = neuron.ParametricLIFNode(
        init_tau=2.0,
        surrogate_function=AdaLi(left=LEFT, right=RIGHT, schedule="fixed"),
        step_mode="m",
    ).double()
    oracle = _oracle_spikingjelly(_currents().detach().numpy(), 2.0)
    return node, _sj_run, oracle, T


NEURONS = {
    "snntorch-leaky": _snntorch_neuron,
    "spikingjelly-fused-lif": _sj_lif,
    "spikingjelly-plif-generic": _sj_generic,
}


def _count_merges(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """``[n]``: how many calls folded into a mask (one per surrogate call)."""
    calls = [0]
    merge = starvation._merge

    def counted(*args: object) -> None:
        calls[0] += 1
        merge(*args)

    monkeypatch.setattr(starvation, "_merge", counted)
    return calls


def _surrogate(module: nn.Module) -> nn.Module:
    found = ap.adali_modules(module)
    assert len(found) == 1
    return found[0][1]


@pytest.mark.parametrize("kind", sorted(NEURONS), ids=sorted(NEURONS))
def test_reached_mask_matches_numpy_oracle(kind, monkeypatch):
    if kind == "spikingjelly-fused-lif" and LEGACY:
        pytest.skip("spikingjelly 0.0.0.0.14 has no fused multi-step LIF path")
    node, run, oracle_x, calls_per_forward = NEURONS[kind]()
    expected = _entered(oracle_x)
    assert expected.any() and not expected.all(), "the oracle must split the units"
    surrogate = _surrogate(node)
    calls = _count_merges(monkeypatch)
    with fast_lif(True):
        run(node, _currents())
    reached = starvation.reached_mask(surrogate)
    assert reached.dtype == torch.bool and reached.shape == (F,)
    np.testing.assert_array_equal(reached.numpy(), expected)
    # the fused LIF records once per sequence, the per-step paths once per step
    assert calls == [calls_per_forward]

    # forwards without autograd recording never count, even if every unit
    # would enter the window: no_grad, an input not requiring grad, eval mode
    hot = torch.zeros(T, B, F, dtype=torch.float64) + 0.9
    with torch.no_grad(), fast_lif(True):
        run(node, hot.clone().requires_grad_())
    node.eval()
    with torch.no_grad():
        run(node, hot.clone())
    node.train()
    np.testing.assert_array_equal(starvation.reached_mask(surrogate), expected)
    assert calls == [calls_per_forward]


@pytest.mark.skipif(
    DEVICE == "cuda" and not torch.cuda.is_available(),
    reason="no CUDA device (set ADALI_TEST_DEVICE=cpu to run it on the CPU)",
)
@pytest.mark.parametrize("kind", sorted(NEURONS), ids=sorted(NEURONS))
def test_mask_follows_the_module_to_the_device(kind):
    if kind == "spikingjelly-fused-lif" and LEGACY:
        pytest.skip("spikingjelly 0.0.0.0.14 has no fused multi-step LIF path")
    node, run, oracle_x, _ = NEURONS[kind]()
    node.to(DEVICE)
    with fast_lif(True):
        run(node, _currents().detach().to(DEVICE).requires_grad_())
    assert _surrogate(node).reached.device.type == torch.device(DEVICE).type
    reached = starvation.reached_mask(_surrogate(node))
    np.testing.assert_array_equal(reached.cpu().numpy(), _entered(oracle_x))
    found = starvation.starved_units(node, reset=True)
    assert next(iter(found.values())).starved == int((~_entered(oracle_x)).sum())


def test_read_and_reset_at_epoch_boundary_reports_starved_units():
    lif, run, oracle_x, _ = _snntorch_neuron()
    model = nn.Sequential(lif)
    run(lif, _currents())
    expected = _entered(oracle_x)
    found = starvation.starved_units(model, reset=True)
    assert list(found) == ["0"]
    s = found["0"]
    assert (s.units, s.starved) == (F, int((~expected).sum()))
    assert s.window == pytest.approx((LEFT, RIGHT))
    assert starvation.reached_mask(_surrogate(model)) is None
    assert starvation.starved_units(model) == {}  # nothing recorded since


def test_unit_shape_change_restarts_the_mask():
    lif = snn.Leaky(beta=0.5, spike_grad=adali(left=LEFT, right=RIGHT))
    mem = torch.zeros(4, 10)
    lif(torch.randn(4, 10, requires_grad=True), mem)
    lif(torch.full((3, 6), -5.0, requires_grad=True), torch.zeros(3, 6))
    s = starvation.starved_units(nn.Sequential(lif))["0"]
    assert (s.units, s.starved) == (6, 6)


def test_mask_is_never_in_state_dict_and_follows_the_module():
    lif, run, _, _ = _snntorch_neuron()
    model = nn.Sequential(nn.Linear(3, 3), lif)
    keys = set(model.state_dict())
    run(lif, _currents())
    assert set(model.state_dict()) == keys
    assert not any("reached" in k for k in keys)
    buffers = dict(model.named_buffers())
    assert "1.spike_grad.reached" in buffers
    before = _surrogate(model).reached.clone()
    model.to(torch.float32)  # a dtype move must not cast the integer buffer
    assert torch.equal(_surrogate(model).reached, before)
    fresh = nn.Sequential(nn.Linear(3, 3), snn.Leaky(beta=0.5, spike_grad=adali()))
    fresh.load_state_dict(model.state_dict(), strict=True)


# ---------------------------------------------------------------- whole nets


def _snn_net(seed: int) -> tuple[nn.Module, object]:
    """Tutorial-style snnTorch Sequential ending in a spiking output layer. The
    window is fixed: these nets test the check, not the schedule (a toy net's
    output units do starve once the default schedule narrows it)."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Linear(20, 32),
        snn.Leaky(beta=0.9, init_hidden=True, spike_grad=adali(schedule="fixed")),
        nn.Linear(32, 10),
        snn.Leaky(
            beta=0.9,
            init_hidden=True,
            spike_grad=adali(schedule="fixed"),
            output=True,
        ),
    )

    def forward(x: torch.Tensor) -> torch.Tensor:
        snn_utils.reset(net)
        return torch.stack([net(x[t])[0] for t in range(x.shape[0])])

    return net, forward


def _sj_net(seed: int, node: type) -> tuple[nn.Module, object]:
    torch.manual_seed(seed)
    net = nn.Sequential(
        layer.Linear(20, 32),
        node(surrogate_function=AdaLi(schedule="fixed")),
        layer.Linear(32, 10),
        node(surrogate_function=AdaLi(schedule="fixed")),
    )
    functional.set_step_mode(net, "m")

    def forward(x: torch.Tensor) -> torch.Tensor:
        functional.reset_net(net)
        return net(x)

    return net, forward


NETS = {
    "snntorch-sequential": lambda seed: _snn_net(seed),
    "spikingjelly-lif-fused": lambda seed: _sj_net(seed, neuron.LIFNode),
    "spikingjelly-plif-generic": lambda seed: _sj_net(seed, neuron.ParametricLIFNode),
}


def _silence(linear: nn.Linear, units: list[int]) -> None:
    """The units' potential stays far below any window: no input, bias -50."""
    with torch.no_grad():
        linear.weight[units] = 0.0
        linear.bias[units] = -50.0


def _train(
    net: nn.Module, forward: object, epochs: int, *, scheduler: bool = False
) -> list[list[warnings.WarningMessage]]:
    """SGD on random inputs; the warnings caught at each epoch boundary."""
    gen = torch.Generator().manual_seed(1)
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    caught = []
    sched = None
    with warnings.catch_warnings(record=True) as log:
        warnings.simplefilter("always")
        if scheduler:
            sched = ap.AdaLiScheduler(net, total_epochs=epochs)
        else:
            ap.set_epoch(net, 0, epochs)
        caught.append(list(log))
        for epoch in range(epochs):
            del log[:]
            for _ in range(3):
                x = torch.rand(4, 16, 20, generator=gen) * 2.0
                y = torch.randint(0, 10, (16,), generator=gen)
                loss = nn.functional.cross_entropy(forward(x).mean(0) * 5.0, y)
                opt.zero_grad()
                loss.backward()
                opt.step()
            with torch.no_grad():  # an evaluation pass: must not count
                forward(torch.rand(4, 16, 20, generator=gen) * 2.0)
            if sched is not None:
                sched.step()
            else:
                ap.set_epoch(net, min(epoch + 1, epochs - 1), epochs)
            caught.append(list(log))
    return caught


def _starved(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if w.category is ap.StarvedUnitsWarning]


@pytest.mark.parametrize("kind", sorted(NETS), ids=sorted(NETS))
@pytest.mark.parametrize("scheduler", [False, True], ids=["set_epoch", "scheduler"])
def test_silenced_output_unit_warns_once_per_epoch(kind, scheduler):
    net, forward = NETS[kind](0)
    _silence(net[2], [3])
    caught = _train(net, forward, epochs=3, scheduler=scheduler)
    assert _starved(caught[0]) == []  # nothing trained before epoch 0
    for epoch, boundary in enumerate(caught[1:]):
        messages = _starved(boundary)
        assert len(messages) == 1, messages
        text = messages[0]
        assert "AdaLi layer '3'" in text
        assert "1 of 10 units (10.0%)" in text
        assert f"during epoch {epoch}" in text
        assert "output layer" in text
        for fix in ("exclude=['3']", "output='host'", "calibrate", "left="):
            assert fix in text
    first = next(w for w in caught[1] if w.category is ap.StarvedUnitsWarning)
    assert first.filename == __file__  # points at the caller's set_epoch / step


@pytest.mark.parametrize("kind", sorted(NETS), ids=sorted(NETS))
def test_healthy_net_is_quiet(kind):
    net, forward = NETS[kind](0)
    caught = _train(net, forward, epochs=3)
    assert _starved([w for boundary in caught for w in boundary]) == []


def test_output_layer_on_host_surrogate_is_not_checked():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(20, 32),
        snn.Leaky(beta=0.9, init_hidden=True),
        nn.Linear(32, 10),
        snn.Leaky(beta=0.9, init_hidden=True, output=True),
    )
    handle = ap.attach(net, schedule="fixed")  # default: output stays on atan
    assert [path for path, _ in ap.adali_modules(net)] == ["1.spike_grad"]
    assert handle is not None

    def forward(x: torch.Tensor) -> torch.Tensor:
        snn_utils.reset(net)
        return torch.stack([net(x[t])[0] for t in range(x.shape[0])])

    _silence(net[2], [3])
    caught = _train(net, forward, epochs=2)
    assert _starved([w for boundary in caught for w in boundary]) == []


def test_hidden_layer_threshold():
    """A few silent hidden units are tolerated; beyond the threshold, a warning."""
    few = [0]  # 1 of 32: 3%
    many = list(range(int(32 * starvation.HIDDEN_THRESHOLD) + 1))
    for units, warns in ((few, False), (many, True)):
        net, forward = _snn_net(0)
        _silence(net[0], units)
        caught = _train(net, forward, epochs=2)
        hidden = [m for b in caught for m in _starved(b) if "layer '1'" in m]
        assert len(hidden) == (2 if warns else 0), hidden
        if warns:
            share = len(units) / 32
            assert f"{len(units)} of 32 units ({share:.1%})" in hidden[0]
            assert "hidden layer" in hidden[0]


def test_check_off_records_nothing_and_warns_nothing(monkeypatch):
    monkeypatch.setattr(starvation, "check", False)
    net, forward = _snn_net(0)
    _silence(net[2], [3])
    caught = _train(net, forward, epochs=2)
    assert _starved([w for boundary in caught for w in boundary]) == []
    assert starvation.reached_mask(net[3].spike_grad) is None


def test_warning_can_be_filtered():
    net, forward = _snn_net(0)
    _silence(net[2], [3])
    forward(torch.rand(4, 8, 20)).sum().backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ap.StarvedUnitsWarning)
        with pytest.raises(ap.StarvedUnitsWarning, match=re.escape("1 of 10")):
            ap.set_epoch(net, 1, 3)


def test_monitor_summary_reports_starved_share():
    lif, run, oracle_x, _ = _snntorch_neuron()
    model = nn.Sequential(lif)
    expected = _entered(oracle_x)
    with torch.no_grad(), ap.MembraneMonitor(model) as mon:
        run(lif, _currents().detach())
    row = mon.summary()["0"]
    assert row.starved == pytest.approx(1.0 - expected.mean())
    assert row.flat()["starved"] == row.starved
    assert "starved" in mon.summary().table()
    assert starvation.reached_mask(_surrogate(model)) is None  # no_grad


@pytest.mark.slow
def test_compiled_spikingjelly_tracks_like_eager_without_graph_breaks():
    import torch._dynamo as dynamo

    dynamo.reset()
    node = neuron.LIFNode(
        tau=2.0,
        surrogate_function=AdaLi(left=LEFT, right=RIGHT, schedule="fixed"),
        step_mode="m",
    )
    explained = dynamo.explain(node)(_currents())
    assert explained.graph_break_count == 0, explained.break_reasons
    starvation.starved_units(nn.Sequential(node), reset=True)
    compiled = torch.compile(node, backend="aot_eager")
    functional.reset_net(node)
    compiled(_currents())
    expected = _entered(_oracle_spikingjelly(_currents().detach().numpy(), 2.0))
    reached = starvation.reached_mask(_surrogate(node))
    np.testing.assert_array_equal(reached.numpy(), expected)


@pytest.mark.slow
def test_compiled_snntorch_is_not_tracked():
    """Under torch.compile the adapter cannot tell snnTorch's reset call (on the
    previous potential, the initial one included) from the firing one, so it
    records nothing rather than count the initial state as reached."""
    import torch._dynamo as dynamo

    dynamo.reset()
    lif, run, _, _ = _snntorch_neuron()
    run(torch.compile(lif, backend="aot_eager"), _currents())
    assert starvation.reached_mask(_surrogate(lif)) is None


def test_per_iteration_scheduler_warns_once_per_epoch():
    """With ``steps_per_epoch`` the scheduler steps after every batch; the check
    runs only where the epoch is whole, so still once per epoch."""
    net, forward = _snn_net(0)
    _silence(net[2], [3])
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(1)
    per_batch = []
    with warnings.catch_warnings(record=True) as log:
        warnings.simplefilter("always")
        sched = ap.AdaLiScheduler(net, total_epochs=2, steps_per_epoch=3)
        for _ in range(6):
            del log[:]
            x = torch.rand(4, 16, 20, generator=gen) * 2.0
            y = torch.randint(0, 10, (16,), generator=gen)
            loss = nn.functional.cross_entropy(forward(x).mean(0) * 5.0, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            per_batch.append(_starved(log))
    assert [len(m) for m in per_batch] == [0, 0, 1, 0, 0, 1], per_batch
    assert "during epoch 0" in per_batch[2][0]
    assert "during epoch 1" in per_batch[5][0]


def test_set_epoch_check_starved_keyword():
    net, forward = _snn_net(0)
    _silence(net[2], [3])
    forward(torch.rand(4, 8, 20)).sum().backward()
    with warnings.catch_warnings(record=True) as log:
        warnings.simplefilter("always")
        ap.set_epoch(net, 1, 3, check_starved=False)  # skipped: mask kept
        assert _starved(log) == []
        ap.set_epoch(net, 1.5, 3)  # fractional: no check by default
        assert _starved(log) == []
        ap.set_epoch(net, 1.5, 3, check_starved=True)
        assert len(_starved(log)) == 1


def test_primitive_is_checked_from_x():
    """``AdaLi(spiking=False)`` has no region code: its units are found from x."""
    surrogate = AdaLi(left=LEFT, right=RIGHT, schedule="fixed", spiking=False)
    x = _currents()[0] - 1.0  # [B, F], some units far below the window
    surrogate(x)
    expected = _entered(x.detach().numpy()[None])
    assert expected.any() and not expected.all()
    np.testing.assert_array_equal(starvation.reached_mask(surrogate), expected)
