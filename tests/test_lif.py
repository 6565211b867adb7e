"""adali_plugins.lif: the 1-byte multi-step LIF against plain autograd, and its
routing inside SpikingJelly 2.0's LIFNode / IFNode."""

from __future__ import annotations

import itertools

import pytest
import torch
from conftest import reference_factor

from adali_plugins.lif import AdaLiLIF, adali_lif_multi_step
from adali_plugins.surrogate import adali_spike, region_code

ALPHA, BETA, LEFT, RIGHT, P = 0.6, 0.4, 0.7, 1.3, 0.3
RESETS = {"hard0": 0.0, "hard-0.2": -0.2, "soft": None}
DYNAMICS = {
    "lif-decay": (2.0, True),
    "lif-nodecay": (2.0, False),
    "if": (None, True),
}


def window_at(epoch: int, total: int = 5) -> torch.Tensor:
    """``[L, R, h_lo, h_hi]`` of the linear, area-keeping schedule at ``epoch``."""
    f = reference_factor(epoch / (total - 1), P, "linear_lagfree")
    left, right = LEFT * f, RIGHT * f
    return torch.tensor([left, right, ALPHA / left, BETA / right], dtype=torch.float64)


def reference(x_seq, v, window, *, tau, decay_input, v_threshold, v_reset, detach):
    """SpikingJelly's LIF/IF step, restated, with plain autograd through it."""
    reset = 0.0 if v_reset is None else v_reset
    spikes, trace = [], []
    for x in x_seq:
        if tau is None:
            h = v + x
        elif decay_input:
            h = v + (x - (v - reset)) / tau
        else:
            h = v - (v - reset) / tau + x
        s = adali_spike(h - v_threshold, window, inclusive=True)
        r = s.detach() if detach else s
        v = h - r * v_threshold if v_reset is None else r * v_reset + (1.0 - r) * h
        spikes.append(s)
        trace.append(v)
    return torch.stack(spikes), v, torch.stack(trace)


def inputs(dtype, shape=(6, 3, 40)):
    x = torch.randn(shape, dtype=torch.float64) * 1.5 + 0.6
    x[1, 1, :2] = float("nan")
    v0 = torch.randn(shape[1:], dtype=torch.float64) * 0.3
    return x.to(dtype), v0.to(dtype)


def assert_grads_match(got, expected):
    for g, e in zip(got, expected, strict=True):
        assert torch.equal(torch.isnan(g), torch.isnan(e))
        torch.testing.assert_close(g, e, equal_nan=True)


def both(x, v0, window, store_v_seq=False, **kw):
    """Gradients of one random loss through the reference and through AdaLiLIF."""
    results = []
    for use_ref in (True, False):
        xa, va = x.clone().requires_grad_(), v0.clone().requires_grad_()
        if use_ref:
            spikes, v, trace = reference(xa, va, window, **kw)
        else:
            spikes, v, trace = adali_lif_multi_step(
                xa,
                va,
                window=window,
                tau=kw["tau"],
                decay_input=kw["decay_input"],
                v_threshold=kw["v_threshold"],
                v_reset=kw["v_reset"],
                detach_reset=kw["detach"],
                store_v_seq=store_v_seq,
            )
        results.append((spikes, v, trace, xa, va))
    return results


CASES = list(
    itertools.product(
        (torch.float64, torch.float32), DYNAMICS, RESETS, (False, True), (0, 2, 4)
    )
)


