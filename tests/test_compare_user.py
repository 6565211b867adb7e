"""compare(): the user's own snnTorch / SpikingJelly model and data loaders."""

from __future__ import annotations

import json
import re

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import adali_plugins as ap
from adali_plugins.compare.data import load_digits_split
from adali_plugins.compare.user import CompareError, compare, weights_hash
from adali_plugins.state import AdaLiState

snn = pytest.importorskip("snntorch")
pytest.importorskip("spikingjelly")
from snntorch import surrogate  # noqa: E402
from spikingjelly.activation_based import layer, neuron  # noqa: E402

T = 4


def loaders(n_train: int = 256, n_test: int = 128):
    data = load_digits_split(seed=0)
    train = TensorDataset(data.x_train[:n_train], data.y_train[:n_train])
    test = TensorDataset(data.x_test[:n_test], data.y_test[:n_test])
    return DataLoader(train, batch_size=64, shuffle=True), DataLoader(
        test, batch_size=64
    )


class TutorialNet(nn.Module):
    """Written as snnTorch's tutorials write it: one shared surrogate object,
    ``init_hidden=True``, stepped over time inside ``forward``."""

    def __init__(self) -> None:
        super().__init__()
        spike_grad = surrogate.fast_sigmoid(slope=25)
        self.fc1 = nn.Linear(64, 32)
        self.lif1 = snn.Leaky(beta=0.9, spike_grad=spike_grad, init_hidden=True)
        self.fc2 = nn.Linear(32, 10)
        self.lif2 = snn.Leaky(
            beta=0.9, spike_grad=spike_grad, init_hidden=True, output=True
        )

    def forward(self, x: torch.Tensor):
        spk_rec, mem_rec = [], []
        x = x.flatten(1)
        for _ in range(T):
            spk = self.lif1(self.fc1(x))
            spk, mem = self.lif2(self.fc2(spk))
            spk_rec.append(spk)
            mem_rec.append(mem)
        return torch.stack(spk_rec), torch.stack(mem_rec)


