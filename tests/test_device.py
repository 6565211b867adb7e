"""The surrogate, the reference models and the bench on an accelerator.

Runs on ``ADALI_TEST_DEVICE`` (default ``cuda``) and is skipped where that
device is absent, as on the CPU-only CI. ``ADALI_TEST_DEVICE=cpu`` runs the same
checks on the CPU, which is how they are kept working without a GPU.
"""

from __future__ import annotations

import math
import os

import pytest
import torch

from adali_plugins import kernels
from adali_plugins.compare import bench
from adali_plugins.compare.models import conv_net
from adali_plugins.surrogate import adali_spike

DEVICE = os.environ.get("ADALI_TEST_DEVICE", "cuda")

pytestmark = pytest.mark.skipif(
    DEVICE == "cuda" and not torch.cuda.is_available(),
    reason="no CUDA device (set ADALI_TEST_DEVICE=cpu to run these on the CPU)",
)

DTYPES = [torch.float32, torch.bfloat16, torch.float16]


def _inputs(dtype: torch.dtype) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(kernels.MIN_ELEMENTS + 777, generator=gen) * 2
    x[:6] = torch.tensor([math.nan, math.inf, -math.inf, 0.0, -0.6, 1.2])
    return x.to(dtype)


def _spike_and_grad(x: torch.Tensor, inclusive: bool) -> tuple[torch.Tensor, ...]:
    window = torch.tensor([0.6, 1.2, 0.9, 0.4], dtype=torch.float64, device=x.device)
    x = x.clone().requires_grad_()
    up = torch.linspace(0.5, 1.5, x.numel(), device=x.device).to(x.dtype)
    out = adali_spike(x, window, inclusive=inclusive)
    out.backward(up)
    return out.cpu(), x.grad.cpu()


@pytest.mark.parametrize("dtype", DTYPES, ids=["fp32", "bf16", "fp16"])
@pytest.mark.parametrize("inclusive", [True, False], ids=["ge", "gt"])
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_device_gives_the_cpu_numbers_exactly(dtype, inclusive, compiled):
    x = _inputs(dtype)
    expected = _spike_and_grad(x, inclusive)
    with kernels.compiled(compiled):
        got = _spike_and_grad(x.to(DEVICE), inclusive)
        assert kernels.compiled_enabled() == compiled, "the kernels failed to build"
    assert torch.equal(got[0], expected[0])
    assert torch.equal(got[1], expected[1])


@pytest.mark.parametrize("host", ["snntorch", "spikingjelly"])
def test_reference_model_trains_on_the_device(host):
    pytest.importorskip(host)
    from adali_plugins.snntorch import adali
    from adali_plugins.spikingjelly import AdaLi

    make = adali if host == "snntorch" else AdaLi
    torch.manual_seed(0)
    model = conv_net(host, lambda: make(left=2.0, right=2.0), size=16).to(DEVICE)
    windows = [b for name, b in model.named_buffers() if name.endswith("window")]
    assert windows and all(w.device.type == DEVICE for w in windows)
    x = torch.rand(4, 8, 1, 16, 16, device=DEVICE) * 4
    y = torch.randint(0, 10, (8,), device=DEVICE)
    loss = torch.nn.functional.cross_entropy(model(x).mean(0), y)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert torch.isfinite(loss)
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_bench_runs_on_the_device():
    rows = bench.bench_surrogates(
        [4096], dtypes=(torch.float32, torch.bfloat16), repeats=2, device=DEVICE
    )
    assert {r.dtype for r in rows} == {"float32", "bfloat16"}
    steps = bench.bench_training_steps(
        time_steps=2, batch=4, size=8, repeats=1, device=DEVICE
    )
    assert all(r.peak_bytes is not None and r.peak_bytes > 0 for r in steps)
