"""Real neuromorphic datasets a user already has on disk, decoded as Tonic does.

Nothing is downloaded: ``data_dir`` must hold the data in the layout it was
published in. Events are decoded here, as ``tonic.io``'s readers decode each
format (Tonic itself is no longer needed: its readers open paths themselves,
which the shared file rule below cannot vouch for), binned into ``time_steps``
frames of equal duration per sample with :func:`.dvs.events_to_frames` (channel
0 OFF, channel 1 ON, counts), optionally pooled ``downsample`` x ``downsample``.

* N-MNIST (Orchard et al., 2015): ``Train/<digit>/*.bin`` and
  ``Test/<digit>/*.bin``, 40-bit events of a 34x34 sensor (decoded here as
  ``tonic.io.read_mnist_file`` decodes them, from bytes already read safely).
* DVS128 Gesture (Amir et al., 2017), either IBM's release -- ``userNN_<light>.aedat``
  (AEDAT 3.1) with ``userNN_<light>_labels.csv`` and ``trials_to_train.txt`` /
  ``trials_to_test.txt`` -- or Tonic's cut version, ``ibmGestureTrain/`` and
  ``ibmGestureTest/`` of ``userNN_<light>/<label>.npy``. Labels 0..10.
* CIFAR10-DVS (Li et al., 2017), the original release: one folder per class
  (``airplane`` ... ``truck``) of ``*.aedat`` files (AEDAT 2.0, DVS128
  addresses). It has no official split; the first ``1 - test_fraction`` of each
  class's files (sorted by name) train, the rest test.

Coordinates follow Tonic's decoding of each format (CIFAR10-DVS is therefore
rotated by 180 degrees and polarity-swapped with respect to SpikingJelly's
loader, which a conv net does not mind).

Every length, offset and count read from a file is checked against the file
before it is used (AEDAT headers and packets are parsed here, bounded, not by
Tonic), coordinates against the sensor, and labels when the listing is read,
before any sample is decoded. Every file (recordings, label tables, listings,
``.npy``) is read through :mod:`.safe_open`: only regular files inside
``data_dir`` (a FIFO, a device, a link out of the folder or a listed name with
``..`` are refused), at most ``safe_open.MAX_FILE_BYTES`` each, and every size a
file declares is checked against the bytes it holds before anything is
allocated. A malformed or unsafe file raises :class:`.DataFormatError` naming
the file and, where there is one, the record.
"""

from __future__ import annotations

import io
import math
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .digits import Split
from .dvs import EVENT_DTYPE, events_to_frames
from .errors import DataFormatError
from .safe_open import check_declared, inside, nbytes, read_bytes

INSTALL_HINT = "pip install 'adali_plugins[neuromorphic]'  (or: pip install tonic)"

NMNIST_SENSOR = (34, 34)
DVS128_SENSOR = (128, 128)
CIFAR10_DVS_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
GESTURE_CLASSES = 11

_AEDAT3_PACKET = np.dtype(
    [
        ("type", "<i2"),
        ("source", "<i2"),
        ("size", "<i4"),
        ("ts_offset", "<i4"),
        ("ts_overflow", "<i4"),
        ("capacity", "<i4"),
        ("number", "<i4"),
        ("valid", "<i4"),
    ]
)
_POLARITY_EVENT = 1
_MAX_HEADER = 1 << 20
"""Largest AEDAT text header accepted (real ones are a few hundred bytes)."""
_NMNIST_RECORD = 5
_AEDAT2_EVENT = np.dtype([("address", ">u4"), ("timeStamp", ">u4")])


def _events(t: np.ndarray, x: np.ndarray, y: np.ndarray, on: np.ndarray) -> np.ndarray:
    """Our event array: times scaled to [0, 1] over the sample, polarity +-1."""
    out = np.empty(len(t), dtype=EVENT_DTYPE)
    if not len(out):
        return out
    t = np.asarray(t, dtype=np.float64)
    span = t.max() - t.min()
    out["t"] = (t - t.min()) / span if span > 0 else 0.0
    out["x"], out["y"] = x, y
    out["p"] = np.where(np.asarray(on).astype(bool), 1, -1)
    return out


