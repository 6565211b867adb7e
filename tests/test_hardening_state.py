"""Issue 24, the library's state: every attack on AdaLi's buffers, reproduced as
written, and the behaviour that replaces it.

Rows 7, 8 and 12 of the issue's table, "not set" stored as a value equal to
itself, and the smaller findings (the refusal message, the monitor's histogram,
``restore_training_state``, integer scalars from numpy / torch, bool tensors).
Real host neurons throughout; nothing is mocked.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import adali_plugins as ap
from adali_plugins.checkpoint import restore_training_state, training_state
from adali_plugins.monitor import MembraneMonitor
from adali_plugins.state import STATE_KEYS, UNSET, AdaLiState, AdaLiStateError

snn = pytest.importorskip("snntorch")
pytest.importorskip("spikingjelly")
from snntorch import utils  # noqa: E402
from spikingjelly.activation_based import functional, layer, neuron  # noqa: E402

from adali_plugins.snntorch import adali  # noqa: E402
from adali_plugins.spikingjelly import AdaLi  # noqa: E402


def snn_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(2, 3),
        snn.Leaky(beta=0.9, init_hidden=True, spike_grad=adali()),
        nn.Linear(3, 2),
        snn.Leaky(beta=0.9, init_hidden=True, spike_grad=adali(schedule="cosine")),
    )


def sj_net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(
        layer.Linear(2, 3),
        neuron.LIFNode(surrogate_function=AdaLi()),
        layer.Linear(3, 2),
        neuron.IFNode(surrogate_function=AdaLi(keep="height", p=0.5)),
    )
    functional.set_step_mode(net, "m")
    return net


NETS = {"snntorch": snn_net, "spikingjelly": sj_net}


def _layers(net: nn.Module) -> list[AdaLiState]:
    return [m for m in net.modules() if isinstance(m, AdaLiState)]


def _buffers(net: nn.Module) -> dict[str, torch.Tensor]:
    """Every AdaLi state buffer, the non-persistent window included, cloned."""
    return {
        f"{i}.{name}": getattr(layer_, name).clone()
        for i, layer_ in enumerate(_layers(net))
        for name in (*STATE_KEYS, "window")
    }


def _identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    changed = [k for k in a if not torch.equal(a[k], b[k])]
    assert not changed, f"changed: {changed}"


def _grad(net: nn.Module, host: str) -> torch.Tensor:
    """The input gradient of one fixed batch (depends on every window)."""
    x = torch.linspace(-2.0, 2.0, 24).reshape(4, 3, 2)
    x = (x if host == "spikingjelly" else x[0]).clone().requires_grad_(True)
    if host == "spikingjelly":
        functional.reset_net(net)
    else:
        utils.reset(net)
    out = net(x)
    (out * torch.arange(1.0, out.shape[-1] + 1)).sum().backward()
    return x.grad


def _moved(host: str) -> nn.Module:
    net = NETS[host]()
    ap.set_epoch(net, 3, 10)
    _layers(net)[0].set_params(alpha=0.3, beta=0.7)
    return net


# ------------------------------------------------------------- row 7


@pytest.mark.parametrize("host", NETS)
def test_row7_nan_alpha_without_beta_changes_nothing(host):
    """The attack as written: plain ``load_state_dict``, ``alpha = NaN``, no
    ``beta``. Refused with one error, every buffer as before, and repr,
    set_epoch, reloading the model's own state and forward all still work."""
    net = _moved(host)
    grad = _grad(net, host)
    before = _buffers(net)
    own = net.state_dict()
    sd = net.state_dict()
    key = next(k for k in sd if k.endswith(".alpha"))
    sd[key] = torch.tensor(math.nan, dtype=torch.float64)
    del sd[key.replace(".alpha", ".beta")]
    with pytest.raises(AdaLiStateError, match="lack") as info:
        net.load_state_dict(sd)
    assert "beta" in str(info.value) and "no AdaLi layer was changed" in str(info.value)
    _identical(before, _buffers(net))
    assert "window=" in repr(net)
    assert torch.equal(_grad(net, host), grad)
    net.load_state_dict(own)
    _identical(before, _buffers(net))
    with warnings.catch_warnings():  # starved units: not this test's subject
        warnings.simplefilter("ignore")
        ap.set_epoch(net, 5, 10)


@pytest.mark.parametrize("host", NETS)
@pytest.mark.parametrize("drop", [True, False], ids=["without-beta", "complete"])
def test_row7_progress_2_is_refused_and_does_not_persist(host, drop):
    net = _moved(host)
    before = _buffers(net)
    sd = net.state_dict()
    key = next(k for k in sd if k.endswith(".progress"))
    sd[key] = torch.tensor(2.0, dtype=torch.float64)
    if drop:
        del sd[key.replace(".progress", ".beta")]
    with pytest.raises(AdaLiStateError, match="beta" if drop else "progress"):
        net.load_state_dict(sd)
    _identical(before, _buffers(net))
    ap.set_epoch(net, 4, 10)
    assert "progress=" in repr(net)


