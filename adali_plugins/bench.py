"""Deprecated: this module is now ``adali_plugins.compare.bench``.

This path goes in 0.3.
"""

import warnings

from .compare.bench import *  # noqa: F403
from .compare.bench import _step_candidates  # noqa: F401

warnings.warn(
    "adali_plugins.bench is deprecated; import from adali_plugins.compare.bench",
    DeprecationWarning,
    stacklevel=2,
)

if __name__ == "__main__":
    from .compare.bench import main

    main()