def _check_xy(x: Any, y: Any, sensor: tuple[int, int], source: Any) -> None:
    """Every event's coordinates lie on the sensor, or DataFormatError."""
    height, width = sensor
    x, y = np.asarray(x, dtype=np.int64), np.asarray(y, dtype=np.int64)
    bad = (x < 0) | (x >= width) | (y < 0) | (y >= height)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataFormatError(
            f"{source}: event {i} at x={int(x[i])}, y={int(y[i])} lies outside the "
            f"{width}x{height} sensor"
        )


def _frames(
    events: np.ndarray,
    sensor: tuple[int, int],
    time_steps: int,
    downsample: int,
    source: Any = None,
) -> torch.Tensor:
    height, width = sensor
    _check_xy(events["x"], events["y"], sensor, source)
    if downsample > 1:
        events = events.copy()
        events["x"] //= downsample
        events["y"] //= downsample
        height, width = -(-height // downsample), -(-width // downsample)
    return events_to_frames(events, n_frames=time_steps, height=height, width=width)


def _dvs128_frames(
    ev: Any, time_steps: int, downsample: int, source: Any = None
) -> torch.Tensor:
    """Frames of one DVS128 sample from its ``t``, ``x``, ``y``, ``p`` columns."""
    _check_xy(ev["x"], ev["y"], DVS128_SENSOR, source)
    return _frames(
        _events(ev["t"], ev["x"], ev["y"], ev["p"]),
        DVS128_SENSOR,
        time_steps,
        downsample,
        source,
    )


def _check(time_steps: int, downsample: int) -> None:
    if isinstance(time_steps, bool) or int(time_steps) != time_steps or time_steps < 1:
        raise ValueError(f"time_steps must be a positive integer, got {time_steps}")
    if isinstance(downsample, bool) or int(downsample) != downsample or downsample < 1:
        raise ValueError(f"downsample must be a positive integer, got {downsample}")


def _missing(what: str, root: Path, layout: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"{what}: no data under {root} (expected {layout}); nothing is "
        "downloaded, point data_dir (--data-dir) at your copy"
    )


def _pick(labels: Sequence[int], limit: int | None, seed: int) -> np.ndarray:
    """Indices to read: all, or a stratified, seeded subset of ``limit``."""
    from .fashion_mnist import stratified_indices

    labels = np.asarray(labels)
    if limit is None or limit >= len(labels):
        return np.arange(len(labels))
    if limit < 1:
        raise ValueError(f"a train/test limit must be at least 1, got {limit}")
    return stratified_indices(labels, limit, np.random.default_rng(seed))


def _stack(
    samples: Sequence[Any],
    labels: Sequence[int],
    read: Callable[[Any], torch.Tensor],
    limit: int | None,
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    keep = _pick(labels, limit, seed)
    x = torch.stack([read(samples[i]) for i in keep])
    y = torch.as_tensor(np.asarray(labels)[keep], dtype=torch.int64)
    return x, y


def _split(
    train: tuple[Sequence[Any], Sequence[int]],
    test: tuple[Sequence[Any], Sequence[int]],
    read: Callable[[Any], torch.Tensor],
    train_limit: int | None,
    test_limit: int | None,
    seed: int,
) -> Split:
    x_tr, y_tr = _stack(*train, read, train_limit, seed)
    x_te, y_te = _stack(*test, read, test_limit, seed + 1)
    return Split(x_tr, y_tr, x_te, y_te)


_NMNIST_OVERFLOW_Y = 240
_NMNIST_OVERFLOW_STEP = 1 << 13
"""Tonic's (and event-Python's) N-MNIST decoding: a record with ``y == 240``
marks a timestamp overflow and adds ``2**13`` to every later timestamp."""


def read_nmnist_events(
    path: str | Path, *, root: str | Path | None = None
) -> np.ndarray:
    """One N-MNIST ``.bin`` file as our event array.

    The file must be a regular file (inside ``root`` when given) holding a
    non-empty whole number of 5-byte records: x, y, then the polarity bit and
    a 23-bit timestamp (microseconds), decoded as ``tonic.io.read_mnist_file``
    does (overflow records dropped, their ``2**13`` added to later times).
    """
    data = read_bytes(path, root=root)
    size = len(data)
    if size == 0:
        raise DataFormatError(f"{path}: empty N-MNIST file (no events)")
    if size % _NMNIST_RECORD:
        raise DataFormatError(
            f"{path}: N-MNIST record {size // _NMNIST_RECORD} is cut after "
            f"{size % _NMNIST_RECORD} of {_NMNIST_RECORD} bytes (file truncated?)"
        )
    rec = np.frombuffer(data, np.uint8).reshape(-1, _NMNIST_RECORD).astype(np.int64)
    x, y = rec[:, 0], rec[:, 1]
    on = rec[:, 2] >> 7
    t = ((rec[:, 2] & 0x7F) << 16) | (rec[:, 3] << 8) | rec[:, 4]
    overflow = y == _NMNIST_OVERFLOW_Y
    t = t + _NMNIST_OVERFLOW_STEP * np.cumsum(overflow)
    keep = ~overflow
    return _events(t[keep], x[keep], y[keep], on[keep])


def load_nmnist(
    data_dir: str | Path,
    *,
    time_steps: int = 8,
    downsample: int = 1,
    train_limit: int | None = None,
    test_limit: int | None = None,
    seed: int = 0,
) -> Split:
    """N-MNIST frames ``(N, T, 2, 34, 34)`` (or pooled) with labels 0..9."""
    _check(time_steps, downsample)
    root = Path(data_dir)

    def listing(part: str) -> tuple[list[Path], list[int]]:
        files = sorted(root.glob(f"{part}/[0-9]/*.bin"))
        if not files:
            raise _missing("N-MNIST", root, f"{part}/<digit>/*.bin")
        return files, [int(f.parent.name) for f in files]

    def read(path: Path) -> torch.Tensor:
        events = read_nmnist_events(path, root=root)
        return _frames(events, NMNIST_SENSOR, time_steps, downsample, path)

    return _split(
        listing("Train"), listing("Test"), read, train_limit, test_limit, seed
    )


def _aedat_header(path: Path, data: bytes) -> tuple[float, int]:
    """AEDAT version and the offset of the first byte after the text header.

    The header is the run of lines that start with ``#`` (as Tonic reads it),
    at most ``_MAX_HEADER`` bytes, and must name its version (``#!AER-DAT3.1``).
    """
    if not data:
        raise DataFormatError(f"{path}: empty file, not AEDAT")
    start, version = 0, None
    while start < len(data) and data[start : start + 1] == b"#":
        end = data.find(b"\n", start, start + _MAX_HEADER)
        if end < 0:
            if len(data) - start < _MAX_HEADER:
                end = len(data) - 1
            else:
                raise DataFormatError(
                    f"{path}: AEDAT header line at byte {start} is longer than "
                    f"{_MAX_HEADER} bytes"
                )
        found = re.match(rb"#!AER-DAT(\d+)\.(\d+)", data[start : end + 1])
        if found and version is None:
            version = float(f"{int(found[1])}.{int(found[2])}")
        start = end + 1
        if start > _MAX_HEADER:
            raise DataFormatError(
                f"{path}: AEDAT header longer than {_MAX_HEADER} bytes"
            )
    if version is None:
        raise DataFormatError(
            f"{path}: not an AEDAT file (no '#!AER-DAT<version>' header line)"
        )
    return version, start


def _aedat_payload(path: Path, root: str | Path | None) -> tuple[float, bytes]:
    """AEDAT version and the bytes after the text header (a regular file only)."""
    data = read_bytes(path, root=root)
    version, start = _aedat_header(Path(path), data)
    return version, data[start:]


def read_aedat3_polarity(
    path: str | Path, *, root: str | Path | None = None
) -> np.ndarray:
    """Polarity events of an AEDAT 3.1 file (DVS128), as our event array.

    Walks the packets, keeps those of polarity type, honours each packet's event
    size and timestamp overflow, and drops events whose valid bit is clear.
    The file must be a regular file (inside ``root`` when given).
    """
    version, payload = _aedat_payload(Path(path), root)
    if not 3 <= version < 4:
        raise DataFormatError(f"{path}: expected AEDAT 3.x, found version {version}")
    parts, offset, packet = [], 0, 0
    while offset < len(payload):
        where = f"{path}: packet {packet} at byte {offset} of the data"
        if offset + _AEDAT3_PACKET.itemsize > len(payload):
            raise DataFormatError(
                f"{where}: header cut after {len(payload) - offset} of "
                f"{_AEDAT3_PACKET.itemsize} bytes (file truncated?)"
            )
        head = np.frombuffer(payload, _AEDAT3_PACKET, 1, offset)[0]
        offset += _AEDAT3_PACKET.itemsize
        size, capacity = int(head["size"]), int(head["capacity"])
        number = int(head["number"])
        if size < 1 or capacity < 0 or not 0 <= number <= capacity:
            raise DataFormatError(
                f"{where}: impossible event size {size}, capacity {capacity}, "
                f"number {number}"
            )
        body = capacity * size
        if body > len(payload) - offset:
            raise DataFormatError(
                f"{where}: claims {body} bytes of events, {len(payload) - offset} "
                "remain (file truncated?)"
            )
        check_declared(path, f"packet {packet}", body, len(payload) - offset)
        if head["type"] == _POLARITY_EVENT:
            if size < 8 or size % 4:
                raise DataFormatError(
                    f"{where}: polarity events of {size} bytes (need a multiple "
                    "of 4, at least 8)"
                )
            words = np.frombuffer(payload, "<u4", body // 4, offset).reshape(
                -1, size // 4
            )
            data, ts = words[:number, 0], words[:number, 1]
            t = ts.astype(np.int64) | (np.int64(head["ts_overflow"]) << 31)
            parts.append((t, data))
        offset += body
        packet += 1
    if not parts:
        return np.empty(0, dtype=EVENT_DTYPE)
    t = np.concatenate([p[0] for p in parts])
    data = np.concatenate([p[1] for p in parts])
    valid = (data & 1).astype(bool)
    t, data = t[valid], data[valid]
    out = np.empty(
        len(t), dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "i1")]
    )
    out["t"] = t
    out["x"] = (data >> 17) & 0x1FFF
    out["y"] = (data >> 2) & 0x1FFF
    out["p"] = (data >> 1) & 1
    return out