@pytest.mark.parametrize("name", STATE_KEYS)
def test_strict_load_missing_one_key_of_a_group_fails(name):
    source, target = _moved("snntorch"), snn_net()
    before = _buffers(target)
    sd = source.state_dict()
    del sd["3.spike_grad." + name]
    with pytest.raises(AdaLiStateError, match=rf"3\.spike_grad: .*{name}"):
        target.load_state_dict(sd)
    _identical(before, _buffers(target))


def test_non_strict_load_missing_keys_keeps_current_values_consistently():
    target = snn_net()
    g = target[1].spike_grad
    g.set_params(left=0.8, left_final=0.2, right_final=0.4)
    sd = _moved("snntorch").state_dict()
    for name in ("left", "left_final", "progress"):
        del sd["1.spike_grad." + name]
    result = target.load_state_dict(sd, strict=False)
    assert sorted(result.missing_keys) == [
        "1.spike_grad.left",
        "1.spike_grad.left_final",
        "1.spike_grad.progress",
    ]
    p = g.params
    assert (p.left, p.left_final, p.right_final) == (0.8, 0.2, None)
    assert (p.alpha, p.beta) == (0.3, 0.7)  # the entries present were loaded
    assert float(g.progress) == 0.0
    want = p.window(0.0)
    assert g.window.tolist() == [want.left, want.right, want.h_lo, want.h_hi]


def test_plain_checkpoint_without_adali_still_loads_strictly():
    net = _moved("snntorch")
    before = _buffers(net)
    sd = {k: v for k, v in net.state_dict().items() if ".spike_grad." not in k}
    result = net.load_state_dict(sd)
    assert (result.missing_keys, result.unexpected_keys) == ([], [])
    _identical(before, _buffers(net))


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("alpha", torch.tensor(True), "floating-point"),
        ("alpha", torch.tensor(1), "floating-point"),
        ("progress", torch.tensor(0.5, dtype=torch.complex64), "floating-point"),
        ("keep_code", torch.tensor(1.0, dtype=torch.float64), "integer tensor"),
        ("schedule_code", torch.tensor(False), "integer tensor"),
        ("left", torch.tensor([1.0, 2.0], dtype=torch.float64), "one number"),
        ("left", 1.0, "must be a tensor"),
        ("p", torch.tensor(-2.0, dtype=torch.float64), "p"),
        ("max_height", torch.tensor(math.inf, dtype=torch.float64).neg(), "max"),
    ],
    ids=[
        "bool-alpha",
        "int-alpha",
        "complex",
        "float-code",
        "bool-code",
        "two-numbers",
        "python-float",
        "p-negative",
        "cap-minus-inf",
    ],
)
def test_wrong_kind_of_entry_is_refused_and_changes_nothing(key, value, match):
    net = _moved("snntorch")
    before = _buffers(net)
    weights = net[2].weight.clone()
    sd = net.state_dict()
    sd["3.spike_grad." + key] = value
    sd["2.weight"] = torch.zeros_like(weights)
    with pytest.raises(AdaLiStateError, match=match):
        net.load_state_dict(sd)
    _identical(before, _buffers(net))
    assert torch.equal(net[2].weight, weights)  # after the first AdaLi layer


def test_refusal_says_nothing_was_loaded_only_when_true():
    g = adali()
    sd = g.state_dict()
    sd["alpha"] = torch.tensor(math.nan, dtype=torch.float64)
    with pytest.raises(AdaLiStateError, match="nothing was loaded"):
        g.load_state_dict(sd)
    net = _moved("snntorch")
    sd = net.state_dict()
    sd["0.weight"] = torch.zeros_like(sd["0.weight"])
    sd["3.spike_grad.alpha"] = torch.tensor(math.nan, dtype=torch.float64)
    with pytest.raises(AdaLiStateError) as info:
        net.load_state_dict(sd)
    text = str(info.value)
    assert "nothing was loaded" not in text
    assert "torch had already copied" in text and "0.weight" in text
    assert "load_model_state" in text
    assert torch.equal(net[0].weight, sd["0.weight"])  # what torch did, said
    net2 = _moved("snntorch")
    w = net2[0].weight.clone()
    with pytest.raises(AdaLiStateError):
        ap.load_model_state(net2, sd)
    assert torch.equal(net2[0].weight, w)  # the all-or-nothing way


# ------------------------------------------------------------- row 8


