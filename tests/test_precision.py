"""Half precision and autocast: spikes and gradients in the input's dtype."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import adali_plugins as ap
from adali_plugins.surrogate import adali_spike

snn = pytest.importorskip("snntorch")
pytest.importorskip("spikingjelly")

from adali_plugins.snntorch import adali  # noqa: E402
from adali_plugins.spikingjelly import AdaLi  # noqa: E402

DTYPES = [torch.float16, torch.bfloat16]
TOL = {torch.float16: 2**-10, torch.bfloat16: 2**-7}


def _reference_window():
    g = adali(alpha=0.6, beta=0.4, left=0.7, right=1.1)
    g.set_epoch(2, 5)
    return g.window


@pytest.mark.parametrize("dtype", DTYPES, ids=["fp16", "bf16"])
@pytest.mark.parametrize("inclusive", [True, False], ids=["ge", "gt"])
def test_half_inputs_match_float32_within_dtype_tolerance(dtype, inclusive):
    window = _reference_window()
    x16 = (torch.randn(10_000) * 1.5).to(dtype).requires_grad_()
    x32 = x16.detach().float().requires_grad_()
    up16 = torch.rand(10_000).to(dtype)
    out16 = adali_spike(x16, window, inclusive=inclusive)
    out32 = adali_spike(x32, window, inclusive=inclusive)
    assert out16.dtype == dtype
    assert torch.equal(out16.float(), out32)
    out16.backward(up16)
    out32.backward(up16.float())
    assert x16.grad.dtype == dtype
    left, right = float(window[0]), float(window[1])
    away = ((x32 - -left).abs() > 0.01) & ((x32 - right).abs() > 0.01)
    err = ((x16.grad.float() - x32.grad).abs() / x32.grad.abs().clamp(min=1e-6))[away]
    assert err.max() <= 2 * TOL[dtype], float(err.max())


@pytest.mark.parametrize("host", ["snntorch", "spikingjelly"])
def test_autocast_bf16_on_cpu(host):
    torch.manual_seed(0)
    if host == "snntorch":
        net = nn.Sequential(
            nn.Linear(16, 32), snn.Leaky(beta=0.5, init_hidden=True, spike_grad=adali())
        )
    else:
        from spikingjelly.activation_based import layer, neuron

        net = nn.Sequential(
            layer.Linear(16, 32), neuron.LIFNode(surrogate_function=AdaLi())
        )
    x = torch.randn(64, 16) * 2
    seen = []
    surrogate = net[1].spike_grad if host == "snntorch" else net[1].surrogate_function
    handle = surrogate.register_forward_hook(
        lambda m, i, o: seen.append((i[0].dtype, o.dtype))
    )
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(x)
    handle.remove()
    assert seen and all(i == o for i, o in seen)
    # spikingjelly 0.0.0.0.14 keeps v in float32, so its surrogate input is float32
    assert out.dtype == seen[-1][1]
    out.float().sum().backward()
    grad_bf16 = net[0].weight.grad.clone()
    net.zero_grad()
    if host == "snntorch":
        from snntorch import utils

        utils.reset(net)
    else:
        from spikingjelly.activation_based import functional

        functional.reset_net(net)
    ref = net(x)
    agree = (out.float() == ref).float().mean()
    assert agree > 0.97
    ref.sum().backward()
    rel = (grad_bf16 - net[0].weight.grad).norm() / net[0].weight.grad.norm()
    assert rel < 0.1, float(rel)


def test_attach_then_half_model_keeps_float64_state():
    net = nn.Sequential(nn.Linear(4, 4), snn.Leaky(beta=0.5, init_hidden=True))
    ap.attach(net, output="adali")
    net.half()
    g = net[1].spike_grad
    assert g.window.dtype == torch.float64 and float(g.alpha) == 0.5
    out = net(torch.randn(2, 4).half())
    assert out.dtype == torch.float16