def read_aedat2_dvs128(
    path: str | Path, *, root: str | Path | None = None
) -> np.ndarray:
    """Events of an AEDAT 2.0 DVS128 file (``tonic.io``'s decoding).

    The data must be a whole number of 8-byte (address, timestamp) records, in
    a regular file (inside ``root`` when given).
    """
    version, payload = _aedat_payload(Path(path), root)
    if not 2 <= version < 3:
        raise DataFormatError(f"{path}: expected AEDAT 2.x, found version {version}")
    cut = len(payload) % _AEDAT2_EVENT.itemsize
    if cut:
        raise DataFormatError(
            f"{path}: AEDAT 2 event {len(payload) // _AEDAT2_EVENT.itemsize} is cut "
            f"after {cut} of {_AEDAT2_EVENT.itemsize} bytes (file truncated?)"
        )
    raw = np.frombuffer(payload, _AEDAT2_EVENT)
    addr = raw["address"].astype(np.int64)
    out = np.empty(
        len(addr), dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "i1")]
    )
    out["t"] = raw["timeStamp"]
    out["x"] = (addr >> 8) & 0x7F
    out["y"] = (addr >> 1) & 0x7F
    out["p"] = addr & 1
    return out


def _text(path: Path, root: Path) -> str:
    """A small text file (listing, label table) read under the shared rule."""
    try:
        return read_bytes(path, root=root).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path}: not UTF-8 text ({exc.reason})") from None


