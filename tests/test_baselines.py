"""compare/baselines.py: each re-implemented baseline's gradient against its formula."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from adali_plugins.compare.baselines import ESG, MPD, adapt


@pytest.mark.parametrize("q", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("inclusive", [True, False], ids=["ge", "gt"])
def test_esg_gradient_is_the_tanh_derivative(q, inclusive):
    g = ESG(inclusive=inclusive)
    g.set_progress(q)
    k = 1.0 * 10.0**q
    x = torch.linspace(-2, 2, 401, dtype=torch.float64, requires_grad=True)
    out = g(x)
    assert torch.equal(out, (x >= 0 if inclusive else x > 0).double())
    out.sum().backward()
    expected = torch.tensor(
        [k / 2 / math.cosh(k * v) ** 2 for v in x.tolist()], dtype=torch.float64
    )
    torch.testing.assert_close(x.grad, expected, rtol=1e-12, atol=1e-12)


def test_mpd_gradient_is_a_box_of_the_spread():
    g = MPD(inclusive=True)
    g.set_spread(0.4)
    x = torch.tensor(
        [-0.5, -0.39, 0.0, 0.39, 0.41], dtype=torch.float64, requires_grad=True
    )
    g(x).sum().backward()
    assert x.grad.tolist() == pytest.approx([0.0, 1.25, 1.25, 1.25, 0.0])
    g.set_spread(0.0)
    assert float(g.a) == 0.05


def test_adapt_sets_sharpness_and_spread_from_real_potentials():
    snn = pytest.importorskip("snntorch")
    from snntorch import utils

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(5, 30),
        snn.Leaky(
            beta=0.0,
            reset_mechanism="none",
            init_hidden=True,
            spike_grad=MPD(inclusive=False),
        ),
        nn.Linear(30, 4),
        snn.Leaky(beta=0.5, init_hidden=True, spike_grad=ESG(inclusive=False)),
    )
    x = torch.randn(256, 5)

    def forward(model, batch):
        utils.reset(model)
        return model(batch)

    chosen = adapt(net, epoch=2, total_epochs=3, batches=[x], forward=forward)
    assert chosen["3"] == pytest.approx(10.0)
    potentials = (net[0](x) - 1.0).detach()
    assert chosen["1"] == pytest.approx(potentials.std(unbiased=False).item(), rel=1e-6)
