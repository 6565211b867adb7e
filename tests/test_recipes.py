"""The paper recipe and the authors' architectures on both hosts (issue 13).

Independent checks: the IF soft reset against a hand-computed spike train; the
two hosts' IF nets against each other on the same weights and input; the
``mix`` loss against its formula; CIFAR-10 batches written by the test itself.
"""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import torch
from conftest import run_whole_and_resumed

from adali_plugins.compare.architectures import ARCHS, build_arch
from adali_plugins.compare.data import DataFormatError
from adali_plugins.compare.data.cifar10 import load_cifar10, read_batch
from adali_plugins.compare.data.datasets import load_dataset
from adali_plugins.compare.hosts import profile
from adali_plugins.compare.recipes import RECIPES, recipe_loss
from adali_plugins.compare.spec import parse_surrogate
from adali_plugins.compare.train import RunConfig, build_model

pytest.importorskip("snntorch")
pytest.importorskip("spikingjelly")

HOSTS = ("snntorch", "spikingjelly")


def _cfg(host: str, recipe: str, arch: str, **changes: object) -> RunConfig:
    base = dict(
        host=host,
        dataset="digits",
        surrogate="AdaLi",
        seed=0,
        epochs=2,
        time_steps=3,
        batch_size=32,
        lr=RECIPES[recipe].lr,
        encoding="direct",
        channels=(4, 8),
        recipe=recipe,
        arch=arch,
        width=0.125,
    )
    base.update(changes)
    return RunConfig(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", train_limit=200, test_limit=60)


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("recipe", sorted(RECIPES))
@pytest.mark.parametrize("arch", ARCHS)
def test_one_training_step(digits, host, recipe, arch):
    cfg = _cfg(host, recipe, arch)
    spec = parse_surrogate(cfg.surrogate)
    model = build_model(cfg, digits, spec)
    r = RECIPES[recipe]
    opt = r.make_optimizer(model.parameters(), cfg.lr)
    x = digits.encode(digits.x_train[:16], time_steps=3, encoding="direct")
    out = model(x)
    assert out.shape == (3, 16, digits.classes)
    loss = recipe_loss(r.logits(out), digits.y_train[:16], loss="ce", mix_lambda=0)
    assert torch.isfinite(loss)
    loss.backward()
    first = next(p for p in model.parameters() if p.dim() == 4)
    assert first.grad is not None and first.grad.abs().sum() > 0
    before = first.detach().clone()
    opt.step()
    assert not torch.equal(before, first.detach())


def _spike_trains(host: str, arch: str, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every IF layer's output of ``arch`` built with seed 0, in float64."""
    prof = profile(host)
    factory = parse_surrogate("AdaLi").factory(host)
    torch.manual_seed(0)
    net = build_arch(
        arch,
        lambda: prof.neuron("if", factory()),
        prof.reset(),
        in_channels=1,
        size=8,
        classes=10,
        width=0.125,
    ).double()
    spikes: dict[str, torch.Tensor] = {}
    for name, module in net.named_modules():
        if type(module).__name__ in ("IFNode", "StepOverTime"):
            module.register_forward_hook(
                lambda m, i, o, name=name: spikes.__setitem__(name, o.detach())
            )
    spikes["head"] = net(x).detach()
    return spikes


@pytest.mark.parametrize("arch", ARCHS)
def test_both_hosts_if_nets_spike_alike_on_the_same_weights(arch):
    """snnTorch fires at v > 1 and SpikingJelly at v >= 1; with random float64
    inputs no potential sits exactly on the threshold, so the trains agree."""
    torch.manual_seed(1)
    x = torch.rand(4, 8, 1, 8, 8, dtype=torch.float64) * 2
    a, b = _spike_trains("snntorch", arch, x), _spike_trains("spikingjelly", arch, x)
    layers = {"ref": 2, "resnet18": 1 + 8 * 2, "vgg11": 8}[arch]
    assert list(a) == list(b) and len(a) == layers + 1
    fired = 0.0
    for name in a:
        if name == "head":
            torch.testing.assert_close(a[name], b[name], rtol=1e-12, atol=1e-12)
        else:
            assert torch.equal(a[name], b[name]), name
            fired += float(a[name].sum())
    assert fired > 0


@pytest.mark.parametrize("host", HOSTS)
def test_if_neuron_resets_by_subtraction(host):
    # Constant input 0.7 and threshold 1: soft reset keeps the excess, so
    # v = 0.7, 1.4 (spike, 0.4), 1.1 (spike, 0.1), 0.8, 1.5 (spike): 0 1 1 0 1.
    # A hard reset would give 0 1 0 1 0.
    neuron = profile(host).neuron("if", parse_surrogate("AdaLi").factory(host)())
    x = torch.full((5, 1, 1), 0.7, dtype=torch.float64)
    if hasattr(neuron, "reset"):
        neuron.reset()
    out = neuron(x).flatten().tolist()
    assert out == [0.0, 1.0, 1.0, 0.0, 1.0]


def test_spikingjelly_if_keeps_the_reset_in_the_graph():
    """The authors' IF does not detach the reset (``detach_reset=False``): the
    gradient then differs from a detached reset's. snnTorch's ``Leaky`` always
    detaches its reset, so on snnTorch only the forward matches the authors'."""
    from spikingjelly.activation_based import neuron

    factory = parse_surrogate("AdaLi").factory("spikingjelly")
    grads = []
    for detach in (False, True):
        node = neuron.IFNode(
            v_reset=None,
            detach_reset=detach,
            surrogate_function=factory(),
            step_mode="m",
        )
        x = torch.full((4, 1, 3), 0.7, dtype=torch.float64, requires_grad=True)
        node(x).sum().backward()
        grads.append(x.grad)
    ours = profile("spikingjelly").neuron("if", factory())
    assert ours.detach_reset is False and ours.v_reset is None
    assert torch.isfinite(grads[0]).all() and grads[0].abs().sum() > 0
    assert not torch.equal(grads[0], grads[1])


def test_mix_loss_matches_its_formula():
    torch.manual_seed(0)
    logits = torch.randn(6, 10, dtype=torch.float64)
    labels = torch.randint(0, 10, (6,))
    lam = 0.2
    one_hot = torch.zeros(6, 10, dtype=torch.float64)
    one_hot[torch.arange(6), labels] = 1.0
    mse = ((logits - one_hot) ** 2).mean()
    logp = logits - logits.logsumexp(1, keepdim=True)
    ce = -logp[torch.arange(6), labels].mean()
    want = lam * mse + (1 - lam) * ce
    got = recipe_loss(logits, labels, loss="mix", mix_lambda=lam)
    torch.testing.assert_close(got, want)
    assert recipe_loss(logits, labels, loss="ce", mix_lambda=lam) == pytest.approx(
        float(ce)
    )


def test_paper_recipe_is_sgd_with_cosine_per_epoch():
    r = RECIPES["paper"]
    params = [torch.nn.Parameter(torch.zeros(3))]
    opt = r.make_optimizer(params)
    assert isinstance(opt, torch.optim.SGD)
    group = opt.param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (
        0.1,
        0.9,
        1e-4,
    )
    sched = r.make_schedule(opt, 4)
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    want = [0.05 * (1 + np.cos(np.pi * k / 4)) for k in range(4)]
    assert lrs == pytest.approx(want)
    assert RECIPES["host"].make_schedule(opt, 4) is None


def _write_cifar(folder, n_train=4, n_test=3):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        n = n_test if name == "test_batch" else n_train
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, n)]
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": b"x"}, f)
        written[name] = (data, labels)
    return written


