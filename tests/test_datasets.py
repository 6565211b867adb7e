"""compare/data/datasets.py: every harness dataset loads and encodes the same way."""

from __future__ import annotations

import pytest
import torch

from adali_plugins.compare.data.datasets import LOADERS, NEEDS_DATA_DIR, load_dataset
from adali_plugins.compare.data.fashion_mnist import find_fashion_mnist


def _available(name):
    if name == "mnist1d":
        pytest.importorskip("mnist1d")
    if name == "fashion-mnist":
        try:
            find_fashion_mnist(None)
        except FileNotFoundError:
            return False
    return True


BUNDLED = sorted(set(LOADERS) - set(NEEDS_DATA_DIR))


@pytest.mark.slow
@pytest.mark.parametrize("name", BUNDLED, ids=BUNDLED)
def test_dataset_loads_and_encodes_time_major(name):
    if not _available(name):
        pytest.skip(
            "Fashion-MNIST files missing: apt-get install dataset-fashion-mnist"
        )
    data = load_dataset(name, train_limit=200, test_limit=100)
    assert (len(data.y_train), len(data.y_test)) == (200, 100)
    assert all(abs(c - 20) <= 1 for c in torch.bincount(data.y_train).tolist())
    x = data.encode(data.x_train[:3], time_steps=5, encoding="direct")
    if data.sequence:
        assert x.shape == (5, 3, data.channels * data.size // 5)
        return
    assert x.shape[1:] == (3, data.channels, data.size, data.size)
    assert x.shape[0] == (data.x_train.shape[1] if data.time_major_frames else 5)
    if not data.time_major_frames:
        gen = torch.Generator().manual_seed(0)
        spikes = data.encode(
            data.x_train[:3], time_steps=5, encoding="rate", generator=gen
        )
        assert set(spikes.unique().tolist()) <= {0.0, 1.0}


def test_subsets_are_deterministic():
    a = load_dataset("digits", train_limit=100, seed=3)
    b = load_dataset("digits", train_limit=100, seed=3)
    assert torch.equal(a.x_train, b.x_train)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="dataset must be one of"):
        load_dataset("cifar100")


@pytest.mark.slow
def test_sequences_are_read_out_in_order_over_time():
    pytest.importorskip("mnist1d")
    data = load_dataset("mnist1d", train_limit=50, test_limit=20)
    assert data.sequence and data.x_train.shape[1:] == (1, 40)
    x = data.x_train[:4]
    steps = data.encode(x, time_steps=10, encoding="direct")
    assert steps.shape == (10, 4, 4)
    for t in range(10):
        assert torch.equal(steps[t], x[:, 0, 4 * t : 4 * t + 4])
    two = torch.arange(24.0).reshape(2, 2, 6)
    assert data.encode(two, time_steps=3, encoding="direct")[1].tolist() == [
        [2.0, 3.0, 8.0, 9.0],
        [14.0, 15.0, 20.0, 21.0],
    ]
    with pytest.raises(ValueError, match=r"--time-steps must divide .* 40"):
        data.encode(x, time_steps=7, encoding="direct")
