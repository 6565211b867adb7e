"""compare/models.py: the reference conv SNN has one shape contract on both hosts."""

from __future__ import annotations

import pytest
import torch

import adali_plugins as ap
from adali_plugins.compare.models import conv_net, mlp_net


def _adali_factory(host):
    if host == "snntorch":
        return __import__("adali_plugins.snntorch", fromlist=["adali"]).adali
    return __import__("adali_plugins.spikingjelly", fromlist=["AdaLi"]).AdaLi


@pytest.mark.parametrize("host", ["snntorch", "spikingjelly"])
def test_conv_net_shapes_layers_and_reset(host):
    pytest.importorskip(host)
    factory = _adali_factory(host)
    torch.manual_seed(0)
    net = conv_net(host, factory, size=8)
    x = torch.rand(3, 5, 1, 8, 8) * 2
    out = net(x)
    assert out.shape == (3, 5, 10)
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    assert len(ap.adali_modules(net)) == 3
    torch.testing.assert_close(net(x), out)
    out.sum().backward()


@pytest.mark.parametrize("host", ["snntorch", "spikingjelly"])
def test_mlp_net_for_sequences_trains_every_layer(host):
    pytest.importorskip(host)
    factory = _adali_factory(host)
    torch.manual_seed(0)
    net = mlp_net(host, factory, in_features=4, hidden=(16, 16), classes=3)
    x = torch.randn(6, 5, 4) * 3
    out = net(x)
    assert out.shape == (6, 5, 3)
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    assert len(ap.adali_modules(net)) == 3
    torch.testing.assert_close(net(x), out)
    out.sum().backward()
    first = next(net.parameters())
    assert first.grad is not None and first.grad.abs().sum() > 0


def test_unknown_host():
    with pytest.raises(ValueError, match="host"):
        conv_net("norse", lambda: None)
    with pytest.raises(ValueError, match="host"):
        mlp_net("norse", lambda: None, in_features=4)
