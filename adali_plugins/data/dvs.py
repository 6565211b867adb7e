"""Deprecated: this module is now ``adali_plugins.compare.data.dvs``.

This path goes in 0.3.
"""

import warnings

from ..compare.data.dvs import *  # noqa: F403

warnings.warn(
    "adali_plugins.data.dvs is deprecated; import from adali_plugins.compare.data.dvs",
    DeprecationWarning,
    stacklevel=2,
)
