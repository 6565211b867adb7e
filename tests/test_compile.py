"""torch.compile: no graph break from AdaLi, eager's gradients, no recompiles."""

from __future__ import annotations

import pytest
import torch
import torch._dynamo as dynamo
from torch import nn

snn = pytest.importorskip("snntorch")
pytest.importorskip("spikingjelly")
from spikingjelly.activation_based import functional, layer, neuron  # noqa: E402

from adali_plugins.snntorch import adali  # noqa: E402
from adali_plugins.spikingjelly import AdaLi  # noqa: E402


def _snntorch_step():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(12, 16), snn.Leaky(beta=0.9, spike_grad=adali()))

    def step(x, mem):
        return net[1](net[0](x), mem)

    return net, step


def _sj_model():
    torch.manual_seed(0)
    net = nn.Sequential(
        layer.Linear(12, 16), neuron.LIFNode(surrogate_function=AdaLi())
    )
    functional.set_step_mode(net, "m")
    return net


def test_no_graph_breaks():
    _, step = _snntorch_step()
    explained = dynamo.explain(step)(torch.randn(4, 12), torch.zeros(4, 16))
    assert explained.graph_break_count == 0, explained.break_reasons
    net = _sj_model()
    explained = dynamo.explain(net)(torch.randn(5, 4, 12))
    assert explained.graph_break_count == 0, explained.break_reasons


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_compiled_gradients_equal_eager_and_no_recompile_per_epoch(backend):
    dynamo.reset()
    dynamo.utils.counters.clear()
    net = _sj_model()
    compiled = torch.compile(net, backend=backend)
    x = torch.randn(5, 4, 12) * 3
    grads = []
    for model in (net, compiled):
        for epoch in (0, 2):
            net[1].surrogate_function.set_epoch(epoch, 3)
            functional.reset_net(net)
            net.zero_grad()
            model(x).sum().backward()
            grads.append(net[0].weight.grad.clone())
    torch.testing.assert_close(grads[2], grads[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grads[3], grads[1], rtol=1e-5, atol=1e-6)
    assert not torch.equal(grads[0], grads[1])
    assert dynamo.utils.counters["stats"]["unique_graphs"] == 1