def test_row8_tiny_width_is_refused_in_float32_with_one_line():
    with pytest.raises(ValueError, match=r"alpha / left .*float32") as info:
        adali(left=1e-39, left_final=1e-39)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match=r"left must be >= 1\.1754944e-38"):
        adali(alpha=1e-6, left=1e-39, left_final=1e-39)
    with pytest.raises(ValueError, match=r"beta / right_final"):
        AdaLi(beta=1e5, right_final=1e-34)


def test_row8_accepted_windows_give_finite_float32_gradients():
    g = adali(alpha=0.5, left=2e-38, left_final=2e-38, max_height=1e30)
    x = torch.tensor([-1e-38, 0.0, 0.1], requires_grad=True)
    g(x).sum().backward()
    assert torch.isfinite(x.grad).all()
    third = pytest.approx(0.5 / 1.5, rel=1e-6)
    assert x.grad.tolist() == [pytest.approx(1e30, rel=1e-6), third, third]


def test_row8_callable_schedule_that_overflows_float32_is_refused():
    g = adali(left=1e-30, right=1.0, schedule=lambda q: 1.0 - q * (1 - 1e-9))
    before = _buffers(nn.Sequential(g))
    with pytest.raises(ValueError, match="float32"):
        g.set_progress(1.0)
    _identical(before, _buffers(nn.Sequential(g)))


HALF = {
    # dtype: (a window that fits float32 but not the half type, a change that
    # breaks a window that fitted)
    torch.float16: (dict(alpha=0.5, left=1e-6), dict(left=1e-6)),
    torch.bfloat16: (
        dict(alpha=6.79, left=2e-38, left_final=2e-38),
        dict(alpha=6.79, left=2e-38, left_final=2e-38),
    ),
}


@pytest.mark.parametrize("dtype", list(HALF), ids=str)
def test_row8_heights_are_checked_in_the_half_type_the_model_is_cast_to(dtype):
    name = str(dtype).removeprefix("torch.")
    too_big, change = HALF[dtype]
    with pytest.raises(ValueError, match=rf"{name}'s largest number") as info:
        nn.Sequential(AdaLi(**too_big)).to(dtype)
    assert "\n" not in str(info.value)
    ok = nn.Sequential(AdaLi(alpha=0.5, left=1.0, left_final=0.5)).to(dtype)
    g = ok[0]
    assert g.window.dtype == torch.float64  # the buffers are never cast
    before = _buffers(ok)
    with pytest.raises(ValueError, match=name):
        g.set_params(**change)
    _identical(before, _buffers(ok))
    x = torch.tensor([-0.3, 0.0, 0.2, 3.0], dtype=dtype, requires_grad=True)
    g(x).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.dtype == dtype


# ------------------------------------------------------------- row 12


def _sj_source() -> tuple[nn.Module, dict[str, torch.Tensor]]:
    src = _moved("spikingjelly")
    return src, src.state_dict()


@pytest.mark.parametrize("way", ["assign", "to_empty"])
def test_row12_meta_device_model_loads(way):
    src, sd = _sj_source()
    with torch.device("meta"):
        net = sj_net()
    assert _layers(net)[0].window.is_meta
    if way == "assign":
        net.load_state_dict(sd, assign=True)
    else:
        net.to_empty(device="cpu")
        net.load_state_dict(sd)
    for a, b in zip(_layers(src), _layers(net), strict=True):
        assert not b.window.is_meta
        assert torch.equal(a.window, b.window) and a.params == b.params
        assert float(a.progress) == float(b.progress)
    assert torch.equal(_grad(net, "spikingjelly"), _grad(src, "spikingjelly"))
    assert "window=" in repr(net)


def test_row12_meta_module_knows_its_values_before_any_load():
    with torch.device("meta"):
        g = adali(left=0.9, schedule="fixed")
    assert g.params.left == 0.9 and g.current_window().left == 0.9
    assert "left=0.9" in repr(g)
    g.to_empty(device="cpu")  # no load: the constructed window
    assert g.window.tolist()[:2] == [0.9, 1.5]
    with torch.device("meta"):
        h = adali()
    h.load_state_dict(g.state_dict(), assign=True)
    assert torch.equal(h.window, g.window) and h.params == g.params
    assert not any(b.is_meta for b in h.buffers())


def test_assign_load_into_a_real_model_copies_and_never_aliases_the_dict():
    src = _moved("snntorch")
    sd = {k: v.clone() for k, v in src.state_dict().items()}
    net = snn_net()
    net.load_state_dict(sd, assign=True)
    g = net[1].spike_grad
    assert g.params == src[1].spike_grad.params
    assert torch.equal(g.window, src[1].spike_grad.window)
    sd["1.spike_grad.alpha"].fill_(9.0)
    sd["1.spike_grad.max_height"].fill_(5.0)
    assert g.params == src[1].spike_grad.params


# ------------------------------------------------- "not set" equals itself


