"""Deprecated: this module is now ``adali_plugins.window``; this path goes in 0.3."""

import warnings

from .window import *  # noqa: F403

warnings.warn(
    "adali_plugins.schedule is deprecated; import from adali_plugins.window",
    DeprecationWarning,
    stacklevel=2,
)
