"""Sphinx configuration of the adali_plugins documentation.

Why Sphinx with MyST Markdown: both hosts (snnTorch, SpikingJelly) publish
Sphinx sites, so their users know the layout; autodoc + napoleon render the
Google-style docstrings the package already has, and MyST lets the narrative
pages stay Markdown like the README. Build: ``sphinx-build -W -b html docs out``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))

project = "adali_plugins"
author = "adali_plugins maintainers"
release = version = "0.1.0"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "adali_plot",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "benchmarks", "results/*/**", "_ext"]

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# "Attributes:" sections as fields, so they never duplicate an attribute that
# autodoc documents from its own docstring.
napoleon_use_ivar = True
# Type hints name classes of torch and the hosts that this site does not
# document; they are shown as text, not cross-referenced.
nitpicky = False

html_theme = "alabaster"
html_title = "adali_plugins 0.1.0"
html_static_path: list[str] = []
