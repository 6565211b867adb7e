"""The IDX reader on hand-built files, and Fashion-MNIST from Debian's package."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from adali_plugins.compare.data import (
    Split,
    find_fashion_mnist,
    load_fashion_mnist,
    read_idx,
    stratified_indices,
    write_idx,
)
from adali_plugins.compare.data.fashion_mnist import DEBIAN_DIR, FASHION_MNIST_FILES

CODES = {
    np.dtype("u1"): 0x08,
    np.dtype("i1"): 0x09,
    np.dtype("i2"): 0x0B,
    np.dtype("i4"): 0x0C,
    np.dtype("f4"): 0x0D,
    np.dtype("f8"): 0x0E,
}


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array``, written out from the format description."""
    code = CODES[array.dtype]
    header = bytes([0, 0, code, array.ndim])
    header += b"".join(struct.pack(">I", n) for n in array.shape)
    big = array.astype(array.dtype.newbyteorder(">"))
    return header + big.tobytes(order="C")


def sample(dtype: str) -> np.ndarray:
    rng = np.random.default_rng(7)
    if np.dtype(dtype).kind == "f":
        return rng.normal(size=(3, 4, 5)).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=(3, 4, 5), endpoint=True).astype(dtype)


def put(path: Path, payload: bytes, gz: bool) -> Path:
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("dtype", ["u1", "f4"], ids=["uint8", "float32"])
def test_reads_hand_built_file(tmp_path: Path, dtype: str, gz: bool) -> None:
    array = sample(dtype)
    path = put(tmp_path / ("a.idx.gz" if gz else "a.idx"), idx_bytes(array), gz)
    got = read_idx(path)
    assert got.shape == (3, 4, 5)
    assert got.dtype == np.dtype(dtype)
    assert got.dtype.isnative
    np.testing.assert_array_equal(got, array)
    assert got.flags.writeable


def test_float32_values_are_big_endian_on_disk(tmp_path: Path) -> None:
    payload = bytes([0, 0, 0x0D, 1, 0, 0, 0, 2]) + struct.pack(">ff", 1.5, -2.25)
    np.testing.assert_array_equal(
        read_idx(put(tmp_path / "f", payload, False)), [1.5, -2.25]
    )


def test_gzip_detected_from_content_not_suffix(tmp_path: Path) -> None:
    array = sample("u1")
    path = put(tmp_path / "no-suffix", idx_bytes(array), gz=True)
    np.testing.assert_array_equal(read_idx(path), array)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize(
    "dtype",
    ["u1", "i1", "i2", "i4", "f4", "f8"],
    ids=["uint8", "int8", "int16", "int32", "float32", "float64"],
)
def test_write_read_round_trip(tmp_path: Path, dtype: str, gz: bool) -> None:
    array = sample(dtype)
    path = write_idx(tmp_path / ("r.gz" if gz else "r"), array)
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") is gz
    assert (gzip.decompress(raw) if gz else raw) == idx_bytes(array)
    got = read_idx(path)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, array)


