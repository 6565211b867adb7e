"""An event-camera (DVS) emulator, and neuromorphic digits made with it.

N-MNIST was recorded by pointing a real event camera at MNIST digits on a screen
and moving the sensor through three small saccades. This module does the same to
scikit-learn's bundled 8x8 handwritten digits, in software: each image is drawn on
a padded canvas, moved along a closed triangle of three straight sub-pixel
saccades (bilinear interpolation), and every canvas pixel behaves like a DVS
pixel. The result is event data with no download, deterministic for a seed.

It is *not* N-MNIST and must not be reported as such: call it "neuromorphic digits
(emulated from the scikit-learn digits)". The images are real, the events are
emulated.

The pixel model: each pixel holds a reference log intensity, first
``log(I_0 + eps)``. After every movement step it compares the current
``log(I + eps)`` with its reference; if they differ by ``|Δ| ≥ C`` (the
``contrast_threshold``) it emits ``floor(|Δ| / C)`` events, ON (+1) for a rise and
OFF (-1) for a fall, and moves its reference by that many thresholds. The
reference therefore always stays ``log(I_0 + eps) + m·C`` for an integer ``m``,
which is how it is stored, so a closed path leaves every pixel with exactly as
many ON as OFF events. Optional background noise (``noise_rate``, the expected
number of spurious events per pixel per recording, random polarity and time) is
the only randomness.

Parameters used throughout:

- ``contrast_threshold`` C: log-intensity step per event. Smaller gives more
  events.
- ``eps``: the dark floor added before the log, as a fraction of full scale
  (intensities are in [0, 1]). It stops pure black from being minus infinity and
  sets how many events a full-contrast edge gives: ``log((1 + eps) / eps) / C``.
- ``steps_per_saccade``: samples per saccade; the recording has
  ``3 * steps_per_saccade`` movement steps.
- ``amplitude``: saccade size in pixels.
- ``pad``: canvas margin in pixels, so the canvas is ``(H + 2 pad, W + 2 pad)``.
- ``background``: canvas intensity outside the image (the screen's black).

Time is normalised to the recording: a recording lasts 1, and events caused by
movement step ``k`` (of ``K``) are stamped at the middle of that step,
``(k - 0.5) / K``. ``events_to_frames`` bins time into equal frames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from .digits import Split, load_digits_split

EVENT_DTYPE = np.dtype([("t", "<f8"), ("x", "<i2"), ("y", "<i2"), ("p", "i1")])
"""One event: time in [0, 1], canvas column, canvas row, polarity (+1 ON, -1 OFF)."""

SeedLike = int | Sequence[int] | np.random.SeedSequence | None

DEFAULT_THRESHOLD = 0.15
DEFAULT_STEPS = 8
DEFAULT_AMPLITUDE = 1.0
DEFAULT_EPS = 0.1


def saccade_path(steps_per_saccade: int, amplitude: float) -> np.ndarray:
    """Offsets ``(dx, dy)`` in pixels for three straight saccades around a triangle.

    The triangle has corners ``(0, 0)``, ``(A/2, A)`` and ``(-A/2, A)`` (image
    rows grow downwards): down-right, then left, then back up-right to the start,
    like the three saccades N-MNIST's sensor made. Returns
    ``3 * steps_per_saccade + 1`` rows; the first and last are exactly ``(0, 0)``.
    """
    if int(steps_per_saccade) != steps_per_saccade or steps_per_saccade < 1:
        raise ValueError(
            f"steps_per_saccade must be a positive integer, got {steps_per_saccade}"
        )
    if not (math.isfinite(amplitude) and amplitude >= 0):
        raise ValueError(f"amplitude must be finite and >= 0, got {amplitude}")
    corners = np.array(
        [[0.0, 0.0], [amplitude / 2, amplitude], [-amplitude / 2, amplitude]]
    )
    segments = [
        np.linspace(corners[i], corners[(i + 1) % 3], int(steps_per_saccade) + 1)[1:]
        for i in range(3)
    ]
    path = np.concatenate([corners[:1], *segments])
    path[-1] = 0.0
    return path


def _shift_whole(canvas: np.ndarray, dy: int, dx: int, fill: float) -> np.ndarray:
    """``canvas`` moved by whole pixels, ``fill`` where nothing moved in."""
    out = np.full_like(canvas, fill)
    h, w = canvas.shape[-2:]
    if abs(dy) >= h or abs(dx) >= w:
        return out
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = canvas[
        ..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def render_shifted(
    image: np.ndarray, dx: float, dy: float, pad: int, *, background: float = 0.0
) -> np.ndarray:
    """``image`` on a canvas with ``pad`` margins, moved by ``(dx, dy)`` pixels.

    Sub-pixel moves use bilinear interpolation, so intensity is conserved while
    the image stays on the canvas. Leading dimensions of ``image`` are batch
    dimensions; the last two are ``(H, W)``. Positive ``dx`` moves right,
    positive ``dy`` moves down.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim < 2:
        raise ValueError(f"image must have at least 2 dimensions, got {image.shape}")
    if int(pad) != pad or pad < 0:
        raise ValueError(f"pad must be a non-negative integer, got {pad}")
    pad = int(pad)
    if not (abs(dx) <= pad and abs(dy) <= pad):
        raise ValueError(
            f"shift ({dx}, {dy}) is larger than pad={pad}: the image would leave "
            "the canvas"
        )
    h, w = image.shape[-2:]
    canvas = np.full((*image.shape[:-2], h + 2 * pad, w + 2 * pad), float(background))
    canvas[..., pad : pad + h, pad : pad + w] = image
    ix, iy = math.floor(dx), math.floor(dy)
    fx, fy = dx - ix, dy - iy
    out = np.zeros_like(canvas)
    for oy, wy in ((0, 1.0 - fy), (1, fy)):
        for ox, wx in ((0, 1.0 - fx), (1, fx)):
            if wy * wx != 0.0:
                out += wy * wx * _shift_whole(canvas, iy + oy, ix + ox, background)
    return out


