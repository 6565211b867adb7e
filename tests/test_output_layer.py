"""Where attach puts AdaLi: the spiking output layer keeps its own surrogate.

Real snnTorch and SpikingJelly nets in the four shapes the hosts' users build:
an ``nn.Sequential`` ending in a neuron, a tutorial-style module returning the
last neuron's spikes and membrane, a SpikingJelly multi-step net, and a
zoo-style net whose last spiking layer feeds a ``Linear`` head.
"""

from __future__ import annotations

import logging
import warnings

import pytest
import torch
from torch import nn

import adali_plugins as ap
from adali_plugins.output import OutputLayerWarning, find_output_layer
from adali_plugins.state import AdaLiState

snn = pytest.importorskip("snntorch")


def _surrogates(net: nn.Module, attr: str) -> dict[str, object]:
    return {p: getattr(m, attr) for p, m in net.named_modules() if hasattr(m, attr)}


def snntorch_sequential() -> nn.Module:
    return nn.Sequential(
        nn.Linear(4, 8),
        snn.Leaky(beta=0.9, init_hidden=True),
        nn.Linear(8, 3),
        snn.Leaky(beta=0.9, init_hidden=True, output=True),
    )


class TutorialNet(nn.Module):
    """snnTorch tutorial style: forward returns the last neuron's spikes and
    membrane, stepped over time inside forward."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.lif1 = snn.Leaky(beta=0.9)
        self.fc2 = nn.Linear(8, 3)
        self.lif2 = snn.Leaky(beta=0.9)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        spikes, mems = [], []
        for _ in range(4):
            spk1, mem1 = self.lif1(self.fc1(x), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            spikes.append(spk2)
            mems.append(mem2)
        return torch.stack(spikes), torch.stack(mems)


class ZooNet(nn.Module):
    """Zoo style: the last spiking layer feeds a non-spiking Linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Linear(4, 8),
            snn.Leaky(beta=0.9, init_hidden=True),
            nn.Linear(8, 8),
            snn.Leaky(beta=0.9, init_hidden=True),
        )
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def jelly_multistep() -> nn.Module:
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import layer, neuron

    return nn.Sequential(
        layer.Linear(4, 8, step_mode="m"),
        neuron.LIFNode(step_mode="m"),
        layer.Linear(8, 3, step_mode="m"),
        neuron.LIFNode(step_mode="m"),
    )


@pytest.mark.parametrize(
    ("make", "attr", "adali", "kept", "x"),
    [
        (snntorch_sequential, "spike_grad", ["1"], "3", (2, 4)),
        (TutorialNet, "spike_grad", ["lif1"], "lif2", (2, 4)),
        (jelly_multistep, "surrogate_function", ["1"], "3", (3, 2, 4)),
        (ZooNet, "spike_grad", ["features.1", "features.3"], None, (2, 4)),
    ],
    ids=["snntorch-sequential", "snntorch-tutorial", "spikingjelly-multistep", "zoo"],
)
def test_default_keeps_the_spiking_output_layer(make, attr, adali, kept, x):
    net = make()
    before = _surrogates(net, attr)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutputLayerWarning)
        handle = ap.attach(net)
        net(torch.rand(*x))  # the first forward confirms the decision silently
    assert handle.paths == adali
    assert handle.output is not None and handle.output.path == kept
    assert handle.kept == (() if kept is None else (kept,))
    after = _surrogates(net, attr)
    for path in adali:
        assert isinstance(after[path], AdaLiState)
    if kept is not None:
        assert after[kept] is before[kept]
        assert not isinstance(after[kept], AdaLiState)
    handle.restore()
    assert _surrogates(net, attr) == before


def test_output_adali_gives_every_layer_adali():
    net = snntorch_sequential()
    handle = ap.attach(net, output="adali")
    assert handle.paths == ["1", "3"]
    assert handle.kept == ()
    assert handle.output.path == "3"


def test_one_info_line_names_the_kept_layer_and_the_way_out(caplog):
    with caplog.at_level(logging.INFO, logger="adali_plugins.attach"):
        ap.attach(snntorch_sequential())
    kept = [r.getMessage() for r in caplog.records if "kept" in r.getMessage()]
    assert len(kept) == 1
    assert "'3'" in kept[0] and "output='adali'" in kept[0]


