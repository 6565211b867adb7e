"""Writing files so that a crash, a full disk or a second process never leaves
half of one, and locking an output folder against a concurrent run.

Every file this package produces goes through :func:`atomic_path` (or its
shorthand :func:`atomic_write`): the content is written to a uniquely named
temporary file in the target's folder, flushed to disk, then renamed over the
target with ``os.replace``. Readers see the old file or the new one, never a
mix; a failure leaves the old file untouched and removes the temporary one.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every OS allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path``.

    The temporary name is unique (``tempfile``), so concurrent writers never
    collide, and keeps ``path``'s suffix, so writers that choose a format from
    the suffix (``savefig``) still work. Whatever the body writes there is
    fsynced and renamed over ``path``; if the body raises, ``path`` is left as
    it was and the temporary file is removed.
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> Path:
    """Replace ``path``'s content by ``data`` (text is UTF-8) all at once."""
    path = Path(path)
    raw = data.encode() if isinstance(data, str) else data
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(raw)
            fh.flush()
    return path


class FolderBusyError(RuntimeError):
    """Another process holds the lock of an output folder."""


@contextmanager
def folder_lock(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold an advisory exclusive lock (``flock``) on ``folder/.lock``.

    A second holder fails at once with :class:`FolderBusyError` instead of
    waiting; the lock goes away with the process, so a killed run never leaves a
    stale one behind.
    """
    import fcntl

    folder = Path(folder)
    lock = folder / ".lock"
    fh = open(lock, "a+")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise FolderBusyError(
                    f"{folder} is in use by another run (lock {lock}); wait for it "
                    "to finish or use another --out"
                ) from None
            raise
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        yield lock
    finally:
        fh.close()
