"""Fuzzing AdaLi's state-dict groups: missing keys, bad values, wrong dtypes.

Issue 24, point 5 (the library's part). A two-layer snnTorch net loads its own
weights with AdaLi groups drawn from its own state, from another AdaLi
configuration, or from garbage (NaN, infinities, the "not set" marker in any
key, integer / bool / half tensors, wrong shapes, plain Python values, a
pre-0.2 ``_extra_state``), with keys dropped, under ``strict`` True or False.

After a failed load the model is exactly as before: ``torch.equal`` on every
AdaLi buffer (the window included) and an identical input gradient. After a
successful one the state is consistent: the window is the one its parameters
give, every entry equals its own clone, and the model's own ``state_dict``
reloads. Bounded: ``EXAMPLES`` examples, about 10 s on one core.
"""

from __future__ import annotations

import math

import pytest
import torch
from conftest import deadline
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from torch import nn

from adali_plugins.state import STATE_KEYS, UNSET, AdaLiState, AdaLiStateError

snn = pytest.importorskip("snntorch")
from snntorch import utils  # noqa: E402

from adali_plugins.snntorch import adali  # noqa: E402

EXAMPLES = 100
CODES = ("schedule_code", "keep_code")


def _net(**kw) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(2, 4),
        snn.Leaky(beta=0.9, init_hidden=True, spike_grad=adali()),
        nn.Linear(4, 2),
        snn.Leaky(beta=0.9, init_hidden=True, spike_grad=adali(**kw)),
    )


@pytest.fixture(scope="module")
def nets():
    model = _net(schedule="cosine")
    model[1].spike_grad.set_params(alpha=0.3, left=0.7, max_height=2.0)
    model[3].spike_grad.set_progress(0.4)
    other = _net(keep="height", p=0.25, schedule="exp")
    other[3].spike_grad.set_progress(0.9)
    return model, other.state_dict()


def _layers(net: nn.Module) -> list[AdaLiState]:
    return [m for m in net.modules() if isinstance(m, AdaLiState)]


def _adali_buffers(net: nn.Module) -> dict[str, torch.Tensor]:
    return {
        f"{i}.{name}": getattr(layer, name).clone()
        for i, layer in enumerate(_layers(net))
        for name in (*STATE_KEYS, "window")
    }


def _grad(net: nn.Module) -> torch.Tensor:
    x = torch.linspace(-3.0, 3.0, 10).reshape(5, 2).requires_grad_(True)
    utils.reset(net)
    (net(x) * torch.tensor([1.0, -2.0])).sum().backward()
    net.zero_grad(set_to_none=True)
    return x.grad


_number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([UNSET, 0.0, -0.0, 1e-39, 1e-320, 0.5, 1.0, 1.5, 2.0, 1e38]),
    st.integers(-3, 9).map(float),
)
_dtype = st.sampled_from(
    [
        torch.float64,
        torch.float64,
        torch.float32,
        torch.float16,
        torch.int64,
        torch.int32,
        torch.uint8,
        torch.bool,
    ]
)
_shape = st.sampled_from([(), (), (), (1,), (2,), (0,), (1, 1)])


@st.composite
def _garbage(draw):
    """A value for one AdaLi key that a checkpoint, a bug or an attacker might
    hold; some of them are valid."""
    kind = draw(st.sampled_from(["tensor", "tensor", "tensor", "python"]))
    number = draw(_number)
    if kind == "python":
        return draw(
            st.sampled_from(
                [number, int(number) if math.isfinite(number) else 0, None, "0.5"]
            )
        )
    dtype, shape = draw(_dtype), draw(_shape)
    value = number
    if not dtype.is_floating_point:
        if not math.isfinite(number):
            value = 0
        value = int(min(max(value, -(2**31)), 2**31 - 1))
        if dtype == torch.uint8:
            value = value % 256
        if dtype == torch.bool:
            value = bool(value)
    if dtype.is_floating_point:  # through float64: 1e38 in float16 is inf
        return torch.full(shape, value, dtype=torch.float64).to(dtype)
    return torch.full(shape, value, dtype=dtype)


_LEGACY = st.fixed_dictionaries(
    {},
    optional={
        "schedule": st.sampled_from(["linear", "log", "callable", "nope", 3]),
        "keep": st.sampled_from(["area", "height", "both", None]),
    },
)


def _some(keys: list[str], most: int) -> st.SearchStrategy[list[str]]:
    """None of ``keys`` half the time, else 1 to ``most`` of them."""
    return st.one_of(
        st.just([]), st.lists(st.sampled_from(keys), min_size=1, max_size=most)
    )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_adali_group_loads_whole_or_changes_nothing(nets, data):
    model, other = nets
    own = {k: v.clone() for k, v in model.state_dict().items()}
    base = data.draw(st.sampled_from(["own", "other"]), label="groups from")
    sd = {
        k: (other[k] if base == "other" and ".spike_grad." in k else v.clone())
        for k, v in own.items()
    }
    keys = [k for k in sd if ".spike_grad." in k]
    for key in data.draw(_some(keys, 4), label="bad"):
        sd[key] = data.draw(_garbage(), label=key)
    for key in data.draw(_some(keys, 3), label="drop"):
        sd.pop(key, None)
    if data.draw(st.booleans(), label="legacy extra"):
        sd["3.spike_grad._extra_state"] = data.draw(_LEGACY, label="extra")
    strict = data.draw(st.booleans(), label="strict")
    before, grad = _adali_buffers(model), _grad(model)
    try:
        with deadline(10.0):
            try:
                result = model.load_state_dict(sd, strict=strict)
            except (AdaLiStateError, ValueError, TypeError, RuntimeError) as err:
                event(f"refused: {type(err).__name__}")
                after = _adali_buffers(model)
                changed = [k for k in before if not torch.equal(before[k], after[k])]
                assert not changed, f"changed on error: {changed}: {err}"
                assert torch.equal(_grad(model), grad)
                return
        event("loaded" + (" with missing keys" if result.missing_keys else ""))
        for layer in _layers(model):
            w = layer.params.window(float(layer.progress))
            assert layer.window.tolist() == [w.left, w.right, w.h_lo, w.h_hi]
            assert "window=" in repr(layer)
        state = model.state_dict()
        assert all(torch.equal(v, v.clone()) for v in state.values())
        model.load_state_dict(state)
    finally:
        model.load_state_dict(own)
