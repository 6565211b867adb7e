"""The harness follows the library: under the host recipe the ``AdaLi`` row is
what ``attach(model)`` gives, ``AdaLi:output=adali`` every layer."""

from __future__ import annotations

import pytest
import torch

from adali_plugins.compare.data.datasets import load_dataset
from adali_plugins.compare.report import placement_legend
from adali_plugins.compare.spec import HOST_DEFAULT, parse_surrogate
from adali_plugins.compare.train import RunConfig, build_model, check_resumable, run
from adali_plugins.state import AdaLiState

pytest.importorskip("snntorch")
pytest.importorskip("spikingjelly")

ATTR = {"snntorch": "spike_grad", "spikingjelly": "surrogate_function"}


def _cfg(host: str, surrogate: str, **changes: object) -> RunConfig:
    fields = {
        "host": host,
        "dataset": "digits",
        "surrogate": surrogate,
        "seed": 0,
        "epochs": 1,
        "time_steps": 2,
        "batch_size": 256,
        "lr": 2e-3,
        "encoding": "direct",
        "channels": (4, 8),
        **changes,
    }
    return RunConfig(**fields)


def _surrogates(model: torch.nn.Module, host: str) -> list[object]:
    attr = ATTR[host]
    return [
        getattr(m, attr)
        for m in model.modules()
        if hasattr(m, attr) and not isinstance(m, AdaLiState)
    ]


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.mark.parametrize("host", ["snntorch", "spikingjelly"])
def test_adali_row_keeps_the_output_layer_on_the_host_default(host, digits):
    model = build_model(_cfg(host, "AdaLi"), digits, parse_surrogate("AdaLi"))
    *hidden, out = _surrogates(model, host)
    assert hidden and all(isinstance(s, AdaLiState) for s in hidden)
    assert not isinstance(out, AdaLiState)
    default = HOST_DEFAULT[host]
    name = getattr(out, "__qualname__", None) or type(out).__name__
    assert default.lower() in name.lower()


@pytest.mark.parametrize("host", ["snntorch", "spikingjelly"])
def test_output_adali_row_has_adali_on_every_layer(host, digits):
    spec = parse_surrogate("AdaLi:output=adali")
    model = build_model(_cfg(host, spec.label), digits, spec)
    layers = _surrogates(model, host)
    assert len(layers) == 3
    assert all(isinstance(s, AdaLiState) for s in layers)


def test_paper_recipe_is_unchanged(digits):
    cfg = _cfg("snntorch", "AdaLi", recipe="paper", arch="ref")
    assert cfg.adali_output is None
    model = build_model(cfg, digits, parse_surrogate("AdaLi"))
    assert all(isinstance(s, AdaLiState) for s in _surrogates(model, "snntorch"))


def test_placement_is_part_of_the_run_identity():
    assert _cfg("snntorch", "AdaLi").adali_output == "host"
    assert _cfg("snntorch", "AdaLi:output=adali").adali_output == "adali"
    assert _cfg("snntorch", "atan").adali_output is None


def test_an_adali_checkpoint_from_before_the_placement_is_refused(digits, tmp_path):
    small = digits.__class__(
        **{
            **digits.__dict__,
            "x_train": digits.x_train[:64],
            "y_train": digits.y_train[:64],
            "x_test": digits.x_test[:32],
            "y_test": digits.y_test[:32],
        }
    )
    cfg = _cfg("snntorch", "AdaLi")
    run(cfg, small, tmp_path)
    from adali_plugins.checkpoint import load_checkpoint, save_checkpoint

    ckpt = tmp_path / "checkpoints" / f"{cfg.name}.pt"
    state = load_checkpoint(ckpt)
    del state["config"]["adali_output"]  # as saved before this option existed
    save_checkpoint(ckpt, state)
    with pytest.raises(Exception, match="adali_output"):
        check_resumable(cfg, tmp_path)


def test_legend_says_where_adali_went():
    legend = placement_legend(
        [
            ("snntorch", "AdaLi"),
            ("snntorch", "AdaLi:output=adali"),
            ("snntorch", "atan"),
        ]
    )
    lines = legend.splitlines()
    assert len(lines) == 2
    assert "output layer on atan" in lines[0]
    assert "every spiking layer" in lines[1]
    assert placement_legend([("snntorch", "AdaLi")], recipe="paper") == ""


@pytest.mark.parametrize("bad", ["AdaLi:output=all", "atan:output=adali"])
def test_bad_output_option_is_one_line(bad):
    with pytest.raises(ValueError) as err:
        parse_surrogate(bad)
    assert "\n" not in str(err.value)
    assert "output" in str(err.value)
