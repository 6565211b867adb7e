"""Deprecated: this module is now ``adali_plugins.compare.data``.

This path goes in 0.3.
"""

import warnings

from ..compare.data import *  # noqa: F403
from ..compare.data import __all__  # noqa: F401

warnings.warn(
    "adali_plugins.data is deprecated; import from adali_plugins.compare.data",
    DeprecationWarning,
    stacklevel=2,
)
