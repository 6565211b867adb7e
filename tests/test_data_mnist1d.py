"""MNIST-1D generated offline by the mnist1d package's own generator."""

from __future__ import annotations

import random
import sys

import numpy as np
import pytest
import torch

from adali_plugins.compare.data import MNIST1D_DEFAULT_ARGS, Split, load_mnist1d

mnist1d_data = pytest.importorskip(
    "mnist1d.data", reason="mnist1d not installed: pip install mnist1d"
)


@pytest.fixture(scope="module")
def default() -> Split:
    return load_mnist1d()


def test_recorded_defaults_match_package() -> None:
    published = mnist1d_data.get_dataset_args(as_dict=True)
    published.pop("url")
    assert published == MNIST1D_DEFAULT_ARGS


@pytest.mark.slow
def test_default_sizes_shapes_and_dtypes(default: Split) -> None:
    assert default.x_train.shape == (4000, 1, 40)
    assert default.x_test.shape == (1000, 1, 40)
    assert default.x_train.dtype == default.x_test.dtype == torch.float32
    assert default.y_train.dtype == default.y_test.dtype == torch.int64
    assert default.y_train.shape == (4000,) and default.y_test.shape == (1000,)
    assert sorted(default.y_train.unique().tolist()) == list(range(10))
    assert sorted(default.y_test.unique().tolist()) == list(range(10))
    labels = torch.cat([default.y_train, default.y_test])
    assert torch.bincount(labels).tolist() == [500] * 10
    assert torch.isfinite(default.x_train).all()


@pytest.mark.slow
def test_default_equals_package_generator_with_published_args(
    default: Split,
) -> None:
    reference = mnist1d_data.make_dataset(mnist1d_data.get_dataset_args())
    np.testing.assert_array_equal(
        default.x_train[:, 0].numpy(), reference["x"].astype(np.float32)
    )
    np.testing.assert_array_equal(
        default.x_test[:, 0].numpy(), reference["x_test"].astype(np.float32)
    )
    np.testing.assert_array_equal(default.y_train.numpy(), reference["y"])
    np.testing.assert_array_equal(default.y_test.numpy(), reference["y_test"])


def test_standardised_over_whole_set(default: Split) -> None:
    x = torch.cat([default.x_train, default.x_test]).double()
    assert abs(x.mean().item()) < 1e-5
    assert x.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_same_seed_same_data_other_seed_differs(default: Split) -> None:
    again = load_mnist1d(seed=42)
    other = load_mnist1d(seed=7)
    for name in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(default, name), getattr(again, name))
    assert not torch.equal(default.x_train, other.x_train)
    assert not torch.equal(default.y_train, other.y_train)
    assert other.x_train.shape == (4000, 1, 40)


@pytest.mark.parametrize(
    ("n_train", "n_test"),
    [(100, 50), (123, 45), (10, 1)],
    ids=["round", "not-multiple-of-ten", "tiny"],
)
def test_custom_sizes(n_train: int, n_test: int) -> None:
    split = load_mnist1d(seed=1, n_train=n_train, n_test=n_test)
    assert split.x_train.shape == (n_train, 1, 40)
    assert split.x_test.shape == (n_test, 1, 40)
    assert split.y_train.shape == (n_train,) and split.y_test.shape == (n_test,)
    assert int(split.y_train.max()) <= 9 and int(split.y_train.min()) >= 0
    repeat = load_mnist1d(seed=1, n_train=n_train, n_test=n_test)
    assert torch.equal(split.x_train, repeat.x_train)
    assert torch.equal(split.x_test, repeat.x_test)


def test_n_train_alone_keeps_default_test_size() -> None:
    split = load_mnist1d(n_train=200)
    assert split.x_train.shape[0] == 200 and split.x_test.shape[0] == 1000
    assert sorted(split.y_train.unique().tolist()) == list(range(10))


def test_global_random_state_untouched() -> None:
    np.random.seed(123)
    random.seed(123)
    expected = (np.random.rand(), random.random())
    np.random.seed(123)
    random.seed(123)
    load_mnist1d(n_train=20, n_test=10)
    assert (np.random.rand(), random.random()) == expected


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_train": 0}, ValueError, "n_train"),
        ({"n_test": -1}, ValueError, "n_test"),
        ({"n_train": 1.5}, TypeError, "n_train"),
        ({"seed": -1}, ValueError, "seed"),
    ],
    ids=["zero-train", "negative-test", "float-train", "negative-seed"],
)
def test_bad_arguments(kwargs: dict, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        load_mnist1d(**kwargs)


def test_missing_package_error_names_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [m for m in sys.modules if m == "mnist1d" or m.startswith("mnist1d.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "mnist1d", None)
    with pytest.raises(ImportError, match="pip install mnist1d"):
        load_mnist1d()
