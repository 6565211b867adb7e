"""Deprecated: this module is now ``adali_plugins.compare.models``.

This path goes in 0.3.
"""

import warnings

from .compare.models import *  # noqa: F403

warnings.warn(
    "adali_plugins.models is deprecated; import from adali_plugins.compare.models",
    DeprecationWarning,
    stacklevel=2,
)
