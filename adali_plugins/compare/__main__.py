"""``python -m adali_plugins.compare``: same as the ``adali-compare`` command."""

from .cli import main

main()
