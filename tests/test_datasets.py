"""data/datasets.py: every dataset the harness offers loads and encodes the same way."""

from __future__ import annotations

import pytest
import torch

from adali_plugins.data.datasets import LOADERS, load_dataset
from adali_plugins.data.fashion_mnist import find_fashion_mnist


def _available(name):
    if name == "fashion-mnist":
        try:
            find_fashion_mnist(None)
        except FileNotFoundError:
            return False
    return True


@pytest.mark.parametrize("name", sorted(LOADERS), ids=sorted(LOADERS))
def test_dataset_loads_and_encodes_time_major(name):
    if not _available(name):
        pytest.skip(
            "Fashion-MNIST files missing: apt-get install dataset-fashion-mnist"
        )
    data = load_dataset(name, train_limit=200, test_limit=100)
    assert (len(data.y_train), len(data.y_test)) == (200, 100)
    assert all(abs(c - 20) <= 1 for c in torch.bincount(data.y_train).tolist())
    x = data.encode(data.x_train[:3], time_steps=5, encoding="direct")
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
        load_dataset("cifar10")
