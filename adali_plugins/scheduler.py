"""Deprecated: this module is now ``adali_plugins.epochs``; this path goes in 0.3."""

import warnings

from .epochs import *  # noqa: F403

warnings.warn(
    "adali_plugins.scheduler is deprecated; import from adali_plugins.epochs",
    DeprecationWarning,
    stacklevel=2,
)
