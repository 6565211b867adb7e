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
import secrets
import stat
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


_TMP_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def _new_temporary(path: Path) -> Path:
    """Create a fresh, empty, uniquely named file next to ``path``.

    Created with mode 0o666 through the umask (and the folder's default ACL),
    exactly as a plain ``open(path, "w")`` would create ``path`` itself;
    ``O_EXCL`` refuses any name that already exists, a link included. When
    ``path`` already exists its permission bits are copied, as a plain
    ``open`` keeps them when it overwrites a file.
    """
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp{path.suffix}"
        try:
            fd = os.open(tmp, _TMP_FLAGS, 0o666)
        except FileExistsError:
            continue
        try:
            try:
                old = os.stat(path, follow_symlinks=False)
            except OSError:
                old = None
            if old is not None and stat.S_ISREG(old.st_mode):
                os.fchmod(fd, stat.S_IMODE(old.st_mode))
        except OSError:
            pass  # best effort: the umask-derived mode stays
        finally:
            os.close(fd)
        return tmp
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(path.parent))


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path``.

    The temporary name is unique, so concurrent writers never collide, and
    keeps ``path``'s suffix, so writers that choose a format from the suffix
    (``savefig``) still work. Its mode is what a plain ``open`` would give
    ``path`` (0o666 less the umask for a new file, the old bits for a replaced
    one). Whatever the body writes there is fsynced and renamed over ``path``;
    if the body raises, ``path`` is left as it was and the temporary file is
    removed.
    """
    path = Path(path)
    tmp = _new_temporary(path)
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


class UnsafeLockError(FolderBusyError):
    """The folder's ``.lock`` is a link, a FIFO, a directory or another
    non-regular file: it is refused, never followed or written through.

    A subclass of :class:`FolderBusyError`, so whoever handles a folder that
    cannot be locked handles this too.
    """


_LOCK_FLAGS = (
    os.O_RDWR
    | os.O_CREAT
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` (not followed) is still the file open as ``fd``."""
    try:
        now = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)


def _refuse(lock: Path, what: str) -> UnsafeLockError:
    return UnsafeLockError(
        f"{lock} is {what}, not a lock file: refusing to follow or write through "
        "it (nothing was written); remove it or use another --out"
    )


def _open_lock(lock: Path) -> int:
    """``lock`` opened read-write, created if absent, never through a link."""
    try:
        fd = os.open(lock, _LOCK_FLAGS, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refuse(lock, "a symbolic link") from None
        if exc.errno in (errno.EISDIR, errno.ENXIO):
            raise _refuse(lock, "not a regular file") from None
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"
        raise _refuse(lock, kind)
    return fd


@contextmanager
def folder_lock(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold an advisory exclusive lock (``flock``) on ``folder/.lock``.

    A second holder fails at once with :class:`FolderBusyError` instead of
    waiting; the lock goes away with the process, so a killed run never leaves a
    stale one behind. The ``.lock`` is opened with ``O_NOFOLLOW`` and must be a
    regular file (:class:`UnsafeLockError` otherwise: a planted link is never
    written through). It holds the holder's PID while held and is removed when
    the holder finishes; a holder that finds its lock file unlinked or replaced
    under it retries on the new one, so removal never lets two holders in.
    """
    import fcntl

    folder = Path(folder)
    lock = folder / ".lock"
    for _ in range(100):
        fd = _open_lock(lock)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise FolderBusyError(
                    f"{folder} is in use by another run (lock {lock}); wait for it "
                    "to finish or use another --out"
                ) from None
            raise
        if _same_file(fd, lock):
            break
        os.close(fd)  # the previous holder removed it as we opened it: again
    else:
        raise FolderBusyError(f"{folder}: could not take the lock {lock}; try again")
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield lock
    finally:
        try:
            if _same_file(fd, lock):
                lock.unlink()  # still holding the lock: no one else can be in
        except OSError:
            pass
        finally:
            os.close(fd)