@pytest.mark.parametrize("host", NETS)
def test_unset_options_are_stored_as_a_value_equal_to_itself(host):
    net = NETS[host]()
    sd = net.state_dict()
    clone = {k: v.clone() for k, v in sd.items()}
    unequal = [k for k in sd if not torch.equal(sd[k], clone[k])]
    assert not unequal, unequal
    assert all(torch.allclose(sd[k], clone[k]) for k in sd if sd[k].is_floating_point())
    assert float(sd[next(k for k in sd if k.endswith(".max_height"))]) == UNSET
    assert _layers(net)[0].params.max_height is None


@pytest.mark.parametrize("old", [math.nan, math.inf], ids=["nan", "inf"])
def test_unset_as_saved_before_still_loads(old):
    sd = adali(p=0.5).state_dict()
    for name in ("left_final", "right_final", "max_height"):
        sd[name] = torch.tensor(old, dtype=torch.float64)
    g = adali(max_height=3.0, left_final=0.1)
    g.load_state_dict(sd)
    assert g.params == adali(p=0.5).params
    assert float(g.max_height) == UNSET and float(g.left_final) == UNSET
    sd["alpha"] = torch.tensor(old, dtype=torch.float64)
    with pytest.raises(AdaLiStateError, match="alpha"):
        g.load_state_dict(sd)


def test_spikingjelly_functional_forward_leaves_state_equal():
    """The hosts' own purity check: a forward in eval mode leaves every
    state_dict entry ``torch.equal`` to a clone taken before."""
    net = sj_net().eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        functional.reset_net(net)
        net(torch.randn(4, 3, 2))
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


# ------------------------------------------------------------- smaller


def test_monitor_refuses_a_wrong_shaped_histogram_and_changes_nothing():
    net = nn.Sequential(snn.Leaky(beta=0.9, init_hidden=True, spike_grad=adali()))
    net2 = nn.Sequential(snn.Leaky(beta=0.9, init_hidden=True, spike_grad=adali()))
    with MembraneMonitor(net) as mon, MembraneMonitor(net2) as other:
        utils.reset(net)
        net(torch.randn(5, 4))
        utils.reset(net2)
        net2(torch.randn(5, 4))
        good = other.state_dict()
        bad = mon.state_dict()
        bad["layers"]["0"]["state"]["hist"] = torch.zeros(7, dtype=torch.int64)
        before = other.state_dict()
        with pytest.raises(ValueError, match=r"hist must be .*shape \(200,\)"):
            other.load_state_dict(bad)
        after = other.state_dict()
        assert after["layers"]["0"]["calls"] == before["layers"]["0"]["calls"]
        for k, v in before["layers"]["0"]["state"].items():
            assert torch.equal(v, after["layers"]["0"]["state"][k])
        bad["layers"]["0"]["state"] = dict(good["layers"]["0"]["state"])
        bad["layers"]["0"]["calls"] = True
        with pytest.raises(ValueError, match="calls"):
            other.load_state_dict(bad)
        other.load_state_dict(mon.state_dict())  # a good one still loads


def test_restore_training_state_is_all_or_nothing():
    src = _moved("snntorch")
    opt = torch.optim.SGD(src.parameters(), lr=0.1, momentum=0.9)
    _grad(src, "snntorch")
    opt.step()
    state = training_state(model=src, optimizer=opt)
    state["optimizer"]["param_groups"] = []  # fails after the model part
    net = snn_net()
    net_opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rng = torch.get_rng_state()
    with pytest.raises(ValueError):
        restore_training_state(state, model=net, optimizer=net_opt)
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert net_opt.state_dict()["state"] == {}
    assert torch.equal(torch.get_rng_state(), rng)


def test_set_epoch_accepts_numpy_and_torch_integers():
    ref = _moved("snntorch")
    ap.set_epoch(ref, 1, 5)
    for total in (np.int64(5), np.int32(5), torch.tensor(5)):
        net = _moved("snntorch")
        assert ap.set_epoch(net, np.int64(1), total) == 2
        _identical(_buffers(ref), _buffers(net))
    sched = ap.AdaLiScheduler(
        _moved("snntorch"), total_epochs=np.int64(5), steps_per_epoch=np.int64(2)
    )
    assert type(sched.state_dict()["total_epochs"]) is int
    assert type(sched.state_dict()["steps_per_epoch"]) is int


@pytest.mark.parametrize(
    "total",
    [True, np.bool_(True), torch.tensor(True), 5.0, "5", torch.tensor(5.0)],
    ids=["bool", "np-bool", "torch-bool", "float", "str", "float-tensor"],
)
def test_set_epoch_refuses_bools_and_non_integers_with_one_line(total):
    net = _moved("snntorch")
    before = _buffers(net)
    with pytest.raises(TypeError, match="total_epochs must be an integer") as info:
        ap.set_epoch(net, 1, total)
    assert "\n" not in str(info.value)
    _identical(before, _buffers(net))
