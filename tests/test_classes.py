"""Classes never predicted: counted at every evaluation, reported per run.

The real-host tests silence one output neuron of the harness's reference net on
the bundled digits and check that the evaluation counts no prediction for its
class, and that AdaLi gives that neuron exactly no gradient while the host's
unbounded surrogate still gives it some (the mechanism behind the Fashion-MNIST
stall the README reports).
"""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch import nn

from adali_plugins.compare.classes import (
    format_never_predicted,
    missing_classes,
    never_predicted,
    prediction_counts,
)
from adali_plugins.compare.data.datasets import load_dataset
from adali_plugins.compare.spec import parse_surrogate
from adali_plugins.compare.train import RunConfig, _evaluate, build_model

DEAD = 3
BUILTIN = {"snntorch": "atan", "spikingjelly": "ATan"}


def test_prediction_counts_match_a_plain_count():
    g = torch.Generator().manual_seed(0)
    preds = torch.randint(0, 7, (500,), generator=g)
    seen = Counter(preds.tolist())
    assert prediction_counts(preds, 10) == [seen[k] for k in range(10)]
    assert prediction_counts(preds, 10)[7:] == [0, 0, 0]


def test_never_predicted_reads_the_last_epoch_only():
    results = {
        ("snntorch", "AdaLi", 0): [{"predicted": [0, 4, 4]}, {"predicted": [5, 0, 0]}],
        ("snntorch", "AdaLi", 1): [{"predicted": [0, 4, 4]}, {"predicted": [3, 3, 2]}],
        ("snntorch", "atan", 0): [{"test_acc": 0.5}],  # a run recorded before
        ("snntorch", "atan", 1): [],
    }
    (line,) = never_predicted(results)
    assert line.startswith("snntorch AdaLi seed 0: never predicted class 1, 2 (2 of 3)")
    assert missing_classes({"test_acc": 0.1}) == []
    assert format_never_predicted([]) == ""
    assert format_never_predicted([line]).splitlines() == [
        "Classes never predicted:",
        f"  {line}",
    ]


def _reference(host: str, surrogate: str):
    pytest.importorskip(host)
    data = load_dataset("digits", seed=0)
    cfg = RunConfig(
        host=host,
        dataset="digits",
        surrogate=surrogate,
        seed=0,
        epochs=1,
        time_steps=4,
        batch_size=64,
        lr=2e-3,
        encoding="direct",
        channels=(4, 8),
    )
    model = build_model(cfg, data, parse_surrogate(surrogate))
    head = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    with torch.no_grad():
        head.bias[DEAD] = -100.0
    return model, head, cfg, data


@pytest.mark.parametrize("host", ["snntorch", "spikingjelly"])
def test_a_silenced_output_neuron_is_counted_and_gets_no_adali_gradient(host):
    grads = {}
    # AdaLi on every layer, the output layer included (not attach's default).
    for surrogate in ("AdaLi:output=adali", BUILTIN[host]):
        model, head, cfg, data = _reference(host, surrogate)
        accuracy, predicted = _evaluate(model, cfg, data)
        assert predicted[DEAD] == 0 and DEAD in missing_classes(
            {"predicted": predicted}
        )
        model.eval()
        with torch.no_grad():
            x = data.encode(data.x_test, time_steps=cfg.time_steps, encoding="direct")
            winners = model(x).sum(0).argmax(1)
        assert predicted == [int((winners == k).sum()) for k in range(data.classes)]
        assert accuracy == int((winners == data.y_test).sum()) / len(data.y_test)
        model.train()
        x = data.encode(data.x_train[:64], time_steps=cfg.time_steps, encoding="direct")
        loss = nn.functional.cross_entropy(model(x).sum(0), data.y_train[:64])
        loss.backward()
        grads[surrogate] = head.weight.grad[DEAD].abs().sum().item()
    assert grads["AdaLi:output=adali"] == 0.0
    assert grads[BUILTIN[host]] > 0.0
