"""Deprecated: this module is now ``adali_plugins.compare.data.errors``.

This path goes in 0.3.
"""

import warnings

from ..compare.data.errors import *  # noqa: F403

warnings.warn(
    "adali_plugins.data.errors is deprecated; "
    "import from adali_plugins.compare.data.errors",
    DeprecationWarning,
    stacklevel=2,
)