@pytest.mark.parametrize(
    ("dtype", "dynamics", "reset", "detach", "epoch"),
    CASES,
    ids=[
        f"{str(d)[6:]}-{n}-{r}-{'detach' if k else 'attach'}-e{e}"
        for d, n, r, k, e in CASES
    ],
)
def test_gradients_equal_plain_autograd(dtype, dynamics, reset, detach, epoch):
    tau, decay = DYNAMICS[dynamics]
    x, v0 = inputs(dtype)
    window = window_at(epoch)
    kw = dict(
        tau=tau,
        decay_input=decay,
        v_threshold=1.0,
        v_reset=RESETS[reset],
        detach=detach,
    )
    (s1, v1, _, x1, va1), (s2, v2, trace, x2, va2) = both(x, v0, window, **kw)
    assert trace is None
    assert s2.dtype == dtype and v2.dtype == dtype
    assert torch.equal(s2, s1)
    assert torch.equal(v2.nan_to_num(7.0), v1.nan_to_num(7.0))
    assert s2[1, 1, :2].tolist() == [0.0, 0.0]
    up_s, up_v = torch.randn_like(s1), torch.randn_like(v1)
    expected = torch.autograd.grad((s1 * up_s).sum() + (v1 * up_v).sum(), (x1, va1))
    got = torch.autograd.grad((s2 * up_s).sum() + (v2 * up_v).sum(), (x2, va2))
    assert_grads_match(got, expected)
    if RESETS[reset] is None or detach:
        # NaN input: its surrogate derivative is 0, so no NaN comes back
        assert all(torch.isfinite(g).all() for g in got)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_fires_at_exactly_the_threshold(dtype):
    x = torch.tensor([[2.0, 1.999]], dtype=dtype, requires_grad=True)
    window = window_at(0)
    spikes, _, _ = adali_lif_multi_step(x, torch.zeros(2, dtype=dtype), window=window)
    assert spikes.tolist() == [[1.0, 0.0]]
    (grad,) = torch.autograd.grad(spikes.sum(), x)
    expected = (window[[3, 2]] / 2.0).to(dtype)
    torch.testing.assert_close(grad[0], expected)


@pytest.mark.parametrize("upstream", ["spikes", "v_final"])
@pytest.mark.parametrize("reset", list(RESETS), ids=list(RESETS))
def test_gradient_from_one_output_only(upstream, reset):
    x, v0 = inputs(torch.float64)
    kw = dict(
        tau=2.0, decay_input=True, v_threshold=1.0, v_reset=RESETS[reset], detach=False
    )
    (s1, v1, _, x1, va1), (s2, v2, _, x2, va2) = both(x, v0, window_at(1), **kw)
    out1, out2 = (s1, s2) if upstream == "spikes" else (v1, v2)
    up = torch.randn_like(out1)
    expected = torch.autograd.grad((out1 * up).sum(), (x1, va1))
    got = torch.autograd.grad((out2 * up).sum(), (x2, va2))
    assert_grads_match(got, expected)


@pytest.mark.parametrize("reset", list(RESETS), ids=list(RESETS))
def test_store_v_seq_trace_is_differentiable(reset):
    x, v0 = inputs(torch.float64)
    kw = dict(
        tau=2.0, decay_input=True, v_threshold=0.8, v_reset=RESETS[reset], detach=False
    )
    (s1, v1, t1, x1, va1), (s2, v2, t2, x2, va2) = both(
        x, v0, window_at(3), store_v_seq=True, **kw
    )
    assert torch.equal(t2.nan_to_num(7.0), t1.nan_to_num(7.0))
    assert torch.equal(v2.nan_to_num(7.0), t2[-1].nan_to_num(7.0))
    ups = [torch.randn_like(t) for t in (s1, v1, t1)]

    def loss(outs):
        return sum((o * u).sum() for o, u in zip(outs, ups, strict=True))

    expected = torch.autograd.grad(loss((s1, v1, t1)), (x1, va1))
    got = torch.autograd.grad(loss((s2, v2, t2)), (x2, va2))
    assert_grads_match(got, expected)


HALF_CASES = list(
    itertools.product(
        (torch.float16, torch.bfloat16), ("same", "float32"), RESETS, (1.0, 0.3)
    )
)


@pytest.mark.parametrize(
    ("dtype", "v_dtype", "reset", "threshold"),
    HALF_CASES,
    ids=[f"{str(d)[6:]}-v_{v}-{r}-th{t}" for d, v, r, t in HALF_CASES],
)
def test_half_precision_forward_is_bit_identical(dtype, v_dtype, reset, threshold):
    x, v0 = inputs(dtype, shape=(8, 4, 500))
    v0 = v0.float() if v_dtype == "float32" else v0
    kw = dict(
        tau=2.0,
        decay_input=True,
        v_threshold=threshold,
        v_reset=RESETS[reset],
        detach=False,
    )
    (s1, v1, _, x1, _), (s2, v2, _, x2, _) = both(
        x.nan_to_num(0.5), v0, window_at(2), **kw
    )
    assert s2.dtype == dtype
    assert v2.dtype == torch.promote_types(dtype, v0.dtype)
    assert torch.equal(s2, s1.to(dtype))
    assert torch.equal(v2, v1)
    up = torch.randn(s1.shape).to(dtype)
    (expected,) = torch.autograd.grad((s1 * up).sum(), x1)
    (got,) = torch.autograd.grad((s2 * up).sum(), x2)
    assert got.dtype == dtype
    err = (got.double() - expected.double()).norm() / expected.double().norm()
    assert err < 0.05, float(err)


