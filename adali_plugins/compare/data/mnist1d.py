"""MNIST-1D, generated offline with the ``mnist1d`` package's own generator.

MNIST-1D (Greydanus & Kobak, 2020) turns ten 1-D digit templates into length-40
signals by random padding, scaling, translation, correlated and i.i.d. noise,
and shear. It is small and hard enough to separate surrogate gradients within
minutes on a CPU. We call ``mnist1d.data.make_dataset`` directly and never
``get_dataset``, whose default path downloads a pickle.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import torch

from .digits import Split

MNIST1D_DEFAULT_ARGS: dict[str, Any] = {
    "num_samples": 5000,
    "train_split": 0.8,
    "template_len": 12,
    "padding": [36, 60],
    "scale_coeff": 0.4,
    "max_translation": 48,
    "corr_noise_scale": 0.25,
    "iid_noise_scale": 2e-2,
    "shear_scale": 0.75,
    "shuffle_seq": False,
    "final_seq_length": 40,
    "seed": 42,
}
"""``mnist1d.data.get_dataset_args()`` of mnist1d 0.0.2.post1, without its URL.

Kept for reference and checked against the installed package by the tests; the
generator itself always takes the package's current defaults.
"""

INSTALL_HINT = "pip install mnist1d"


def _import_mnist1d() -> Any:
    try:
        from mnist1d import data
    except ImportError as exc:
        raise ImportError(
            "MNIST-1D needs the mnist1d package: "
            f"`{INSTALL_HINT}` (or `pip install 'adali_plugins[data]'`)"
        ) from exc
    return data


def _check_size(name: str, n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer):
        raise TypeError(f"{name} must be an int or None, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"{name} must be at least 1, got {n}")


def load_mnist1d(
    *, seed: int = 42, n_train: int | None = None, n_test: int | None = None
) -> Split:
    """MNIST-1D as float32 signals ``(N, 1, 40)`` and int64 labels 0..9.

    Uses the package's published defaults (``get_dataset_args()`` of 0.0.2):
    ``num_samples=5000, train_split=0.8, template_len=12, padding=[36, 60],
    scale_coeff=0.4, max_translation=48, corr_noise_scale=0.25,
    iid_noise_scale=0.02, shear_scale=0.75, shuffle_seq=False,
    final_seq_length=40, seed=42``. With the defaults here this is the package's
    own 4,000/1,000 split, generated rather than downloaded.

    Other sizes generate ``n_train + n_test`` samples (rounded up to a multiple of
    ten, equal per class, shuffled, standardised over the whole set) and take the
    first ``n_train`` for training and the next ``n_test`` for testing. The same
    ``seed`` always gives the same data; NumPy's and Python's global random state,
    which the generator reseeds, is restored afterwards.
    """
    data = _import_mnist1d()
    args = data.get_dataset_args(as_dict=True)
    default_train = round(args["num_samples"] * args["train_split"])
    n_train = default_train if n_train is None else n_train
    n_test = args["num_samples"] - default_train if n_test is None else n_test
    _check_size("n_train", n_train)
    _check_size("n_test", n_test)
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    total = int(n_train) + int(n_test)
    args.update(num_samples=math.ceil(total / 10) * 10, train_split=1.0, seed=seed)

    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        generated = data.make_dataset(data.ObjectView(args))
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)

    x = torch.from_numpy(np.asarray(generated["x"], dtype=np.float32)).unsqueeze(1)
    y = torch.from_numpy(np.asarray(generated["y"], dtype=np.int64))
    return Split(
        x[:n_train].clone(),
        y[:n_train].clone(),
        x[n_train:total].clone(),
        y[n_train:total].clone(),
    )