def _gesture_original(root: Path) -> tuple[tuple[list, list], tuple[list, list]] | None:
    lists = [root / "trials_to_train.txt", root / "trials_to_test.txt"]
    if not all(os.path.lexists(f) for f in lists):
        return None
    parts = []
    for trials in lists:
        samples, labels = [], []
        for name in _text(trials, root).split():
            aedat = inside(root, name)
            for label, start, end in _gesture_labels(
                aedat.with_name(aedat.stem + "_labels.csv"), root
            ):
                samples.append((aedat, start, end))
                labels.append(label - 1)
        parts.append((samples, labels))
    return parts[0], parts[1]


def _gesture_labels(csv: Path, root: Path) -> list[tuple[int, int, int]]:
    """``(class 1..11, start, end)`` rows of a DVS128 Gesture label CSV, checked."""
    text = io.StringIO(_text(csv, root))
    try:
        table = np.loadtxt(text, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
    except (ValueError, OverflowError) as exc:
        raise DataFormatError(
            f"{csv}: not a label table of integer class,start,end rows ({exc})"
        ) from None
    if table.size and table.shape[1] != 3:
        raise DataFormatError(
            f"{csv}: rows have {table.shape[1]} columns, expected class,start,end"
        )
    rows = []
    for i, (label, start, end) in enumerate(table.tolist()):
        if not 1 <= label <= GESTURE_CLASSES:
            raise DataFormatError(
                f"{csv}: row {i + 1}: class {label} outside 1..{GESTURE_CLASSES}"
            )
        if not 0 <= start < end:
            raise DataFormatError(
                f"{csv}: row {i + 1}: start {start} and end {end} are not "
                "0 <= start < end"
            )
        rows.append((label, start, end))
    return rows


def read_npy_array(path: str | Path, *, root: str | Path | None = None) -> np.ndarray:
    """A plain (no pickle) ``.npy`` array, its header checked before reading.

    The shape and dtype the header declares must need exactly the bytes that
    follow it (and fit the budget), so a small file cannot declare a huge array.
    """
    data = read_bytes(path, root=root)
    fh = io.BytesIO(data)
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except (ValueError, EOFError, SyntaxError, TypeError) as exc:
        raise DataFormatError(f"{path}: not a plain .npy array ({exc})") from None
    if dtype.hasobject:
        raise DataFormatError(
            f"{path}: not a plain .npy array (dtype {dtype} needs pickle)"
        )
    start = fh.tell()
    declared = nbytes(shape, dtype.itemsize)
    check_declared(path, f".npy array {shape} of {dtype}", declared, len(data) - start)
    if declared != len(data) - start:
        raise DataFormatError(
            f"{path}: {len(data) - start - declared} unexpected bytes after the "
            f".npy array {shape} of {dtype}"
        )
    flat = np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=start)
    return flat.reshape(shape, order="F" if fortran else "C")


