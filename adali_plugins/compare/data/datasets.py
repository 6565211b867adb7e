"""Datasets the comparison harness knows, and how each is presented over time.

Every loader here reads data that ship with an installed package or that our own
code generates: nothing is downloaded at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from .digits import Split, direct_encode, load_digits_split, rate_encode

Encoding = Literal["direct", "rate"]
ENCODINGS = ("direct", "rate")


@dataclass(frozen=True)
class Dataset:
    """Train/test tensors plus what the model needs to know about them.

    Static images are ``(N, C, H, W)`` and get encoded over T steps; event data
    are already ``(N, T, C, H, W)`` frames (``time_major_frames``); 1-D signals
    ``(N, 1, L)`` (``sequence``) are read out in time, ``L / T`` samples per
    step, and go to the spiking MLP instead of the conv net.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    channels: int
    size: int
    classes: int
    time_major_frames: bool
    description: str
    sequence: bool = False

    def encode(
        self,
        x: torch.Tensor,
        *,
        time_steps: int,
        encoding: str,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """A batch as time-major input: ``(T, B, C, H, W)``, or ``(T, B, L / T)``
        for a sequence."""
        if self.sequence:
            return sequence_steps(x, time_steps)
        if self.time_major_frames:
            return x.transpose(0, 1).contiguous()
        if encoding == "rate":
            return rate_encode(x, time_steps, generator=generator)
        return direct_encode(x, time_steps)


def sequence_steps(x: torch.Tensor, time_steps: int) -> torch.Tensor:
    """Signals ``(B, C, L)`` as ``(T, B, C * L / T)``: step t holds samples
    ``[t * L / T, (t + 1) * L / T)`` of every channel, so the network sees the
    signal in order."""
    length = x.shape[-1]
    if time_steps < 1 or length % time_steps:
        divisors = [d for d in range(1, length + 1) if length % d == 0]
        raise ValueError(
            f"--time-steps must divide the sequence length {length} "
            f"(one of {divisors}), got {time_steps}"
        )
    batch, channels = x.shape[0], x.shape[1]
    steps = x.reshape(batch, channels, time_steps, length // time_steps)
    return steps.permute(2, 0, 1, 3).reshape(time_steps, batch, -1)


def _subset(
    split: Split, train_limit: int | None, test_limit: int | None, seed: int
) -> Split:
    """A stratified subset, deterministic for ``seed``."""
    from .fashion_mnist import stratified_indices

    rng = np.random.default_rng(seed)
    x_tr, y_tr, x_te, y_te = split.x_train, split.y_train, split.x_test, split.y_test
    if train_limit is not None and train_limit < len(y_tr):
        keep = torch.as_tensor(stratified_indices(y_tr.numpy(), train_limit, rng))
        x_tr, y_tr = x_tr[keep], y_tr[keep]
    if test_limit is not None and test_limit < len(y_te):
        keep = torch.as_tensor(stratified_indices(y_te.numpy(), test_limit, rng))
        x_te, y_te = x_te[keep], y_te[keep]
    return Split(x_tr, y_tr, x_te, y_te)


def _make(name: str, split: Split, *, time_major: bool, description: str) -> Dataset:
    x = split.x_train
    sequence = x.dim() == 3
    if sequence:
        channels, size = x.shape[1], x.shape[2]
    else:
        channels, size = (
            (x.shape[2], x.shape[3]) if time_major else (x.shape[1], x.shape[2])
        )
    return Dataset(
        name,
        split.x_train,
        split.y_train,
        split.x_test,
        split.y_test,
        channels=int(channels),
        size=int(size),
        classes=int(torch.cat([split.y_train, split.y_test]).max()) + 1,
        time_major_frames=time_major,
        description=description,
        sequence=sequence,
    )


Loaded = tuple[Split, bool, str]


def _digits(seed: int, data_dir: Path | None, **_: int | None) -> Loaded:
    return (
        load_digits_split(seed=seed),
        False,
        "scikit-learn's bundled 8x8 handwritten digits (1,797 real images)",
    )


def _dvs_digits(seed: int, data_dir: Path | None, **_: int | None) -> Loaded:
    from .dvs import load_dvs_digits

    return (
        load_dvs_digits(seed=seed),
        True,
        "neuromorphic digits: DVS events emulated from the scikit-learn digits by "
        "three simulated saccades, binned to 8 frames "
        "(synthetic-from-real, not N-MNIST)",
    )


def _fashion_mnist(seed: int, data_dir: Path | None, **_: int | None) -> Loaded:
    from .fashion_mnist import load_fashion_mnist

    return (
        load_fashion_mnist(data_dir=data_dir),
        False,
        "Fashion-MNIST (real 28x28 images, 60,000 train / 10,000 test)",
    )


def _mnist1d(seed: int, data_dir: Path | None, **_: int | None) -> Loaded:
    from .mnist1d import load_mnist1d

    return (
        load_mnist1d(),
        False,
        "MNIST-1D generated offline by the mnist1d package with its published "
        "defaults (4,000 train / 1,000 test signals of length 40)",
    )


def _cifar10(seed: int, data_dir: Path | None, **_: int | None) -> Loaded:
    from .cifar10 import load_cifar10

    if data_dir is None:
        raise ValueError(
            "cifar10 is read from your own copy: pass --data-dir (data_dir=...) "
            "holding cifar-10-batches-py (the python version); nothing is downloaded"
        )
    return (
        load_cifar10(data_dir),
        False,
        f"CIFAR-10 (real 32x32 colour images, 50,000 train / 10,000 test) from "
        f"{data_dir}, standardised per channel",
    )


def _on_disk(name: str, title: str) -> Callable[..., Loaded]:
    def load(seed: int, data_dir: Path | None, **options: int | None) -> Loaded:
        from . import neuromorphic

        if data_dir is None:
            raise ValueError(
                f"{name} is read from your own copy: pass --data-dir "
                f"(data_dir=...); see adali_plugins.compare.data.neuromorphic"
            )
        reader = getattr(neuromorphic, f"load_{name.replace('-', '_')}")
        steps = options.get("time_steps") or 8
        split = reader(
            data_dir,
            time_steps=steps,
            train_limit=options.get("train_limit"),
            test_limit=options.get("test_limit"),
            seed=seed,
        )
        return split, True, f"{title} from {data_dir}, binned to {steps} frames"

    return load


LOADERS: dict[str, Callable[..., Loaded]] = {
    "digits": _digits,
    "dvs-digits": _dvs_digits,
    "fashion-mnist": _fashion_mnist,
    "mnist1d": _mnist1d,
    "cifar10": _cifar10,
    "nmnist": _on_disk("nmnist", "N-MNIST (real DVS recordings)"),
    "dvs-gesture": _on_disk("dvs-gesture", "DVS128 Gesture (real DVS recordings)"),
    "cifar10-dvs": _on_disk("cifar10-dvs", "CIFAR10-DVS (real DVS recordings)"),
}
"""Dataset name -> loader ``(seed, data_dir, time_steps=, train_limit=,
test_limit=)`` of (split, time-major frames?, description)."""

ON_DISK = ("nmnist", "dvs-gesture", "cifar10-dvs")
"""Event datasets read from a copy the user already has (``data_dir``), by our
own readers under the shared file rule (``safe_open``). ``cifar10`` also needs
``data_dir`` and is read by our own reader; all others need no path."""

NEEDS_DATA_DIR = (*ON_DISK, "cifar10")
"""Every dataset read from the user's own copy; the rest ship with a package or
are generated here."""


def load_dataset(
    name: str,
    *,
    seed: int = 0,
    data_dir: Path | None = None,
    train_limit: int | None = None,
    test_limit: int | None = None,
    time_steps: int | None = None,
) -> Dataset:
    """Load a dataset by name (see ``LOADERS``), optionally a stratified subset.

    ``time_steps`` sets the number of frames of the on-disk event datasets.
    """
    if name not in LOADERS:
        raise ValueError(f"dataset must be one of {sorted(LOADERS)}, got {name!r}")
    split, time_major, description = LOADERS[name](
        seed,
        data_dir,
        time_steps=time_steps,
        train_limit=train_limit,
        test_limit=test_limit,
    )
    if train_limit is not None or test_limit is not None:
        split = _subset(split, train_limit, test_limit, seed)
        description += f" (stratified subset {len(split.y_train)}/{len(split.y_test)})"
    return _make(name, split, time_major=time_major, description=description)
