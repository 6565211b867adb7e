"""``python -m adali_plugins.compare``: same as the ``adali-compare`` command."""

from .cli import entry_point

raise SystemExit(entry_point())
