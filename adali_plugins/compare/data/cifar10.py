"""CIFAR-10 from the user's own copy in its standard python layout.

The folder (``--data-dir``) is ``cifar-10-batches-py`` or its parent: five
training files ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``, each a
pickled dict with ``b"data"`` (uint8, ``N x 3072``, channel-major 32x32) and
``b"labels"`` (N ints). Nothing is downloaded.

Pickle can run code, so these files are read by a restricted unpickler that
builds only plain containers, bytes, strings, numbers and numeric numpy arrays;
any other object in the file is refused before it is created. Pickle can also
declare sizes, so every array the file asks for (its shape and dtype, through
``ndarray``, ``_reconstruct`` or the array's state) is checked against the
bytes the file holds and the budget of :mod:`.safe_open` *before* numpy
allocates it: a 120-byte file cannot make the reader allocate more than a few
hundred bytes. Labels must be integers 0..9 (no floats, no strings). Every
failure is a :class:`.DataFormatError` naming the file.
"""

from __future__ import annotations

import io
import pickle
import pickletools
from pathlib import Path
from typing import Any

import numpy as np

from .digits import Split
from .errors import DataFormatError
from .safe_open import MAX_FILE_BYTES, check_declared, nbytes, read_bytes

try:
    from numpy._core.multiarray import scalar as _np_scalar
except ImportError:  # numpy < 2
    from numpy.core.multiarray import scalar as _np_scalar

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
_LATIN1 = frozenset({"latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1"})
"""The codec numpy's pickles use for raw bytes (``_codecs.encode(s, "latin1")``)."""


class _Refused(Exception):
    """A pickled object the reader will not build (turned into DataFormatError)."""


class _Limits:
    """What one file may ask for: its own size in bytes, and the budget."""

    def __init__(self, path: Path, present: int, budget: int) -> None:
        self.path, self.present, self.budget = path, present, budget

    def dtype(self, value: Any) -> np.dtype:
        if not isinstance(value, np.dtype | str | bytes):
            raise _Refused(f"dtype given as {type(value).__name__}")
        dt = np.dtype(value.decode("latin1") if isinstance(value, bytes) else value)
        if dt.hasobject:
            raise _Refused(f"an array of Python objects ({dt})")
        return dt

    def shape(self, value: Any) -> tuple[int, ...]:
        dims = value if isinstance(value, tuple) else (value,)
        if not all(
            isinstance(d, int | np.integer) and not isinstance(d, bool) and d >= 0
            for d in dims
        ):
            raise _Refused(f"array shape {value!r:.60} is not non-negative integers")
        return tuple(int(d) for d in dims)

    def allow(self, what: str, shape: tuple[int, ...], dt: np.dtype) -> int:
        size = nbytes(shape, dt.itemsize)
        check_declared(
            self.path,
            f"{what} of shape {shape} and dtype {dt}",
            size,
            self.present,
            budget=self.budget,
        )
        return size


class _GuardedArray(np.ndarray):
    """The array a pickle builds: its state is checked before numpy copies it."""

    def __setstate__(self, state: Any) -> None:
        limits: _Limits = self.__dict__["_limits"]
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise _Refused("array state is not numpy's tuple")
        shape_, dtype_, _, raw = state[-4:]
        shape, dt = limits.shape(shape_), limits.dtype(dtype_)
        size = limits.allow("array state", shape, dt)
        if not isinstance(raw, bytes | bytearray | str) or len(raw) != size:
            raise _Refused(
                f"array of shape {shape} and dtype {dt} needs {size} data bytes, "
                f"the file gives {len(raw) if hasattr(raw, '__len__') else 'none'}"
            )
        super().__setstate__(state)


class _Callables:
    """The only callables a CIFAR batch may reach, each checking its arguments."""

    def __init__(self, limits: _Limits) -> None:
        self.limits = limits
        self.table = {
            ("numpy.core.multiarray", "_reconstruct"): self.reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): self.reconstruct,
            ("numpy", "ndarray"): self.ndarray,
            ("numpy", "dtype"): self.dtype,
            ("numpy.core.multiarray", "scalar"): self.scalar,
            ("numpy._core.multiarray", "scalar"): self.scalar,
            ("_codecs", "encode"): self.encode,
            ("numpy.core.numeric", "_frombuffer"): self.frombuffer,
            ("numpy._core.numeric", "_frombuffer"): self.frombuffer,
        }

    def _new(self, what: str, shape: Any, dtype: Any) -> _GuardedArray:
        dims, dt = self.limits.shape(shape), self.limits.dtype(dtype)
        self.limits.allow(what, dims, dt)
        out = np.ndarray.__new__(_GuardedArray, dims, dt)
        out.__dict__["_limits"] = self.limits
        return out

    def ndarray(self, shape: Any = (0,), dtype: Any = "f8", *more: Any) -> Any:
        if more:
            raise _Refused("numpy.ndarray with a buffer, offset or strides")
        return self._new("numpy.ndarray", shape, dtype)

    def reconstruct(self, subtype: Any, shape: Any, dtype: Any) -> Any:
        if subtype is not self.table[("numpy", "ndarray")]:
            raise _Refused("_reconstruct of anything but numpy.ndarray")
        return self._new("_reconstruct", shape, dtype)

    def frombuffer(self, buf: Any, dtype: Any, shape: Any, order: Any) -> Any:
        """Protocol 5's array: a buffer already read from the file, reshaped."""
        dims, dt = self.limits.shape(shape), self.limits.dtype(dtype)
        size = self.limits.allow("_frombuffer", dims, dt)
        if not isinstance(buf, bytes | bytearray) or len(buf) != size:
            raise _Refused(f"_frombuffer of {dims} {dt} without its {size} bytes")
        if order not in ("C", "F"):
            raise _Refused(f"_frombuffer order {order!r:.10}")
        return np.frombuffer(buf, dtype=dt).reshape(dims, order=order)

    def scalar(self, dtype: Any, raw: Any = None) -> Any:
        dt = self.limits.dtype(dtype)
        if not isinstance(raw, bytes) or len(raw) != dt.itemsize:
            raise _Refused(f"numpy scalar of {dt} without its {dt.itemsize} bytes")
        return _np_scalar(dt, raw)

    def dtype(self, obj: Any, align: Any = False, copy: Any = False) -> np.dtype:
        if not isinstance(obj, str | bytes) or len(obj) > 16:
            raise _Refused(f"numpy.dtype({obj!r:.40})")
        return np.dtype(obj.decode("latin1") if isinstance(obj, bytes) else obj)

    def encode(self, text: Any, encoding: Any = "utf-8", errors: Any = None) -> bytes:
        if not isinstance(text, str) or encoding not in _LATIN1:
            raise _Refused(
                f"_codecs.encode with codec {encoding!r:.40} (only latin1 is used "
                "by numpy's pickles)"
            )
        return text.encode("latin1")

    def lookup(self, module: str, name: str) -> Any:
        if (module, name) not in self.table:
            raise _Refused(
                f"refusing to load {module}.{name}: a CIFAR-10 batch holds only "
                "arrays, lists and numbers"
            )
        return self.table[(module, name)]


