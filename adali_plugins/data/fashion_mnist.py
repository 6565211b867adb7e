"""Deprecated: this module is now ``adali_plugins.compare.data.fashion_mnist``.

This path goes in 0.3.
"""

import warnings

from ..compare.data.fashion_mnist import *  # noqa: F403

warnings.warn(
    "adali_plugins.data.fashion_mnist is deprecated; "
    "import from adali_plugins.compare.data.fashion_mnist",
    DeprecationWarning,
    stacklevel=2,
)