def _gesture_tonic(root: Path) -> tuple[tuple[list, list], tuple[list, list]] | None:
    parts = []
    for folder in ("ibmGestureTrain", "ibmGestureTest"):
        files = sorted((root / folder).glob("user*/*.npy"))
        if not files:
            return None
        labels = []
        for f in files:
            if not f.stem.isdigit() or not 0 <= int(f.stem) < GESTURE_CLASSES:
                raise DataFormatError(
                    f"{f}: file name must be its label 0..{GESTURE_CLASSES - 1}"
                )
            labels.append(int(f.stem))
        parts.append((files, labels))
    return parts[0], parts[1]


def load_dvs_gesture(
    data_dir: str | Path,
    *,
    time_steps: int = 8,
    downsample: int = 4,
    train_limit: int | None = None,
    test_limit: int | None = None,
    seed: int = 0,
) -> Split:
    """DVS128 Gesture frames ``(N, T, 2, 128 / d, 128 / d)``, labels 0..10.

    IBM's release is cut into samples by each recording's label CSV (start and
    end in microseconds, end exclusive); Tonic's release is already cut.
    """
    _check(time_steps, downsample)
    root = Path(data_dir)
    original = _gesture_original(root)
    listing = original or _gesture_tonic(root)
    if listing is None:
        raise _missing(
            "DVS128 Gesture",
            root,
            "trials_to_train.txt + userNN_<light>.aedat + _labels.csv, "
            "or ibmGestureTrain/ and ibmGestureTest/ of .npy",
        )
    cache: dict[Path, np.ndarray] = {}

    def read_cut(sample: tuple[Path, int, int]) -> torch.Tensor:
        path, start, end = sample
        if path not in cache:
            cache.clear()
            cache[path] = read_aedat3_polarity(path, root=root)
        ev = cache[path]
        ev = ev[(ev["t"] >= start) & (ev["t"] < end)]
        return _dvs128_frames(ev, time_steps, downsample, f"{path} [{start}, {end})")

    def read_npy(path: Path) -> torch.Tensor:
        rows = read_npy_array(path, root=root)
        if (
            rows.ndim != 2
            or rows.shape[1] < 4
            or rows.dtype.kind not in "iuf"
            or not np.isfinite(rows).all()
        ):
            raise DataFormatError(
                f"{path}: expected finite numeric (N, 4) rows x, y, p, t; got "
                f"{rows.dtype} {rows.shape}"
            )
        ev = {"x": rows[:, 0].astype(np.int64), "y": rows[:, 1].astype(np.int64)}
        ev.update(p=rows[:, 2], t=rows[:, 3])
        return _dvs128_frames(ev, time_steps, downsample, path)

    train, test = listing
    read = read_cut if original else read_npy
    return _split(train, test, read, train_limit, test_limit, seed)