class MultiStepNet(nn.Module):
    """A SpikingJelly multi-step network returning ``[T, B, classes]``."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            layer.Flatten(step_mode="m"),
            layer.Linear(64, 32, step_mode="m"),
            neuron.LIFNode(step_mode="m"),
            layer.Linear(32, 10, step_mode="m"),
            neuron.LIFNode(step_mode="m"),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.unsqueeze(0).repeat(T, 1, 1, 1, 1))


BUILT: list[nn.Module] = []


def tutorial(seed: int) -> nn.Module:
    BUILT.append(TutorialNet())
    return BUILT[-1]


@pytest.mark.slow
def test_snntorch_tutorial_net_compared(tmp_path):
    BUILT.clear()
    train, test = loaders(512, 128)
    result = compare(
        model=tutorial,
        train=train,
        test=test,
        surrogates=["AdaLi", "atan", "fast_sigmoid"],
        epochs=3,
        seeds=2,
        optimizer=lambda params: torch.optim.Adam(params, lr=1e-2),
        out=tmp_path,
    )
    assert result.host == "snntorch"
    # one probe, seed 1's initial weights, one dry run per candidate, 6 runs
    assert len(result.results) == 6 and len(BUILT) == 1 + 1 + 3 + 6
    # compare() checked identical initial weights per seed; seeds differ
    assert result.initial_hashes[0] != result.initial_hashes[1]
    # AdaLi in the hidden layer (the spiking output layer keeps its own
    # surrogate, attach's default), moved by the released log law to epoch 2 of 3
    adali_net = BUILT[-6]  # seed 0, AdaLi
    layers = [m for m in adali_net.modules() if isinstance(m, AdaLiState)]
    assert len(layers) == 1 and adali_net.lif1.spike_grad is layers[0]
    assert float(layers[0].progress) == pytest.approx(
        layers[0].progress_at(2, 3), abs=0
    )
    # a built-in run used the host's atan, not AdaLi
    assert not any(isinstance(m, AdaLiState) for m in BUILT[-5].modules())
    table = result.table()
    assert "AdaLi" in table and "atan" in table and "fast_sigmoid" in table
    accs = [r.final_acc[0] for r in result.rows]
    assert all(0.0 <= a <= 1.0 for a in accs) and max(accs) > 0.3
    assert (tmp_path / "results.json").exists()
    assert '"initial_weights_sha256"' in result.to_json()
    (verdict,) = result.verdicts()
    assert verdict.adali == "AdaLi" and verdict.builtin in ("atan", "fast_sigmoid")
    assert verdict.reading in result.summary()


@pytest.mark.slow
def test_a_class_never_predicted_is_named_in_the_summary():
    def silenced(seed: int) -> nn.Module:
        net = TutorialNet()
        with torch.no_grad():
            net.fc2.bias[3] = -100.0  # output neuron 3 never reaches threshold
        return net

    train, test = loaders(256, 128)
    result = compare(
        model=silenced,
        train=train,
        test=test,
        surrogates=["AdaLi", "atan"],
        epochs=1,
        seeds=1,
    )
    for label in ("AdaLi", "atan"):
        (records,) = result.records(label)
        predicted = records[-1]["predicted"]
        assert predicted[3] == 0 and sum(predicted) == 128 and len(predicted) == 10
    summary = result.summary()
    assert "Classes never predicted:" in summary
    assert re.search(
        r"snntorch AdaLi seed 0: never predicted class [0-9, ]*\b3\b", summary
    )


@pytest.mark.slow
def test_same_seeds_give_the_same_numbers_and_resume_is_exact(tmp_path):
    train, test = loaders(128, 64)
    kwargs = dict(
        model=lambda seed: TutorialNet(),
        train=train,
        test=test,
        surrogates=["AdaLi", "atan"],
        epochs=2,
        seeds=1,
    )
    whole = compare(**kwargs, out=tmp_path / "whole")

    class Stop(Exception):
        pass

    def stop_after_first(label, seed, record):
        if label == "atan" and record["epoch"] == 0:
            raise Stop

    with pytest.raises(Stop):
        compare(**kwargs, out=tmp_path / "cut", on_epoch=stop_after_first)
    resumed = compare(**kwargs, out=tmp_path / "cut")

    def numbers(c):
        return {
            k: [(r["test_acc"], r["train_loss"]) for r in v]
            for k, v in c.results.items()
        }

    assert numbers(resumed) == numbers(whole)


@pytest.mark.slow
def test_spikingjelly_multistep_net_and_identical_initial_weights():
    train, test = loaders(128, 64)
    seen: dict[str, str] = {}

    def factory(seed):
        net = MultiStepNet()
        seen[f"build{len(seen)}"] = weights_hash(net)
        return net

    result = compare(
        model=factory,
        train=train,
        test=test,
        surrogates=["AdaLi:schedule=sqrt", "Sigmoid"],
        epochs=1,
        seeds=1,
    )
    assert result.host == "spikingjelly"
    assert len(set(seen.values())) == 1  # probe and both candidates
    assert {s for _, s, _ in result.results} == {"AdaLi:schedule=sqrt", "Sigmoid"}


def test_custom_forward_is_used():
    train, test = loaders(64, 64)
    calls = []

    def forward(model, batch):
        calls.append(1)
        return model(batch[0])[1].sum(0)  # membrane, summed over time

    compare(
        model=lambda s: TutorialNet(),
        train=train,
        test=test,
        surrogates=["AdaLi"],
        epochs=1,
        seeds=1,
        forward=forward,
    )
    assert len(calls) == 3  # the dry run, one train batch, one test batch


def test_builtin_swap_and_restore_is_exact():
    net = TutorialNet()
    shared = net.lif1.spike_grad
    handle = ap.replace_surrogates(net, lambda layer: surrogate.atan())
    assert net.lif1.spike_grad is not shared
    handle.restore()
    assert net.lif1.spike_grad is shared and net.lif2.spike_grad is shared


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": lambda s: "not a model"}, "not an nn.Module"),
        ({"model": 3}, "factory"),
        ({"model": lambda s: nn.Linear(2, 2)}, "exactly one host"),
        ({"surrogates": ["ATan"]}, "not a snntorch built-in"),
        ({"surrogates": ["AdaLi:left=-1"]}, "left"),
        ({"epochs": 0}, "epochs"),
    ],
    ids=[
        "not-module",
        "not-callable",
        "no-neurons",
        "other-host",
        "bad-option",
        "epochs",
    ],
)
def test_errors_are_clear(kwargs, match):
    train, test = loaders(64, 64)
    args = dict(
        model=lambda s: TutorialNet(), train=train, test=test, epochs=1, seeds=1
    )
    with pytest.raises((CompareError, ValueError), match=match):
        compare(**{**args, **kwargs})


def test_nondeterministic_factory_is_refused():
    train, test = loaders(64, 64)

    def factory(seed):
        torch.manual_seed(torch.seed())
        return TutorialNet()

    with pytest.raises(CompareError, match="deterministic"):
        compare(model=factory, train=train, test=test, epochs=1, seeds=1)


USER_MODULE = """
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
import snntorch as snn

