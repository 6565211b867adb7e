"""scikit-learn's bundled handwritten digits (1,797 real 8x8 images), no download.

The split is stratified and fixed by ``seed`` so every surrogate in a comparison
sees the same train and test images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Split:
    """A fixed train/test split: float32 inputs ``(N, C, ...)``, int64 labels.

    Shared by every loader so a harness handles all datasets the same way.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def load_digits_split(*, test_fraction: float = 0.25, seed: int = 0) -> Split:
    """The digits as (N, 1, 8, 8) images in [0, 1], with a stratified split."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise ImportError(
            "the digits dataset needs scikit-learn, which is not installed; "
            "install it with: pip install 'adali_plugins[compare]'"
        ) from err

    bunch = load_digits()
    images = bunch.images.astype(np.float32) / 16.0
    labels = bunch.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    test_idx = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        test_idx.extend(idx[: round(len(idx) * test_fraction)])
    test_mask = np.zeros(len(labels), dtype=bool)
    test_mask[test_idx] = True
    x = torch.from_numpy(images).unsqueeze(1)
    y = torch.from_numpy(labels)
    train, test = torch.from_numpy(~test_mask), torch.from_numpy(test_mask)
    return Split(x[train], y[train], x[test], y[test])


def direct_encode(x: torch.Tensor, steps: int) -> torch.Tensor:
    """Repeat the analogue input at every time step: (T, N, ...)."""
    return x.unsqueeze(0).expand(steps, *x.shape).contiguous()


def rate_encode(
    x: torch.Tensor, steps: int, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Bernoulli spikes with probability equal to intensity: (T, N, ...)."""
    probs = x.clamp(0, 1).unsqueeze(0).expand(steps, *x.shape)
    return torch.bernoulli(probs, generator=generator)