def _check_options(contrast_threshold: float, eps: float, noise_rate: float) -> None:
    if not (math.isfinite(contrast_threshold) and contrast_threshold > 0):
        raise ValueError(
            f"contrast_threshold must be finite and > 0, got {contrast_threshold}"
        )
    if not (math.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be finite and > 0, got {eps}")
    if not (math.isfinite(noise_rate) and noise_rate >= 0):
        raise ValueError(f"noise_rate must be finite and >= 0, got {noise_rate}")


def _resolve_path(
    path: np.ndarray | None, steps_per_saccade: int, amplitude: float
) -> np.ndarray:
    if path is None:
        return saccade_path(steps_per_saccade, amplitude)
    path = np.asarray(path, dtype=np.float64)
    if path.ndim != 2 or path.shape[1] != 2 or len(path) < 2:
        raise ValueError(
            f"path must be shaped (K + 1, 2) with K >= 1, got {path.shape}"
        )
    if not np.isfinite(path).all():
        raise ValueError("path must be finite")
    return path


def _resolve_pad(pad: int | None, path: np.ndarray) -> int:
    return math.ceil(np.abs(path).max()) if pad is None else pad


def _log_sequence(
    images: np.ndarray, path: np.ndarray, pad: int, eps: float, background: float
) -> np.ndarray:
    """``log(I + eps)`` at every point of ``path``: ``(K + 1, ..., H', W')``."""
    images = np.asarray(images, dtype=np.float64)
    if not np.isfinite(images).all() or (images < 0).any() or background < 0:
        raise ValueError("intensities must be finite and >= 0")
    frames = [
        render_shifted(images, dx, dy, pad, background=background) for dx, dy in path
    ]
    return np.log(np.stack(frames) + eps)


def _signed_counts(logs: np.ndarray, contrast_threshold: float) -> np.ndarray:
    """Signed events per pixel per step, ``(K, ...)``, from the DVS pixel rule."""
    level = np.zeros(logs.shape[1:], dtype=np.int64)
    counts = np.empty((len(logs) - 1, *logs.shape[1:]), dtype=np.int64)
    for k in range(1, len(logs)):
        q = (logs[k] - logs[0]) / contrast_threshold
        up, down = q - level >= 1, q - level <= -1
        new = np.where(up, np.floor(q), np.where(down, np.ceil(q), level))
        new = new.astype(np.int64)
        counts[k - 1] = new - level
        level = new
    return counts


def _step_times(n_steps: int) -> np.ndarray:
    """Stamp for each movement step: the middle of its interval in [0, 1]."""
    return (np.arange(1, n_steps + 1) - 0.5) / n_steps


def _time_bins(t: np.ndarray, n_frames: int) -> np.ndarray:
    return np.minimum(np.floor(t * n_frames), n_frames - 1).astype(np.int64)


def _noise_events(
    rng: np.random.Generator, noise_rate: float, height: int, width: int
) -> np.ndarray:
    n = int(rng.poisson(noise_rate * height * width))
    events = np.empty(n, dtype=EVENT_DTYPE)
    events["t"] = rng.random(n)
    events["x"] = rng.integers(0, width, n)
    events["y"] = rng.integers(0, height, n)
    events["p"] = 2 * rng.integers(0, 2, n) - 1
    return events


def emulate_events(
    image: np.ndarray,
    *,
    contrast_threshold: float = DEFAULT_THRESHOLD,
    steps_per_saccade: int = DEFAULT_STEPS,
    amplitude: float = DEFAULT_AMPLITUDE,
    pad: int | None = None,
    eps: float = DEFAULT_EPS,
    background: float = 0.0,
    noise_rate: float = 0.0,
    seed: SeedLike = None,
    path: np.ndarray | None = None,
) -> np.ndarray:
    """Events a DVS would report watching ``image`` (2-D, intensities >= 0) move.

    The image moves along ``saccade_path(steps_per_saccade, amplitude)``, or
    along ``path`` (offsets ``(K + 1, 2)``) when given. ``pad`` defaults to the
    smallest margin that keeps the moving image on the canvas. Returns a
    structured array of ``EVENT_DTYPE`` sorted by time, with ``x`` and ``y`` in
    canvas coordinates. Noise events come from ``numpy.random.default_rng(seed)``
    and only when ``noise_rate > 0``; without them the result does not depend on
    ``seed``.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D (H, W), got shape {image.shape}")
    _check_options(contrast_threshold, eps, noise_rate)
    offsets = _resolve_path(path, steps_per_saccade, amplitude)
    pad = _resolve_pad(pad, offsets)
    logs = _log_sequence(image, offsets, pad, eps, background)
    counts = _signed_counts(logs, contrast_threshold)
    k, y, x = np.nonzero(counts)
    signed = counts[k, y, x]
    repeats = np.abs(signed)
    events = np.empty(int(repeats.sum()), dtype=EVENT_DTYPE)
    events["t"] = np.repeat(_step_times(len(counts))[k], repeats)
    events["x"] = np.repeat(x, repeats)
    events["y"] = np.repeat(y, repeats)
    events["p"] = np.repeat(np.sign(signed), repeats)
    if noise_rate > 0:
        height, width = logs.shape[-2:]
        noise = _noise_events(np.random.default_rng(seed), noise_rate, height, width)
        events = np.concatenate([events, noise])
        events = events[np.argsort(events["t"], kind="stable")]
    return events


def _as_events(events: np.ndarray) -> np.ndarray:
    events = np.asarray(events)
    if events.dtype.names is not None:
        return events
    if events.ndim != 2 or events.shape[1] != 4:
        raise ValueError(
            "events must be structured (t, x, y, p) or shaped (N, 4), "
            f"got {events.shape}"
        )
    out = np.empty(len(events), dtype=EVENT_DTYPE)
    for i, name in enumerate(EVENT_DTYPE.names):
        out[name] = events[:, i]
    return out


def _frame_counts(
    events: np.ndarray, n_frames: int, height: int, width: int
) -> np.ndarray:
    """Events binned into ``(n_frames, 2, H, W)`` int64 counts: OFF in 0, ON in 1."""
    t, x, y, p = events["t"], events["x"], events["y"], events["p"]
    if len(events) and not ((t >= 0) & (t <= 1)).all():
        raise ValueError("event times must lie in [0, 1]")
    if not (((x >= 0) & (x < width)) & ((y >= 0) & (y < height))).all():
        raise ValueError(f"events fall outside a {height}x{width} canvas")
    if not np.isin(p, (-1, 1)).all():
        raise ValueError("polarity must be +1 (ON) or -1 (OFF)")
    channel = (p > 0).astype(np.int64)
    flat = np.ravel_multi_index(
        (_time_bins(t, n_frames), channel, y.astype(np.int64), x.astype(np.int64)),
        (n_frames, 2, height, width),
    )
    counts = np.bincount(flat, minlength=n_frames * 2 * height * width)
    return counts.reshape(n_frames, 2, height, width)


def events_to_frames(
    events: np.ndarray, *, n_frames: int, height: int, width: int
) -> torch.Tensor:
    """Event counts per time bin, ``(n_frames, 2, height, width)`` float32.

    Channel 0 counts OFF events and channel 1 ON events (the polarity-index
    order SpikingJelly and Tonic use). Time ``[0, 1]`` is cut into ``n_frames``
    equal bins; an event at exactly 1 goes into the last. ``events`` is an
    ``EVENT_DTYPE`` array or an ``(N, 4)`` array of ``(t, x, y, p)`` rows.
    """
    if int(n_frames) != n_frames or n_frames < 1:
        raise ValueError(f"n_frames must be a positive integer, got {n_frames}")
    counts = _frame_counts(_as_events(events), int(n_frames), height, width)
    return torch.from_numpy(counts.astype(np.float32))


def _emulate_frames(
    images: np.ndarray,
    *,
    n_frames: int,
    contrast_threshold: float,
    path: np.ndarray,
    pad: int,
    eps: float,
    noise_rate: float,
    seeds: Sequence[SeedLike],
) -> np.ndarray:
    """Frames for a batch ``(N, H, W)`` at once: ``(N, T, 2, H', W')`` float32.

    Equal, image by image, to ``events_to_frames(emulate_events(...))`` with the
    same options and ``seed=seeds[i]``.
    """
    logs = _log_sequence(images, path, pad, eps, 0.0)
    counts = _signed_counts(logs, contrast_threshold)
    bins = _time_bins(_step_times(len(counts)), n_frames)
    n, height, width = counts.shape[1:]
    frames = np.zeros((n, n_frames, 2, height, width), dtype=np.int64)
    for f in range(n_frames):
        in_bin = counts[bins == f]
        frames[:, f, 1] = np.clip(in_bin, 0, None).sum(axis=0)
        frames[:, f, 0] = np.clip(-in_bin, 0, None).sum(axis=0)
    if noise_rate > 0:
        for i, seed in enumerate(seeds):
            rng = np.random.default_rng(seed)
            noise = _noise_events(rng, noise_rate, height, width)
            frames[i] += _frame_counts(noise, n_frames, height, width)
    return frames.astype(np.float32)


def load_dvs_digits(
    *,
    n_frames: int = 8,
    test_fraction: float = 0.25,
    seed: int = 0,
    contrast_threshold: float = DEFAULT_THRESHOLD,
    steps_per_saccade: int = DEFAULT_STEPS,
    amplitude: float = DEFAULT_AMPLITUDE,
    pad: int | None = None,
    eps: float = DEFAULT_EPS,
    noise_rate: float = 0.0,
) -> Split:
    """Neuromorphic digits (emulated from the scikit-learn digits), as frames.

    Same images, labels and stratified split as ``load_digits_split(seed=...)``;
    each image becomes ``emulate_events`` binned by ``events_to_frames``. Inputs
    are float32 counts shaped ``(N, T, 2, H', W')``: sample-major, then time,
    then polarity (0 OFF, 1 ON), then the padded canvas (10x10 by default).
    Time-major callers transpose to ``(T, N, 2, H', W')``. Noise, if any, for
    the ``i``-th training (test) image uses seed ``[seed, 0, i]``
    (``[seed, 1, i]``). Nothing is cached on disk.
    """
    if int(n_frames) != n_frames or n_frames < 1:
        raise ValueError(f"n_frames must be a positive integer, got {n_frames}")
    _check_options(contrast_threshold, eps, noise_rate)
    split = load_digits_split(test_fraction=test_fraction, seed=seed)
    path = saccade_path(steps_per_saccade, amplitude)
    pad = _resolve_pad(pad, path)

    def frames(x: torch.Tensor, part: int) -> torch.Tensor:
        out = _emulate_frames(
            x[:, 0].numpy(),
            n_frames=int(n_frames),
            contrast_threshold=contrast_threshold,
            path=path,
            pad=pad,
            eps=eps,
            noise_rate=noise_rate,
            seeds=[[seed, part, i] for i in range(len(x))],
        )
        return torch.from_numpy(out)

    return Split(
        frames(split.x_train, 0), split.y_train, frames(split.x_test, 1), split.y_test
    )