def test_without_autograd_nothing_is_recorded():
    x, v0 = inputs(torch.float32)
    window = window_at(0)
    with_grad = adali_lif_multi_step(x.requires_grad_(), v0, window=window)
    with torch.no_grad():
        plain = adali_lif_multi_step(x, v0, window=window, store_v_seq=True)
    assert plain[0].grad_fn is None and plain[1].grad_fn is None
    assert torch.equal(plain[0], with_grad[0])
    assert torch.equal(plain[1].nan_to_num(7.0), with_grad[1].nan_to_num(7.0))
    assert plain[2].shape == x.shape


def saved_bytes(fn):
    """Bytes the autograd graph keeps for backward, by dtype."""
    seen: dict[int, tuple[torch.dtype, int]] = {}

    def pack(t):
        seen[id(t)] = (t.dtype, t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, list(seen.values())


@pytest.mark.parametrize(
    ("reset", "detach", "bytes_per_elem"),
    [("soft", False, 1), ("soft", True, 1), ("hard0", True, 1), ("hard0", False, 5)],
    ids=["soft", "soft-detach", "hard-detach", "hard"],
)
def test_saves_one_byte_per_element(reset, detach, bytes_per_elem):
    x, v0 = inputs(torch.float32, shape=(8, 16, 64))
    x = x.nan_to_num(0.0).requires_grad_()
    _, saved = saved_bytes(
        lambda: AdaLiLIF.apply(
            x, v0, window_at(0), 2.0, True, 1.0, RESETS[reset], detach, False
        )
    )
    big = [(d, b) for d, b in saved if b >= x.numel()]
    assert (torch.uint8, x.numel()) in big
    assert sum(b for _, b in big) == bytes_per_elem * x.numel()
    assert sum(b for _, b in saved) - sum(b for _, b in big) <= 64


@pytest.mark.parametrize(
    "dtype",
    [torch.float64, torch.float32, torch.float16, torch.bfloat16],
    ids=["f64", "f32", "f16", "bf16"],
)
def test_saved_codes_are_region_codes(dtype):
    x, v0 = inputs(dtype, shape=(6, 4, 300))
    window = window_at(3)
    x.requires_grad_()
    seen = []

    def pack(t):
        seen.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        adali_lif_multi_step(x, v0, window=window, v_reset=None)
    (codes,) = [t for t in seen if t.dtype == torch.uint8]
    v, expected = v0, []
    bounds = window[:2].to(dtype)
    with torch.no_grad():
        for xt in x:
            h = v + (xt - v) / 2.0
            expected.append(region_code(h - 1.0, bounds[0], bounds[1]))
            v = h - (h - 1.0 >= 0).to(dtype) * 1.0
    assert torch.equal(codes, torch.stack(expected))
    assert set(codes.unique().tolist()) == {0, 1, 2, 3}


def test_rejects_bad_shapes():
    window = window_at(0)
    with pytest.raises(ValueError, match="T >= 1"):
        adali_lif_multi_step(torch.zeros(0, 3), torch.zeros(3), window=window)
    with pytest.raises(ValueError, match="shape"):
        adali_lif_multi_step(torch.zeros(2, 3), torch.zeros(4), window=window)
    with pytest.raises(ValueError, match="dtype"):
        adali_lif_multi_step(
            torch.zeros(2, 3, dtype=torch.int32), torch.zeros(3), window=window
        )


# --------------------------------------------------------------- SpikingJelly 2.0


def _spikingjelly():
    pytest.importorskip("spikingjelly")
    import adali_plugins.spikingjelly as adapter

    if adapter.LEGACY:
        pytest.skip("the fast LIF path is for spikingjelly 2.0")
    from spikingjelly.activation_based import functional, neuron, surrogate

    return adapter, functional, neuron, surrogate


@pytest.fixture
def sj():
    adapter, functional, neuron, surrogate = _spikingjelly()
    yield adapter, functional, neuron, surrogate
    adapter.set_fast_lif(True)


def _node(neuron, kind, g, step_mode, reset=0.0, detach=False, decay=True, **kw):
    if kind == "IFNode":
        return neuron.IFNode(
            v_reset=reset,
            surrogate_function=g,
            detach_reset=detach,
            step_mode=step_mode,
        )
    return neuron.LIFNode(
        tau=2.0,
        decay_input=decay,
        v_reset=reset,
        surrogate_function=g,
        detach_reset=detach,
        step_mode=step_mode,
        **kw,
    )


def _run_node(functional, node, x, step_mode, calls=1):
    """Spikes of ``calls`` consecutive sequences (state kept between them)."""
    functional.reset_net(node)
    outs = []
    for _ in range(calls):
        if step_mode == "m":
            outs.append(node(x))
        else:
            outs.append(torch.stack([node(xt) for xt in x]))
    return torch.cat(outs)


def _uses_fast_path(out):
    """Whether AdaLiLIF's backward is in ``out``'s graph."""
    stack, seen = [out.grad_fn], set()
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        if type(fn).__name__ == "AdaLiLIFBackward":
            return True
        stack.extend(next_fn for next_fn, _ in fn.next_functions)
    return False


NODE_CASES = [
    (kind, mode, reset, detach, decay)
    for kind in ("LIFNode", "IFNode")
    for mode in ("m", "s")
    for reset in RESETS
    for detach in (False, True)
    for decay in ((True, False) if kind == "LIFNode" else (True,))
]


@pytest.mark.spikingjelly
@pytest.mark.parametrize(
    ("kind", "step_mode", "reset", "detach", "decay"),
    NODE_CASES,
    ids=[
        f"{k}-{m}-{r}-{'detach' if d else 'attach'}-{'decay' if c else 'nodecay'}"
        for k, m, r, d, c in NODE_CASES
    ],
)
def test_neuron_matches_spikingjelly_paths(sj, kind, step_mode, reset, detach, decay):
    adapter, functional, neuron, surrogate = sj
    x = torch.randn(8, 4, 3, 50) * 1.5 + 0.5
    up = torch.randn(16, 4, 3, 50)
    results = {}
    for name, fast in (("fast", True), ("autograd", False), ("atan", False)):
        adapter.set_fast_lif(fast)
        if name == "atan":
            g = surrogate.ATan()
        else:
            g = adapter.AdaLi(p=0.3)
            g.set_epoch(2, 5)
        node = _node(neuron, kind, g, step_mode, RESETS[reset], detach, decay)
        xa = x.clone().requires_grad_()
        out = _run_node(functional, node, xa, step_mode, calls=2)
        results[name] = (out, xa, _uses_fast_path(out))
        if name != "atan":
            (out * up).sum().backward()
    fast, slow, atan = results["fast"], results["autograd"], results["atan"]
    assert fast[2] and not slow[2] and not atan[2]
    assert torch.equal(fast[0], slow[0])
    assert torch.equal(fast[0], atan[0])
    torch.testing.assert_close(fast[1].grad, slow[1].grad)


@pytest.mark.spikingjelly
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
@pytest.mark.parametrize("reset", list(RESETS), ids=list(RESETS))
def test_neuron_half_precision_matches(sj, dtype, reset):
    adapter, functional, neuron, _ = sj
    x = (torch.randn(8, 4, 200) * 1.5 + 0.5).to(dtype)
    outs = []
    for fast in (True, False):
        adapter.set_fast_lif(fast)
        node = _node(neuron, "LIFNode", adapter.AdaLi(), "m", RESETS[reset])
        xa = x.clone().requires_grad_()
        out = _run_node(functional, node, xa, "m")
        out.float().sum().backward()
        outs.append((out, xa.grad.float()))
    (fast, g_fast), (slow, g_slow) = outs
    assert fast.dtype == dtype and torch.equal(fast, slow)
    assert (g_fast - g_slow).norm() / g_slow.norm() < 0.05


@pytest.mark.spikingjelly
@pytest.mark.parametrize(
    ("reset", "limit"), [("soft", 1.1), ("hard0", 5.1)], ids=["soft", "hard"]
)
def test_neuron_saves_at_most(sj, reset, limit):
    adapter, functional, neuron, _ = sj
    node = _node(neuron, "LIFNode", adapter.AdaLi(), "m", RESETS[reset])
    x = torch.randn(8, 16, 8, 28).requires_grad_()
    functional.reset_net(node)
    out, saved = saved_bytes(lambda: node(x))
    assert _uses_fast_path(out)
    assert sum(b for _, b in saved) / x.numel() <= limit
    assert any(d == torch.uint8 and b == x.numel() for d, b in saved)
    if reset == "soft":
        assert not any(d.is_floating_point and b >= x[0].numel() for d, b in saved)


@pytest.mark.spikingjelly
@pytest.mark.parametrize("reset", list(RESETS), ids=list(RESETS))
def test_store_v_seq_in_neuron(sj, reset):
    adapter, functional, neuron, _ = sj
    x = torch.randn(6, 4, 30) * 1.5 + 0.5
    results = []
    for fast in (True, False):
        adapter.set_fast_lif(fast)
        node = _node(
            neuron, "LIFNode", adapter.AdaLi(), "m", RESETS[reset], store_v_seq=True
        )
        xa = x.clone().requires_grad_()
        functional.reset_net(node)
        out = node(xa)
        (out.sum() + node.v_seq.pow(2).sum() + node.v.sum()).backward()
        results.append((out, node.v_seq.detach(), node.v.detach(), xa.grad))
        assert _uses_fast_path(out) == fast
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b)
    assert torch.equal(results[0][1][-1], results[0][2])


