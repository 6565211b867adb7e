"""Deprecated: this module is now ``adali_plugins.compare.data.neuromorphic``.

This path goes in 0.3.
"""

import warnings

from ..compare.data.neuromorphic import *  # noqa: F403

warnings.warn(
    "adali_plugins.data.neuromorphic is deprecated; "
    "import from adali_plugins.compare.data.neuromorphic",
    DeprecationWarning,
    stacklevel=2,
)
