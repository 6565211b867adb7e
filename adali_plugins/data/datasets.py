"""Datasets the comparison harness knows, and how each is presented over time.

Every loader here reads data that ship with an installed package or that our own
code generates: nothing is downloaded at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch

from .digits import direct_encode, load_digits_split, rate_encode

Encoding = Literal["direct", "rate"]
ENCODINGS = ("direct", "rate")


@dataclass(frozen=True)
class Dataset:
    """Train/test tensors plus what the model needs to know about them.

    Static images are ``(N, C, H, W)`` and get encoded over T steps; event data
    are already ``(N, T, C, H, W)`` frames (``time_major_frames``).
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

    def encode(
        self,
        x: torch.Tensor,
        *,
        time_steps: int,
        encoding: str,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """A batch as time-major input ``(T, B, C, H, W)``."""
        if self.time_major_frames:
            return x.transpose(0, 1).contiguous()
        if encoding == "rate":
            return rate_encode(x, time_steps, generator=generator)
        return direct_encode(x, time_steps)


def _digits(seed: int) -> Dataset:
    split = load_digits_split(seed=seed)
    return Dataset(
        "digits",
        split.x_train,
        split.y_train,
        split.x_test,
        split.y_test,
        channels=1,
        size=8,
        classes=10,
        time_major_frames=False,
        description="scikit-learn's bundled 8x8 handwritten digits (1,797 real images)",
    )


LOADERS: dict[str, Callable[[int], Dataset]] = {"digits": _digits}
"""Dataset name -> loader taking the split seed."""


def load_dataset(name: str, *, seed: int = 0) -> Dataset:
    """Load a dataset by name (see ``LOADERS``)."""
    if name not in LOADERS:
        raise ValueError(f"dataset must be one of {sorted(LOADERS)}, got {name!r}")
    return LOADERS[name](seed)
