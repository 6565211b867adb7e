"""Deprecated: this module is now ``adali_plugins.compare.data.datasets``.

This path goes in 0.3.
"""

import warnings

from ..compare.data.datasets import *  # noqa: F403

warnings.warn(
    "adali_plugins.data.datasets is deprecated; "
    "import from adali_plugins.compare.data.datasets",
    DeprecationWarning,
    stacklevel=2,
)
