"""Datasets that need no download: bundled real data and data we generate."""

from .digits import Split, direct_encode, load_digits_split, rate_encode
from .dvs import (
    EVENT_DTYPE,
    emulate_events,
    events_to_frames,
    load_dvs_digits,
    render_shifted,
    saccade_path,
)
from .errors import DataFormatError
from .fashion_mnist import (
    FASHION_MNIST_CLASSES,
    find_fashion_mnist,
    load_fashion_mnist,
    stratified_indices,
)
from .idx import read_idx, write_idx
from .mnist1d import MNIST1D_DEFAULT_ARGS, load_mnist1d
from .neuromorphic import load_cifar10_dvs, load_dvs_gesture, load_nmnist

__all__ = [
    "EVENT_DTYPE",
    "FASHION_MNIST_CLASSES",
    "MNIST1D_DEFAULT_ARGS",
    "DataFormatError",
    "Split",
    "direct_encode",
    "emulate_events",
    "events_to_frames",
    "find_fashion_mnist",
    "load_cifar10_dvs",
    "load_digits_split",
    "load_dvs_digits",
    "load_dvs_gesture",
    "load_fashion_mnist",
    "load_mnist1d",
    "load_nmnist",
    "rate_encode",
    "read_idx",
    "render_shifted",
    "saccade_path",
    "stratified_indices",
    "write_idx",
]
