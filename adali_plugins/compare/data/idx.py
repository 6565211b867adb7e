"""Reader and writer for the IDX format of MNIST-style data sets, plain or gzipped.

Our own implementation, so loading Fashion-MNIST needs neither torchvision nor a
download. A file is: two zero bytes, a dtype code, the number of dimensions, one
big-endian uint32 size per dimension, then the data in big-endian C order.
Every header field and the file length are checked, so a corrupt or truncated
file fails with a :class:`.DataFormatError` (a ``ValueError``) that names it
instead of yielding garbage.

Reading is streamed and bounded: the header is read and checked first, then
exactly the number of bytes it implies (at most ``max_bytes``), then one more
read to prove the file ends there. A gzip bomb, or a header that claims more
data than the file can hold, is refused before anything large is allocated.
The file is opened by :func:`.safe_open.open_regular` (a regular file, inside
``root`` when given; never a FIFO or a device), and the default limit is the
shared budget :data:`.safe_open.MAX_FILE_BYTES`.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ...fileio import atomic_write
from .errors import DataFormatError
from .safe_open import MAX_FILE_BYTES, open_regular

IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
"""IDX dtype code to the big-endian NumPy dtype stored in the file."""

_GZIP_MAGIC = b"\x1f\x8b"
MAX_IDX_BYTES = MAX_FILE_BYTES
"""Default largest data section ``read_idx`` accepts: the shared budget (1 GiB;
Fashion-MNIST's biggest file holds 47 MB)."""
_DEFLATE_MAX_RATIO = 1100
"""Deflate cannot expand data more than about 1032-fold: a header claiming more
than this ratio times the compressed size cannot be honest."""
_CHUNK = 1 << 20


def _read_exact(fh: BinaryIO, n: int, path: Path) -> bytes:
    try:
        return fh.read(n)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataFormatError(
            f"{path}: corrupt or truncated gzip stream ({exc})"
        ) from exc


def read_idx(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = MAX_IDX_BYTES,
    root: str | os.PathLike[str] | None = None,
) -> np.ndarray:
    """The array stored in an IDX file, in native byte order.

    Gzip is detected from the content, not the suffix, so ``.gz`` files and
    already-extracted ones both work. A data section over ``max_bytes`` is
    refused from the header alone. With ``root``, the file (links resolved)
    must lie inside that folder.

    Raises:
        DataFormatError: the file is missing, not a regular file, or not a
            well-formed IDX file (message names it).
    """
    path = Path(path)
    with io.BufferedReader(open_regular(path, root=root)) as raw:
        on_disk = os.fstat(raw.fileno()).st_size
        gz = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if gz:
            with gzip.GzipFile(fileobj=raw, mode="rb") as fh:
                return _parse(fh, path, on_disk, gz=True, max_bytes=max_bytes)
        return _parse(raw, path, on_disk, gz=False, max_bytes=max_bytes)


def _parse(
    fh: BinaryIO, path: Path, on_disk: int, *, gz: bool, max_bytes: int
) -> np.ndarray:
    data = _read_exact(fh, 4, path)
    if len(data) < 4:
        raise DataFormatError(
            f"{path}: too short for an IDX header ({len(data)} bytes, need 4)"
        )
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0:
        raise DataFormatError(
            f"{path}: bad IDX magic number 0x{data[:4].hex()}: "
            "the first two bytes must be zero"
        )
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise DataFormatError(
            f"{path}: bad IDX magic number 0x{data[:4].hex()}: "
            f"unknown dtype code 0x{code:02X} (known: {known})"
        )
    if ndim == 0:
        raise DataFormatError(f"{path}: IDX header declares zero dimensions")
    header_len = 4 + 4 * ndim
    dims = _read_exact(fh, 4 * ndim, path)
    if len(dims) < 4 * ndim:
        raise DataFormatError(
            f"{path}: truncated IDX header: {ndim} dimensions need "
            f"{header_len} header bytes, file has {4 + len(dims)}"
        )
    shape = struct.unpack(f">{ndim}I", dims)
    dtype = IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    if expected > max_bytes:
        raise DataFormatError(
            f"{path}: IDX header declares shape {shape} of {dtype.name}, "
            f"{expected} bytes, over the limit of {max_bytes} (max_bytes)"
        )
    ceiling = on_disk * _DEFLATE_MAX_RATIO if gz else on_disk - header_len
    if expected > ceiling:
        raise DataFormatError(
            f"{path}: truncated IDX data: shape {shape} of {dtype.name} needs "
            f"{expected} bytes, file has at most {ceiling}"
        )
    buf = bytearray(expected)
    view, got = memoryview(buf), 0
    while got < expected:
        chunk = _read_exact(fh, min(_CHUNK, expected - got), path)
        if not chunk:
            break
        view[got : got + len(chunk)] = chunk
        got += len(chunk)
    if got < expected:
        raise DataFormatError(
            f"{path}: truncated IDX data: shape {shape} of {dtype.name} needs "
            f"{expected} bytes, file has {got}"
        )
    extra = len(_read_exact(fh, _CHUNK, path))
    if extra:
        more = "" if extra < _CHUNK else "at least "
        raise DataFormatError(
            f"{path}: IDX file has {more}{extra} unexpected trailing bytes "
            f"after the {expected} data bytes of shape {shape}"
        )
    flat = np.frombuffer(buf, dtype=dtype)  # owns ``buf``: no second copy
    native = dtype.newbyteorder("=")
    if native != dtype:
        flat = flat.byteswap(inplace=True).view(native)
    return flat.reshape(shape)


def write_idx(
    path: str | os.PathLike[str], array: np.ndarray, *, compress: bool | None = None
) -> Path:
    """Store ``array`` as an IDX file, gzipped if ``compress`` (default: ``.gz``).

    Lets tests and tools produce files in the exact layout :func:`read_idx` and
    other IDX readers expect.
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        supported = ", ".join(sorted({dt.name for dt in codes}))
        raise ValueError(
            f"cannot store dtype {array.dtype} in IDX (supported: {supported})"
        )
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"IDX needs 1 to 255 dimensions, got {array.ndim}")
    if any(n > 0xFFFFFFFF for n in array.shape):
        raise ValueError(f"IDX sizes are uint32; shape {array.shape} is too large")
    code = codes[native]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    payload = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        payload = gzip.compress(payload, mtime=0)
    return atomic_write(path, payload)