class _SafeUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, limits: _Limits) -> None:
        super().__init__(io.BytesIO(data), encoding="bytes")
        self._callables = _Callables(limits)

    def find_class(self, module: str, name: str) -> Any:
        return self._callables.lookup(module, name)


def _prescan(path: Path, raw: bytes) -> None:
    """Walk the opcodes once, without building anything, so that every length
    the file declares (bytes, strings, big integers, frames) is compared with
    the bytes that follow it. CPython's unpickler allocates some of these
    lengths before reading them; here a lie fails on a few bytes."""
    try:
        for op, arg, pos in pickletools.genops(io.BytesIO(raw)):
            if op.name == "FRAME" and arg > len(raw) - pos - 9:
                raise DataFormatError(
                    f"{path}: not a CIFAR-10 batch: a frame at byte {pos} declares "
                    f"{arg} bytes, {len(raw) - pos - 9} follow"
                )
    except DataFormatError:
        raise
    except MemoryError:
        raise
    except Exception as exc:
        raise DataFormatError(
            f"{path}: not a CIFAR-10 batch: {type(exc).__name__}: {exc}"[:400]
        ) from None


def _labels(path: Path, labels: Any, n: int) -> np.ndarray:
    """``labels`` as int64, if it is ``n`` integers 0..9 (no bools, no floats)."""
    if isinstance(labels, np.ndarray):
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise DataFormatError(
                f"{path}: labels must be N integers 0..9, got an array of "
                f"{labels.dtype} {labels.shape}"
            )
        labels = labels.tolist()
    if not isinstance(labels, list | tuple):
        raise DataFormatError(
            f"{path}: labels must be a list of N integers 0..9, got "
            f"{type(labels).__name__}"
        )
    if len(labels) != n:
        raise DataFormatError(f"{path}: {len(labels)} labels for {n} images")
    for i, v in enumerate(labels):
        if (
            isinstance(v, bool)
            or not isinstance(v, int | np.integer)
            or not 0 <= v <= 9
        ):
            raise DataFormatError(
                f"{path}: label {i} is {v!r:.40}; labels must be integers 0..9"
            )
    return np.asarray(labels, dtype=np.int64).reshape(n)


def read_batch(
    path: Path,
    *,
    root: Path | None = None,
    max_bytes: int = MAX_FILE_BYTES,
) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 3, 32, 32)`` uint8 and labels ``(N,)`` int64 of one file.

    The file must be a regular file (inside ``root`` when given) of at most
    ``max_bytes``; every array it declares must fit in the bytes it holds.

    Raises:
        DataFormatError: for any malformed, forged or oversized file, naming it.
    """
    path = Path(path)
    raw = read_bytes(
        path,
        root=root,
        max_bytes=max_bytes,
        missing="missing (expected the CIFAR-10 python layout)",
    )
    _prescan(path, raw)
    limits = _Limits(path, len(raw), max_bytes)
    try:
        batch = _SafeUnpickler(raw, limits).load()
    except DataFormatError:
        raise
    except _Refused as exc:
        raise DataFormatError(f"{path}: not a CIFAR-10 batch: {exc}") from None
    except MemoryError:
        raise  # the machine, not the file: every size was checked against it
    except Exception as exc:  # whatever a forged pickle trips: one error type
        raise DataFormatError(
            f"{path}: not a CIFAR-10 batch ({type(exc).__name__}: {exc})"[:400]
        ) from None
    if not isinstance(batch, dict):
        raise DataFormatError(f"{path}: not a CIFAR-10 batch (no dict inside)")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if not isinstance(data, np.ndarray) or labels is None:
        raise DataFormatError(f"{path}: not a CIFAR-10 batch (no data/labels)")
    data = data.view(np.ndarray)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataFormatError(
            f"{path}: data must be uint8 N x 3072, got {data.dtype} {data.shape}"
        )
    y = _labels(path, labels, data.shape[0])
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
    import torch

    folder = _folder(data_dir)
    parts = [read_batch(folder / name, root=folder) for name in TRAIN_FILES]
    x_train = np.concatenate([x for x, _ in parts])
    y_train = np.concatenate([y for _, y in parts])
    x_test, y_test = read_batch(folder / TEST_FILE, root=folder)
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