@pytest.mark.parametrize(
    ("kwargs", "paths", "kept"),
    [
        ({"exclude": "1"}, ["3"], ("1",)),
        ({"exclude": ["1"], "output": "host"}, [], None),
        ({"only": "features.*"}, ["features.1"], ("features.3",)),
        ({"only": lambda layer: layer.path.endswith("3")}, [], None),
        ({"only": ["features.3"]}, ["features.3"], ("features.1",)),
        ({"exclude": lambda layer: layer.path == "features.1"}, [], None),
    ],
    ids=[
        "exclude-path",
        "exclude-all",
        "only-glob",
        "only-predicate",
        "only-exact-output",
        "exclude-fn",
    ],
)
def test_exclude_and_only(kwargs, paths, kept):
    if (
        "only" in kwargs
        or "features" in str(kwargs.get("exclude"))
        or callable(kwargs.get("exclude"))
    ):
        net = nn.Sequential()
        net.features = nn.Sequential(
            nn.Linear(4, 8),
            snn.Leaky(beta=0.9, init_hidden=True),
            nn.Linear(8, 3),
            snn.Leaky(beta=0.9, init_hidden=True),
        )
    else:
        net = snntorch_sequential()
        kwargs = {**kwargs, "output": "adali"} if "output" not in kwargs else kwargs
    if not paths:
        with pytest.raises(ap.NoSpikingLayerError, match="left for AdaLi"):
            ap.attach(net, **kwargs)
        assert not any(isinstance(m, AdaLiState) for m in net.modules())
        return
    handle = ap.attach(net, **kwargs)
    assert handle.paths == paths
    if kept is not None:
        assert handle.kept == kept


def test_only_naming_the_output_layer_gives_it_adali():
    net = snntorch_sequential()
    assert ap.attach(net, only="3").paths == ["3"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"output": "all"}, "output must be 'host' or 'adali'"),
        ({"exclude": "lif9"}, r"exclude='lif9' names no spiking layer"),
        ({"only": ["1", "nope*"]}, r"only='nope\*' names no spiking layer"),
        ({"exclude": 3}, "exclude must be a module path"),
    ],
)
def test_bad_placement_arguments_change_nothing(kwargs, match):
    net = snntorch_sequential()
    before = _surrogates(net, "spike_grad")
    with pytest.raises((ValueError, TypeError), match=match):
        ap.attach(net, **kwargs)
    assert _surrogates(net, "spike_grad") == before


def test_a_lone_output_layer_is_refused_with_the_way_out():
    net = nn.Sequential(nn.Linear(4, 3), snn.Leaky(beta=0.9, init_hidden=True))
    with pytest.raises(ap.NoSpikingLayerError, match="output='adali'"):
        ap.attach(net)
    assert ap.attach(net, output="adali").paths == ["1"]


def test_a_model_that_is_one_neuron_is_undecided_and_gets_adali():
    lif = snn.Leaky(beta=0.9, init_hidden=True)
    decision = find_output_layer(lif)
    assert decision.path is None and not decision.decided
    assert ap.attach(lif).paths == ["<root>"]


def test_forward_contradicting_module_order_warns_once():
    class HeadFirst(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = nn.Linear(8, 3)  # registered before the features
            self.features = nn.Sequential(
                nn.Linear(4, 8),
                snn.Leaky(beta=0.9, init_hidden=True),
                nn.Linear(8, 8),
                snn.Leaky(beta=0.9, init_hidden=True),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.features(x))

    net = HeadFirst()
    handle = ap.attach(net)
    assert handle.output.path == "features.3"  # module order says output
    with pytest.warns(OutputLayerWarning, match="'head' .* ran after"):
        net(torch.rand(2, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error", OutputLayerWarning)
        net(torch.rand(2, 4))  # the hooks are gone after the first forward
    assert not net._forward_hooks
    assert all(not m._forward_hooks for m in net.modules())


def test_restoring_handles_in_any_order_ends_with_the_originals():
    net = snntorch_sequential()
    before = _surrogates(net, "spike_grad")
    first = ap.attach(net, output="adali")
    second = ap.attach(net, output="adali", p=0.5)
    first.restore()
    second.restore()
    assert _surrogates(net, "spike_grad") == before
    third = ap.attach(net, output="adali")
    fourth = ap.attach(net, output="adali", p=0.5)
    fourth.restore()
    third.restore()
    assert _surrogates(net, "spike_grad") == before


def test_a_dataparallel_nested_inside_a_module_is_refused():
    outer = nn.Sequential(nn.DataParallel(snntorch_sequential()))
    with pytest.raises(ap.WrappedModelError, match="DataParallel"):
        ap.attach(outer, output="adali")
    assert not any(isinstance(m, AdaLiState) for m in outer.modules())


@pytest.mark.slow
def test_the_first_forward_check_adds_no_graph_break():
    net = snntorch_sequential()
    ap.attach(net)
    explained = torch._dynamo.explain(net)(torch.rand(2, 4))
    assert explained.graph_break_count == 0
