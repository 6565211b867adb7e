"""Deprecated: this module is now ``adali_plugins.compare.data.idx``.

This path goes in 0.3.
"""

import warnings

from ..compare.data.idx import *  # noqa: F403

warnings.warn(
    "adali_plugins.data.idx is deprecated; import from adali_plugins.compare.data.idx",
    DeprecationWarning,
    stacklevel=2,
)