def test_cifar10_reader_reads_the_python_layout(tmp_path):
    written = _write_cifar(tmp_path / "cifar-10-batches-py")
    x, y = read_batch(tmp_path / "cifar-10-batches-py" / "test_batch")
    data, labels = written["test_batch"]
    assert x.shape == (3, 3, 32, 32) and x.dtype == np.uint8
    assert np.array_equal(x[1, 2, 5, 7], data[1, 2 * 1024 + 5 * 32 + 7])
    assert y.tolist() == labels
    split = load_cifar10(tmp_path)
    assert split.x_train.shape == (20, 3, 32, 32) and split.x_test.shape[0] == 3
    # standardised with the training images' per-channel statistics
    mean = split.x_train.mean(dim=(0, 2, 3))
    torch.testing.assert_close(mean, torch.zeros(3), atol=1e-5, rtol=0)
    data = load_dataset("cifar10", data_dir=tmp_path)
    assert (data.channels, data.size) == (3, 32)


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_cifar10_reader_refuses_code_in_the_pickle(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "test_batch"
    with open(bad, "wb") as f:
        pickle.dump({b"data": _Boom(), b"labels": [0]}, f)
    with pytest.raises(DataFormatError, match="refusing to load"):
        read_batch(bad)
    assert not (tmp_path / "PWNED").exists()
    (tmp_path / "junk").write_bytes(b"not a pickle at all")
    with pytest.raises(DataFormatError, match="junk"):
        read_batch(tmp_path / "junk")
    with pytest.raises(ValueError, match="--data-dir"):
        load_dataset("cifar10")


@pytest.mark.slow
@pytest.mark.parametrize("host", HOSTS)
def test_paper_recipe_resumes_bit_identically(tmp_path, host):
    data = load_dataset("digits", train_limit=300, test_limit=100)
    cfg = _cfg(host, "paper", "resnet18", epochs=3, batch_size=64)
    whole, resumed = run_whole_and_resumed(cfg, data, tmp_path)
    assert resumed == whole
    assert [r["lr"] for r in json.loads(whole)] == pytest.approx(
        [0.05 * (1 + np.cos(np.pi * k / 3)) for k in range(3)]
    )


def test_cost_counts_flops_that_grow_with_width_squared():
    from adali_plugins.compare.cost import step_cost

    small = step_cost("spikingjelly", "resnet18", 0.0625, batch=4, size=8, steps=1)
    large = step_cost("spikingjelly", "resnet18", 0.125, batch=4, size=8, steps=1)
    assert small["seconds_per_step"] > 0
    ratio = large["flops_per_sample"] / small["flops_per_sample"]
    assert 3.0 < ratio <= 4.0


@pytest.mark.slow
def test_gpu_protocol_command_runs_tiny_on_the_cpu(tmp_path):
    """The documented GPU command, shrunk: paper recipe, ResNet-18, CIFAR-10
    from a folder the test writes, bf16 autocast, on the CPU."""
    from adali_plugins.compare import main

    _write_cifar(tmp_path / "cifar" / "cifar-10-batches-py", n_train=8, n_test=8)
    payload = main(
        [
            "--recipe", "paper", "--arch", "resnet18", "--width", "0.0625",
            "--dataset", "cifar10", "--data-dir", str(tmp_path / "cifar"),
            "--time-steps", "2", "--epochs", "2", "--seeds", "1",
            "--batch-size", "16", "--amp", "bf16", "--device", "cpu",
            "--host", "spikingjelly", "--surrogates", "AdaLi", "ATan",
            "--no-plots", "--out", str(tmp_path / "out"),
        ]
    )  # fmt: skip
    runs = payload["runs"]
    assert {r["surrogate"] for r in runs} == {"AdaLi", "ATan"}
    for r in runs:
        assert len(r["epochs"]) == 2
        assert all(np.isfinite(e["train_loss"]) for e in r["epochs"])
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert (config["recipe"], config["arch"], config["amp"]) == (
        "paper",
        "resnet18",
        "bf16",
    )