from adali_plugins.compare.data import load_digits_split


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 32)
        self.lif1 = snn.Leaky(beta=0.9, init_hidden=True)
        self.fc2 = nn.Linear(32, 10)
        self.lif2 = snn.Leaky(beta=0.9, init_hidden=True, output=True)

    def forward(self, x):
        out = []
        for _ in range(3):
            spk, mem = self.lif2(self.fc2(self.lif1(self.fc1(x.flatten(1)))))
            out.append(mem)
        return torch.stack(out)


def make(seed):
    return Net()


def not_a_model(seed):
    return 42


def loaders():
    d = load_digits_split(seed=0)
    train = TensorDataset(d.x_train[:128], d.y_train[:128])
    test = TensorDataset(d.x_test[:64], d.y_test[:64])
    train = DataLoader(train, batch_size=64, shuffle=True)
    return train, DataLoader(test, batch_size=64)


def one_loader():
    return 3
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_snn_project.py").write_text(USER_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_snn_project"
    import sys

    sys.modules.pop("my_snn_project", None)


@pytest.mark.slow
def test_cli_model_and_data_by_import_path(user_module, tmp_path):
    from adali_plugins.compare import main

    args = [
        "--model",
        f"{user_module}:make",
        "--data",
        f"{user_module}:loaders",
        "--surrogates",
        "AdaLi",
        "atan",
        "--epochs",
        "2",
        "--seeds",
        "2",
        "--out",
        str(tmp_path / "out"),
        "-q",
    ]
    payload = main(args)
    assert payload["host"] == "snntorch" and payload["verdict"]
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert {r["surrogate"] for r in saved["runs"]} == {"AdaLi", "atan"}
    assert (tmp_path / "out" / "summary.md").exists()
    again = main(args)  # resumes: every run already finished
    assert again == payload
    with pytest.raises(SystemExit):  # another configuration into the same --out
        main([*args[:-3], "--epochs", "3", "--out", str(tmp_path / "out"), "-q"])


@pytest.mark.parametrize(
    ("model", "data", "match"),
    [
        ("no_such_module:make", "{m}:loaders", "cannot import no_such_module"),
        ("{m}:nothing_here", "{m}:loaders", "has no 'nothing_here'"),
        ("{m}", "{m}:loaders", "package.module:function"),
        ("{m}:not_a_model", "{m}:loaders", "not an nn.Module"),
        ("{m}:make", "{m}:one_loader", "must return \\(train, test\\)"),
    ],
    ids=["import", "attribute", "syntax", "not-a-model", "data-shape"],
)
def test_cli_model_errors_are_one_line(
    user_module, tmp_path, capsys, model, data, match
):
    from adali_plugins.compare import main

    with pytest.raises(SystemExit) as info:
        main(
            [
                "--model",
                model.format(m=user_module),
                "--data",
                data.format(m=user_module),
                "--epochs",
                "1",
                "--seeds",
                "1",
                "--out",
                str(tmp_path / "out"),
            ]
        )
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("adali-compare: error:") and "\n" not in err
    assert re.search(match, err), err