def load_cifar10_dvs(
    data_dir: str | Path,
    *,
    time_steps: int = 8,
    downsample: int = 4,
    test_fraction: float = 0.1,
    train_limit: int | None = None,
    test_limit: int | None = None,
    seed: int = 0,
) -> Split:
    """CIFAR10-DVS frames ``(N, T, 2, 128 / d, 128 / d)``, labels 0..9 in the
    order of ``CIFAR10_DVS_CLASSES``."""
    _check(time_steps, downsample)
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    root = Path(data_dir)
    train: tuple[list, list] = ([], [])
    test: tuple[list, list] = ([], [])
    for label, name in enumerate(CIFAR10_DVS_CLASSES):
        files = sorted((root / name).glob("*.aedat"), key=_natural)
        cut = len(files) - max(1, round(len(files) * test_fraction))
        for i, path in enumerate(files):
            part = train if i < cut else test
            part[0].append(path)
            part[1].append(label)
    if not train[0] or not test[0]:
        raise _missing("CIFAR10-DVS", root, "<class>/*.aedat for the ten classes")

    def read(path: Path) -> torch.Tensor:
        events = read_aedat2_dvs128(path, root=root)
        return _dvs128_frames(events, time_steps, downsample, path)

    return _split(train, test, read, train_limit, test_limit, seed)


def _natural(path: Path) -> tuple[Any, ...]:
    return tuple(int(s) if s.isdigit() else s for s in re.split(r"(\d+)", path.name))
