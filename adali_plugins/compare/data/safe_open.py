"""The one rule every reader of a user's data file follows.

Whatever the format (IDX, CIFAR-10 pickle, AEDAT, N-MNIST, ``.npy``, label
tables and listings), a file read from a user's folder goes through here:

1. **Only regular files, only inside the folder.** A file is opened without
   blocking and refused unless ``fstat`` says it is a regular file, so a FIFO
   cannot hang a reader and a device (``/dev/zero``) cannot feed it forever. A
   name read from a listing (``trials_to_train.txt``) must be relative, free of
   ``..``, and, links resolved, still inside the data folder; a link leading out
   of the folder is refused the same way.
2. **A stated budget.** No file over :data:`MAX_FILE_BYTES` is read, and no
   reader allocates more for one file than that budget.
3. **Declared against present.** Every size a file declares (an IDX header's
   shape, a pickled array's shape and dtype, an AEDAT packet's capacity, a
   ``.npy`` header) is compared with the bytes the file actually holds, and with
   the budget, *before* anything of that size is allocated
   (:func:`check_declared`). So a 120-byte file can never make a reader
   allocate more than about its own size.

Every failure is a :class:`.DataFormatError` (a ``ValueError``) whose message
starts with the file's path, so the CLI prints it as one line.
"""

from __future__ import annotations

import io
import math
import os
import stat
from pathlib import Path, PurePath
from typing import BinaryIO

from .errors import DataFormatError

MAX_FILE_BYTES = 1 << 30
"""The budget: the largest data file any reader accepts, and the most it
allocates for one file's decoded content (1 GiB; the largest real files, DVS128
Gesture recordings, are under 200 MB, a CIFAR-10 batch is 31 MB)."""

_KINDS = {
    stat.S_ISDIR: "a directory",
    stat.S_ISFIFO: "a FIFO",
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
    stat.S_ISSOCK: "a socket",
}


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS.items() if test(mode)), "not a file")


def inside(root: str | os.PathLike[str], name: str) -> Path:
    """``root / name`` for a ``name`` read from a listing in ``root``.

    Refuses an absolute name, a ``..`` component and a name whose links lead
    out of ``root``; the error names the listing's folder and the name.
    """
    root = Path(root)
    pure = PurePath(name)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise DataFormatError(
            f"{root / name}: the listing names {name!r}, which is not a plain "
            f"relative path inside {root} (no absolute paths, no '..')"
        )
    path = root / pure
    _check_within(path, root)
    return path


def _check_within(path: Path, root: str | os.PathLike[str]) -> str:
    """The resolved ``path``, or DataFormatError if it is outside ``root``."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if os.path.commonpath([real_root, real]) != real_root:
        raise DataFormatError(
            f"{path}: leads outside the data folder {root} (to {real}); only "
            "files inside it are read: copy the file in instead of linking it"
        )
    return real


def open_regular(
    path: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str] | None = None,
    missing: str = "missing",
) -> BinaryIO:
    """``path`` opened for reading (unbuffered), if it is a regular file.

    With ``root``, the file (links resolved) must also lie inside ``root``.
    Opening never blocks (``O_NONBLOCK``), so a FIFO is refused, not waited on.
    ``missing`` is the message for a file that does not exist.
    """
    path = Path(path)
    real = _check_within(path, root) if root is not None else os.fspath(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(real, flags)
    except FileNotFoundError:
        raise DataFormatError(f"{path}: {missing}") from None
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise DataFormatError(
                f"{path}: {_kind(st.st_mode)}, not a regular file; only regular "
                "data files are read"
            )
        if root is not None:
            now = os.stat(real)
            if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                raise DataFormatError(f"{path}: changed while it was being opened")
        return io.FileIO(fd, "rb", closefd=True)
    except BaseException:
        os.close(fd)
        raise


def size_of(fh: BinaryIO) -> int:
    """Bytes in the open regular file ``fh``."""
    return os.fstat(fh.fileno()).st_size


def read_bytes(
    path: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str] | None = None,
    max_bytes: int = MAX_FILE_BYTES,
    missing: str = "missing",
) -> bytes:
    """The whole content of a regular file, refused above ``max_bytes``.

    Reads exactly the size ``fstat`` reports (never a guessed larger buffer),
    then proves the file ends there.
    """
    path = Path(path)
    with open_regular(path, root=root, missing=missing) as fh:
        size = size_of(fh)
        check_declared(path, "the file", size, size, budget=max_bytes)
        try:
            data = fh.read(size) if size else b""
            extra = fh.read(1)
        except OSError as exc:
            raise DataFormatError(f"{path}: cannot be read ({exc.strerror})") from None
    if len(data) != size or extra:
        raise DataFormatError(f"{path}: changed size while it was being read")
    return data


def check_declared(
    path: str | os.PathLike[str],
    what: str,
    declared: int,
    present: int,
    *,
    budget: int = MAX_FILE_BYTES,
) -> None:
    """Refuse ``declared`` bytes unless the file holds them and they fit the budget.

    ``declared`` is what the file says ``what`` needs (in bytes), ``present``
    what the file can supply for it. Call before allocating ``declared`` bytes.
    """
    if declared < 0:
        raise DataFormatError(f"{path}: {what} declares a negative size ({declared})")
    if declared > budget:
        raise DataFormatError(
            f"{path}: {what} needs {declared} bytes, over the budget of {budget} "
            "bytes for one data file (safe_open.MAX_FILE_BYTES)"
        )
    if declared > present:
        raise DataFormatError(
            f"{path}: {what} declares {declared} bytes but the file holds only "
            f"{present} (truncated or forged)"
        )


def nbytes(shape: tuple[int, ...], itemsize: int) -> int:
    """Bytes of an array of ``shape`` and ``itemsize`` (exact Python integers)."""
    return math.prod(shape) * itemsize