@pytest.mark.spikingjelly
def test_reset_net_restores_the_initial_state(sj):
    adapter, functional, neuron, _ = sj
    node = _node(neuron, "LIFNode", adapter.AdaLi(), "m", -0.2)
    x = torch.randn(5, 3, 20) * 2
    first = node(x)
    assert isinstance(node.v, torch.Tensor)
    functional.reset_net(node)
    assert node.v == -0.2
    assert torch.equal(node(x), first)


@pytest.mark.spikingjelly
def test_calls_that_need_the_surrogate_fall_back(sj):
    adapter, functional, neuron, surrogate = sj
    x = torch.randn(4, 3, 10).requires_grad_()
    seen = []
    g = adapter.AdaLi()
    handle = g.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    node = _node(neuron, "LIFNode", g, "m")
    assert not _uses_fast_path(node(x)) and len(seen) == 4
    handle.remove()
    functional.reset_net(node)
    assert _uses_fast_path(node(x))

    class Tweaked(adapter.AdaLi):
        pass

    for other in (Tweaked(), adapter.AdaLi(spiking=False), surrogate.Sigmoid()):
        node = _node(neuron, "LIFNode", other, "m")
        assert not _uses_fast_path(node(x))


@pytest.mark.spikingjelly
def test_set_fast_lif_restores_the_original_functions(sj):
    adapter, functional, _, _ = sj
    from spikingjelly.activation_based.functional import neuron as defining

    adapter.AdaLi()  # the first AdaLi built installs the wrappers
    assert adapter.fast_lif_enabled()
    wrapped = functional.lif_multi_step
    original = wrapped.__wrapped__
    assert defining.lif_multi_step is wrapped
    adapter.set_fast_lif(False)
    assert not adapter.fast_lif_enabled()
    assert functional.lif_multi_step is original
    assert defining.lif_multi_step is original
    assert functional.if_multi_step is defining.if_multi_step
    assert not hasattr(functional.if_multi_step, "_adali_fast_lif")
    adapter.set_fast_lif(True)
    adapter.set_fast_lif(True)
    assert functional.lif_multi_step is wrapped and adapter.fast_lif_enabled()
    adapter._register()
    assert functional.lif_multi_step is wrapped
    with adapter.fast_lif(False):
        assert functional.lif_multi_step is original
        adapter.AdaLi()  # an explicit off is not undone by building AdaLi
        assert functional.lif_multi_step is original
    assert functional.lif_multi_step is wrapped


@pytest.mark.spikingjelly
def test_attach_routes_existing_model(sj):
    import adali_plugins as ap

    _, functional, neuron, surrogate = sj
    net = torch.nn.Sequential(
        neuron.LIFNode(surrogate_function=surrogate.ATan(), step_mode="m")
    )
    x = torch.randn(4, 2, 10).requires_grad_()
    assert not _uses_fast_path(net(x))
    ap.attach(net, output="adali")
    functional.reset_net(net)
    assert _uses_fast_path(net(x))
