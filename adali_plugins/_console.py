"""Console scripts that start even when the extra they need is missing.

``adali-compare`` runs the comparison harness (``adali_plugins.compare``), which
needs the ``[compare]`` extra; without it, importing the harness raises
``ImportError``. The script enters here, on the library floor, so that a
missing extra prints one line and exits with status 2 instead of a traceback.
"""

from __future__ import annotations

import sys

COMPARE_EXTRA = "pip install 'adali_plugins[compare]'"
"""The install line for the harness's dependencies."""

_COMPARE_MODULES = ("sklearn", "tqdm", "matplotlib")
"""Top-level modules the ``[compare]`` extra brings."""


def _missing_extra(err: ImportError) -> str | None:
    """The one-line message for ``err`` if it is a missing ``[compare]`` extra."""
    if "adali_plugins[compare]" in str(err):
        return str(err)
    name = getattr(err, "name", None) or ""
    if name.split(".")[0] in _COMPARE_MODULES:
        return f"adali-compare needs {name.split('.')[0]}: {COMPARE_EXTRA}"
    return None


def adali_compare(argv: list[str] | None = None) -> int:
    """The ``adali-compare`` command: 0 on success, 2 on a user error or a
    missing ``[compare]`` extra (one line on stderr, no traceback)."""
    try:
        from .compare.cli import entry_point
    except ImportError as err:
        message = _missing_extra(err)
        if message is None:
            raise
        print(f"adali-compare: error: {message}", file=sys.stderr)
        return 2
    return entry_point(argv)
