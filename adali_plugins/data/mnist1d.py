"""Deprecated: this module is now ``adali_plugins.compare.data.mnist1d``.

This path goes in 0.3.
"""

import warnings

from ..compare.data.mnist1d import *  # noqa: F403

warnings.warn(
    "adali_plugins.data.mnist1d is deprecated; "
    "import from adali_plugins.compare.data.mnist1d",
    DeprecationWarning,
    stacklevel=2,
)
