"""CIFAR-10 from the user's own copy in its standard python layout.

The folder (``--data-dir``) is ``cifar-10-batches-py`` or its parent: five
training files ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``, each a
pickled dict with ``b"data"`` (uint8, ``N x 3072``, channel-major 32x32) and
``b"labels"`` (N ints). Nothing is downloaded.

Pickle can run code, so these files are read by a restricted unpickler that
builds only plain containers, bytes, strings, numbers and numpy arrays; any other
object in the file is refused before it is created.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .digits import Split
from .errors import DataFormatError

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
}
"""The only globals a CIFAR batch needs: numpy array reconstruction (and the
codec numpy uses for raw bytes under ``encoding="latin1"``)."""


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: a CIFAR-10 batch holds only "
                "arrays, lists and numbers"
            )
        return super().find_class(module, name)


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` int64 of one file."""
    try:
        with open(path, "rb") as f:
            batch = _SafeUnpickler(f, encoding="bytes").load()
    except FileNotFoundError:
        raise DataFormatError(
            f"{path}: missing (expected the CIFAR-10 python layout)"
        ) from None
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        KeyError,
        IndexError,
        OverflowError,
    ) as exc:
        raise DataFormatError(f"{path}: not a CIFAR-10 batch ({exc})") from None
    if not isinstance(batch, dict):
        raise DataFormatError(f"{path}: not a CIFAR-10 batch (no dict inside)")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if not isinstance(data, np.ndarray) or labels is None:
        raise DataFormatError(f"{path}: not a CIFAR-10 batch (no data/labels)")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataFormatError(
            f"{path}: data must be uint8 N x 3072, got {data.dtype} {data.shape}"
        )
    y = np.asarray(labels, dtype=np.int64)
    if y.shape != (data.shape[0],) or (y.size and not 0 <= y.min() <= y.max() <= 9):
        raise DataFormatError(f"{path}: labels must be N ints in 0..9")
    return data.reshape(-1, 3, 32, 32), y


def _folder(data_dir: Path) -> Path:
    inner = data_dir / "cifar-10-batches-py"
    return inner if inner.is_dir() else data_dir


def load_cifar10(data_dir: Path) -> Split:
    """The 50,000 / 10,000 split as float tensors standardised per channel.

    Mean and standard deviation are computed on the training images, so the
    test images never inform the preprocessing. No augmentation (the authors
    use random crops and flips; ours is left out).
    """
    folder = _folder(data_dir)
    parts = [read_batch(folder / name) for name in TRAIN_FILES]
    x_train = np.concatenate([x for x, _ in parts])
    y_train = np.concatenate([y for _, y in parts])
    x_test, y_test = read_batch(folder / TEST_FILE)
    scale = torch.tensor(1.0 / 255.0)
    xtr = torch.from_numpy(x_train).float().mul_(scale)
    xte = torch.from_numpy(x_test).float().mul_(scale)
    mean = xtr.mean(dim=(0, 2, 3), keepdim=True)
    std = xtr.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return Split(
        xtr.sub_(mean).div_(std),
        torch.from_numpy(y_train),
        xte.sub_(mean).div_(std),
        torch.from_numpy(y_test),
    )
