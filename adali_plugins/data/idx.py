"""Reader and writer for the IDX format of MNIST-style data sets, plain or gzipped.

Our own implementation, so loading Fashion-MNIST needs neither torchvision nor a
download. A file is: two zero bytes, a dtype code, the number of dimensions, one
big-endian uint32 size per dimension, then the data in big-endian C order.
Every header field and the file length are checked, so a corrupt or truncated
file fails with a ValueError that names it instead of yielding garbage.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

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


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as fh:
        raw = fh.read()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: corrupt or truncated gzip stream ({exc})") from exc


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """The array stored in an IDX file, in native byte order.

    Gzip is detected from the content, not the suffix, so ``.gz`` files and
    already-extracted ones both work.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(
            f"{path}: too short for an IDX header ({len(data)} bytes, need 4)"
        )
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0:
        raise ValueError(
            f"{path}: bad IDX magic number 0x{data[:4].hex()}: "
            "the first two bytes must be zero"
        )
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise ValueError(
            f"{path}: bad IDX magic number 0x{data[:4].hex()}: "
            f"unknown dtype code 0x{code:02X} (known: {known})"
        )
    if ndim == 0:
        raise ValueError(f"{path}: IDX header declares zero dimensions")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise ValueError(
            f"{path}: truncated IDX header: {ndim} dimensions need "
            f"{header_len} header bytes, file has {len(data)}"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header_len
    if found < expected:
        raise ValueError(
            f"{path}: truncated IDX data: shape {shape} of {dtype.name} needs "
            f"{expected} bytes, file has {found}"
        )
    if found > expected:
        raise ValueError(
            f"{path}: IDX file has {found - expected} unexpected trailing bytes "
            f"after the {expected} data bytes of shape {shape}"
        )
    flat = np.frombuffer(
        data, dtype=dtype, offset=header_len, count=expected // dtype.itemsize
    )
    return flat.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


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
    path.write_bytes(payload)
    return path
