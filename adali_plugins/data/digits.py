"""Deprecated: this module is now ``adali_plugins.compare.data.digits``.

This path goes in 0.3.
"""

import warnings

from ..compare.data.digits import *  # noqa: F403

warnings.warn(
    "adali_plugins.data.digits is deprecated; "
    "import from adali_plugins.compare.data.digits",
    DeprecationWarning,
    stacklevel=2,
)
