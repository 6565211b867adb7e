"""Real neuromorphic datasets a user already has on disk, read through Tonic.

Nothing is downloaded: ``data_dir`` must hold the data in the layout it was
published in. Events are read with ``tonic.io`` where its readers fit the format
(``pip install 'adali_plugins[neuromorphic]'``), binned into ``time_steps``
frames of equal duration per sample with :func:`.dvs.events_to_frames` (channel 0
OFF, channel 1 ON, counts), optionally pooled ``downsample`` x ``downsample``.

* N-MNIST (Orchard et al., 2015): ``Train/<digit>/*.bin`` and
  ``Test/<digit>/*.bin``, 40-bit events of a 34x34 sensor
  (``tonic.io.read_mnist_file``).
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
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .digits import Split
from .dvs import EVENT_DTYPE, events_to_frames

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


def _tonic_io() -> Any:
    try:
        import tonic.io
    except ImportError as exc:
        raise ImportError(
            f"reading neuromorphic datasets from disk needs Tonic: {INSTALL_HINT}"
        ) from exc
    return tonic.io


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


def _frames(
    events: np.ndarray, sensor: tuple[int, int], time_steps: int, downsample: int
) -> torch.Tensor:
    height, width = sensor
    if downsample > 1:
        events = events.copy()
        events["x"] //= downsample
        events["y"] //= downsample
        height, width = -(-height // downsample), -(-width // downsample)
    return events_to_frames(events, n_frames=time_steps, height=height, width=width)


def _dvs128_frames(ev: Any, time_steps: int, downsample: int) -> torch.Tensor:
    """Frames of one DVS128 sample from its ``t``, ``x``, ``y``, ``p`` columns."""
    return _frames(
        _events(ev["t"], ev["x"], ev["y"], ev["p"]),
        DVS128_SENSOR,
        time_steps,
        downsample,
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


def read_nmnist_events(path: str | Path) -> np.ndarray:
    """One N-MNIST ``.bin`` file as our event array (through Tonic's reader)."""
    io = _tonic_io()
    dtype = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", bool)])
    raw = io.read_mnist_file(str(path), dtype=dtype)
    return _events(raw["t"], raw["x"], raw["y"], raw["p"])


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
        return _frames(read_nmnist_events(path), NMNIST_SENSOR, time_steps, downsample)

    return _split(
        listing("Train"), listing("Test"), read, train_limit, test_limit, seed
    )


def _aedat_payload(path: Path) -> tuple[float, bytes]:
    """AEDAT version and the bytes after the text header (Tonic's header reader)."""
    io = _tonic_io()
    version, start, *_ = io.read_aedat_header_from_file(str(path))
    with open(path, "rb") as fh:
        fh.seek(start)
        return float(version), fh.read()


def read_aedat3_polarity(path: str | Path) -> np.ndarray:
    """Polarity events of an AEDAT 3.1 file (DVS128), as our event array.

    Walks the packets, keeps those of polarity type, honours each packet's event
    size and timestamp overflow, and drops events whose valid bit is clear.
    """
    version, payload = _aedat_payload(Path(path))
    if not 3 <= version < 4:
        raise ValueError(f"{path}: expected AEDAT 3.x, found version {version}")
    parts, offset = [], 0
    while offset + _AEDAT3_PACKET.itemsize <= len(payload):
        head = np.frombuffer(payload, _AEDAT3_PACKET, 1, offset)[0]
        offset += _AEDAT3_PACKET.itemsize
        body = int(head["capacity"]) * int(head["size"])
        if head["type"] == _POLARITY_EVENT and head["size"] >= 8:
            words = np.frombuffer(payload, "<u4", body // 4, offset).reshape(
                -1, int(head["size"]) // 4
            )
            data, ts = words[: int(head["number"]), 0], words[: int(head["number"]), 1]
            t = ts.astype(np.int64) | (np.int64(head["ts_overflow"]) << 31)
            parts.append((t, data))
        offset += body
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


def read_aedat2_dvs128(path: str | Path) -> np.ndarray:
    """Events of an AEDAT 2.0 DVS128 file (``tonic.io``'s reader and decoding)."""
    io = _tonic_io()
    version, start, *_ = io.read_aedat_header_from_file(str(path))
    if not 2 <= version < 3:
        raise ValueError(f"{path}: expected AEDAT 2.x, found version {version}")
    raw = io.get_aer_events_from_file(str(path), version, start)
    addr = raw["address"].astype(np.int64)
    out = np.empty(
        len(addr), dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "i1")]
    )
    out["t"] = raw["timeStamp"]
    out["x"] = (addr >> 8) & 0x7F
    out["y"] = (addr >> 1) & 0x7F
    out["p"] = addr & 1
    return out


def _gesture_original(root: Path) -> tuple[tuple[list, list], tuple[list, list]] | None:
    lists = [root / "trials_to_train.txt", root / "trials_to_test.txt"]
    if not all(f.exists() for f in lists):
        return None
    parts = []
    for trials in lists:
        samples, labels = [], []
        for name in trials.read_text().split():
            aedat = root / name
            table = np.loadtxt(
                aedat.with_name(aedat.stem + "_labels.csv"),
                delimiter=",",
                skiprows=1,
                dtype=np.int64,
                ndmin=2,
            )
            for label, start, end in table:
                samples.append((aedat, int(start), int(end)))
                labels.append(int(label) - 1)
        parts.append((samples, labels))
    return parts[0], parts[1]


def _gesture_tonic(root: Path) -> tuple[tuple[list, list], tuple[list, list]] | None:
    parts = []
    for folder in ("ibmGestureTrain", "ibmGestureTest"):
        files = sorted((root / folder).glob("user*/*.npy"))
        if not files:
            return None
        parts.append((files, [int(f.stem) for f in files]))
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
            cache[path] = read_aedat3_polarity(path)
        ev = cache[path]
        ev = ev[(ev["t"] >= start) & (ev["t"] < end)]
        return _dvs128_frames(ev, time_steps, downsample)

    def read_npy(path: Path) -> torch.Tensor:
        rows = np.load(path)
        ev = {"x": rows[:, 0].astype(np.int16), "y": rows[:, 1].astype(np.int16)}
        ev.update(p=rows[:, 2], t=rows[:, 3])
        return _dvs128_frames(ev, time_steps, downsample)

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
        return _dvs128_frames(read_aedat2_dvs128(path), time_steps, downsample)

    return _split(train, test, read, train_limit, test_limit, seed)


def _natural(path: Path) -> tuple[Any, ...]:
    return tuple(int(s) if s.isdigit() else s for s in re.split(r"(\d+)", path.name))
