"""Fashion-MNIST (70,000 real 28x28 clothing images) read from local IDX files.

Nothing is downloaded: by default the files come from Debian's
``dataset-fashion-mnist`` package, which installs them under
``/usr/share/datasets/fashion-mnist/``. Any folder with the four standard files
(plain or ``.gz``, or torchvision's ``FashionMNIST/raw/`` layout) works too.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .digits import Split
from .errors import DataFormatError
from .idx import read_idx

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
"""Where ``apt-get install dataset-fashion-mnist`` puts the files."""

INSTALL_HINT = "apt-get install dataset-fashion-mnist"

FASHION_MNIST_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def _candidate_dirs(data_dir: str | os.PathLike[str] | None) -> list[Path]:
    if data_dir is None:
        return [DEBIAN_DIR]
    root = Path(data_dir)
    return [root, root / "FashionMNIST" / "raw"]


def _present(path: Path) -> bool:
    """Whether ``path`` names something other than a folder (a link, a FIFO
    too: reading it then refuses it with the reason, instead of "not found")."""
    return os.path.lexists(path) and not path.is_dir()


def find_fashion_mnist(
    data_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Path]:
    """The four Fashion-MNIST files, from the first folder that holds all of them.

    Plain files win over ``.gz`` ones. Raises FileNotFoundError naming the
    Debian package and, for each folder searched, the paths tried and not found.
    """
    missing: list[str] = []
    for folder in _candidate_dirs(data_dir):
        found: dict[str, Path] = {}
        for key, name in FASHION_MNIST_FILES.items():
            candidates = (folder / name, folder / f"{name}.gz")
            hit = next((c for c in candidates if _present(c)), None)
            if hit is None:
                missing.extend(str(c) for c in candidates)
            else:
                found[key] = hit
        if len(found) == len(FASHION_MNIST_FILES):
            return found
    lines = "\n  ".join(missing)
    raise FileNotFoundError(
        "Fashion-MNIST files not found. Install them with "
        f"`{INSTALL_HINT}` (Debian/Ubuntu), or pass data_dir= a folder holding "
        f"{', '.join(FASHION_MNIST_FILES.values())} (optionally .gz, or in "
        f"its FashionMNIST/raw/ subfolder). Searched and not found:\n  {lines}"
    )


def stratified_indices(
    labels: np.ndarray, limit: int, rng: np.random.Generator
) -> np.ndarray:
    """Sorted indices of ``limit`` samples keeping class proportions.

    Each class gets its proportional share rounded down; the samples left over
    go to the classes with the largest remainders (ties to the lower label), so
    the class counts never depend on the random draw, only which samples do.
    """
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * limit / len(labels)
    quota = np.floor(exact).astype(np.int64)
    order = np.lexsort((classes, -(exact - quota)))
    quota[order[: limit - int(quota.sum())]] += 1
    chosen = [
        rng.choice(np.flatnonzero(labels == c), size=int(q), replace=False)
        for c, q in zip(classes, quota, strict=True)
    ]
    return np.sort(np.concatenate(chosen))


def _check_limit(name: str, limit: int | None, available: int) -> None:
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, int | np.integer):
        raise TypeError(f"{name} must be an int or None, got {type(limit).__name__}")
    if not 1 <= limit <= available:
        raise ValueError(f"{name} must be in [1, {available}], got {limit}")


def _load_part(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(images_path, root=images_path.parent)
    labels = read_idx(labels_path, root=labels_path.parent)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataFormatError(
            f"{images_path}: expected uint8 images of shape (N, 28, 28), "
            f"got {images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataFormatError(
            f"{labels_path}: expected uint8 labels of shape (N,), "
            f"got {labels.dtype} {labels.shape}"
        )
    if len(labels) != len(images):
        raise DataFormatError(
            f"{images_path} has {len(images)} images but {labels_path} has "
            f"{len(labels)} labels"
        )
    if not len(images):
        raise DataFormatError(
            f"{images_path}: holds no images (shape {images.shape}); an empty "
            "set can neither train nor test"
        )
    if labels.max() >= len(FASHION_MNIST_CLASSES):
        raise DataFormatError(f"{labels_path}: label {labels.max()} outside 0..9")
    return images, labels


def load_fashion_mnist(
    *,
    data_dir: str | os.PathLike[str] | None = None,
    train_limit: int | None = None,
    test_limit: int | None = None,
    seed: int = 0,
) -> Split:
    """Fashion-MNIST as float32 images in [0, 1] ``(N, 1, 28, 28)``, int64 labels.

    The standard 60,000/10,000 train/test split. ``train_limit`` and
    ``test_limit`` take a stratified subset, the same for the same ``seed``
    (train and test draw from independent streams), so quick runs stay balanced
    and comparable across surrogates.
    """
    paths = find_fashion_mnist(data_dir)
    x_tr, y_tr = _load_part(paths["train_images"], paths["train_labels"])
    x_te, y_te = _load_part(paths["test_images"], paths["test_labels"])
    _check_limit("train_limit", train_limit, len(y_tr))
    _check_limit("test_limit", test_limit, len(y_te))
    if train_limit is not None and train_limit < len(y_tr):
        idx = stratified_indices(y_tr, train_limit, np.random.default_rng([seed, 0]))
        x_tr, y_tr = x_tr[idx], y_tr[idx]
    if test_limit is not None and test_limit < len(y_te):
        idx = stratified_indices(y_te, test_limit, np.random.default_rng([seed, 1]))
        x_te, y_te = x_te[idx], y_te[idx]

    def images(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x.astype(np.float32) / 255.0).unsqueeze(1)

    def labels(y: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(y.astype(np.int64))

    return Split(images(x_tr), labels(y_tr), images(x_te), labels(y_te))