def test_write_rejects_unsupported_dtype(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot store dtype"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.uint16))


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize(
    ("mangle", "problem"),
    [
        (lambda b: b"\x01" + b[1:], "bad IDX magic number 0x01000803"),
        (lambda b: b[:2] + b"\x07" + b[3:], "unknown dtype code 0x07"),
        (lambda b: b[:3] + b"\x00" + b[4:], "zero dimensions"),
        (lambda b: b[:2], "too short for an IDX header"),
        (lambda b: b[:9], "truncated IDX header"),
        (lambda b: b[:-1], "truncated IDX data: shape (3, 4, 5) of uint8 needs 60"),
        (lambda b: b + b"\x00\x00", "2 unexpected trailing bytes"),
    ],
    ids=[
        "magic",
        "dtype-code",
        "zero-dims",
        "short-header",
        "cut-header",
        "cut-data",
        "trailing",
    ],
)
def test_corrupt_file_raises_naming_file_and_problem(
    tmp_path: Path, mangle, problem: str, gz: bool
) -> None:
    path = put(tmp_path / "bad-file.idx", mangle(idx_bytes(sample("u1"))), gz)
    with pytest.raises(ValueError) as err:
        read_idx(path)
    assert str(path) in str(err.value)
    assert problem in str(err.value)


def test_truncated_gzip_stream_raises(tmp_path: Path) -> None:
    payload = gzip.compress(idx_bytes(sample("u1")))
    path = tmp_path / "cut.gz"
    path.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(ValueError, match="corrupt or truncated gzip") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def make_fake_fashion(folder: Path, n_train: int, n_test: int, *, gz: bool) -> None:
    """A tiny stand-in with the real file names, for the directory lookup."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    for part, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx(folder / (FASHION_MNIST_FILES[f"{part}_images"] + suffix), images)
        write_idx(folder / (FASHION_MNIST_FILES[f"{part}_labels"] + suffix), labels)


@pytest.mark.parametrize(
    ("layout", "gz"),
    [("flat", False), ("flat", True), ("torchvision", False), ("torchvision", True)],
    ids=["flat-plain", "flat-gz", "torchvision-plain", "torchvision-gz"],
)
def test_data_dir_layouts(tmp_path: Path, layout: str, gz: bool) -> None:
    folder = tmp_path if layout == "flat" else tmp_path / "FashionMNIST" / "raw"
    make_fake_fashion(folder, 30, 20, gz=gz)
    split = load_fashion_mnist(data_dir=tmp_path)
    assert isinstance(split, Split)
    assert split.x_train.shape == (30, 1, 28, 28)
    assert split.x_test.shape == (20, 1, 28, 28)
    assert set(find_fashion_mnist(tmp_path)) == set(FASHION_MNIST_FILES)


def test_plain_files_preferred_over_gz(tmp_path: Path) -> None:
    make_fake_fashion(tmp_path, 30, 20, gz=True)
    make_fake_fashion(tmp_path, 40, 10, gz=False)
    assert load_fashion_mnist(data_dir=tmp_path).x_train.shape[0] == 40


def test_missing_files_error_names_package_and_paths(tmp_path: Path) -> None:
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"")
    with pytest.raises(FileNotFoundError) as err:
        load_fashion_mnist(data_dir=tmp_path)
    msg = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in msg
    raw = tmp_path / "FashionMNIST" / "raw"
    for name in FASHION_MNIST_FILES.values():
        for suffix in ("", ".gz"):
            assert f"{raw / name}{suffix}\n" in f"{msg}\n"
            present = name == "train-images-idx3-ubyte"
            assert (f"{tmp_path / name}{suffix}\n" in f"{msg}\n") is not present


def test_mismatched_image_and_label_counts(tmp_path: Path) -> None:
    make_fake_fashion(tmp_path, 30, 20, gz=False)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(19, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"has 20 images but .* has 19 labels"):
        load_fashion_mnist(data_dir=tmp_path)


@pytest.mark.parametrize(
    ("labels", "limit", "counts"),
    [
        ([0] * 50 + [1] * 30 + [2] * 20, 10, [5, 3, 2]),
        ([0] * 50 + [1] * 30 + [2] * 20, 7, [4, 2, 1]),
        ([0] * 10 + [1] * 10 + [2] * 10, 4, [2, 1, 1]),
        ([0] * 10 + [1] * 10 + [2] * 10, 30, [10, 10, 10]),
    ],
    ids=["exact", "largest-remainder", "tie-to-lower-label", "everything"],
)
def test_stratified_indices_counts(
    labels: list[int], limit: int, counts: list[int]
) -> None:
    labels_arr = np.array(labels)
    idx = stratified_indices(labels_arr, limit, np.random.default_rng(0))
    assert len(np.unique(idx)) == limit
    assert np.all(np.diff(idx) > 0)
    assert np.bincount(labels_arr[idx]).tolist() == counts


installed = all(
    (DEBIAN_DIR / f"{name}.gz").is_file() or (DEBIAN_DIR / name).is_file()
    for name in FASHION_MNIST_FILES.values()
)
needs_debian = pytest.mark.skipif(
    not installed,
    reason="Fashion-MNIST not installed: apt-get install dataset-fashion-mnist",
)


@pytest.fixture(scope="module")
def fashion() -> Split:
    return load_fashion_mnist()


@needs_debian
def test_raw_debian_files() -> None:
    paths = find_fashion_mnist()
    images = read_idx(paths["train_images"])
    labels = read_idx(paths["test_labels"])
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert images.max() == 255 and images.min() == 0


@needs_debian
def test_full_fashion_mnist(fashion: Split) -> None:
    assert fashion.x_train.shape == (60000, 1, 28, 28)
    assert fashion.x_test.shape == (10000, 1, 28, 28)
    assert fashion.x_train.dtype == fashion.x_test.dtype == torch.float32
    assert fashion.y_train.dtype == fashion.y_test.dtype == torch.int64
    assert fashion.x_train.min() == 0.0 and fashion.x_train.max() == 1.0
    assert torch.bincount(fashion.y_train).tolist() == [6000] * 10
    assert torch.bincount(fashion.y_test).tolist() == [1000] * 10
    assert 0.2 < fashion.x_train.mean().item() < 0.4


def row_hashes(x: torch.Tensor) -> list[bytes]:
    return [hashlib.sha1(row.numpy().tobytes()).digest() for row in x]


@needs_debian
def test_stratified_subset_is_deterministic(fashion: Split) -> None:
    a = load_fashion_mnist(train_limit=1005, test_limit=200, seed=3)
    b = load_fashion_mnist(train_limit=1005, test_limit=200, seed=3)
    c = load_fashion_mnist(train_limit=1005, test_limit=200, seed=4)
    assert a.x_train.shape == (1005, 1, 28, 28) and a.x_test.shape == (200, 1, 28, 28)
    for name in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert not torch.equal(a.x_train, c.x_train)
    assert not torch.equal(a.x_test, c.x_test)
    assert torch.bincount(a.y_train).tolist() == [101] * 5 + [100] * 5
    assert torch.bincount(a.y_test).tolist() == [20] * 10
    full = dict(zip(row_hashes(fashion.x_train), fashion.y_train.tolist(), strict=True))
    for h, y in zip(row_hashes(a.x_train), a.y_train.tolist(), strict=True):
        assert full[h] == y


@needs_debian
def test_train_limit_leaves_test_set_alone(fashion: Split) -> None:
    split = load_fashion_mnist(train_limit=500, seed=0)
    assert split.x_train.shape[0] == 500
    assert torch.equal(split.x_test, fashion.x_test)
    assert torch.equal(split.y_test, fashion.y_test)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"train_limit": 0}, ValueError),
        ({"train_limit": 31}, ValueError),
        ({"test_limit": 21}, ValueError),
        ({"train_limit": 10.0}, TypeError),
    ],
    ids=["zero", "too-many-train", "too-many-test", "float"],
)
def test_bad_limits(tmp_path: Path, kwargs: dict, error: type[Exception]) -> None:
    make_fake_fashion(tmp_path, 30, 20, gz=False)
    with pytest.raises(error, match="_limit"):
        load_fashion_mnist(data_dir=tmp_path, **kwargs)
