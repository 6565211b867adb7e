"""Sphinx extension: the ``adali-window-plot`` directive draws AdaLi's box.

The figure is made by matplotlib from :func:`adali_plugins.window.window_at` and
:func:`adali_plugins.surrogate.adali_grad` / ``adali_primitive`` (so it shows
what the code computes, not a copy of the formula), written into the build
directory, never into the source tree.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

FIGURE = "adali_window.png"


def draw(path: Path) -> Path:
    """Draw g′ and g at the first and last window of the default schedule."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from adali_plugins.surrogate import adali_grad, adali_primitive
    from adali_plugins.window import window_at

    x = torch.linspace(-2.0, 2.0, 2001, dtype=torch.float64)
    fig, (ax_d, ax_p) = plt.subplots(1, 2, figsize=(9, 3.2))
    for q, style in ((0.0, "-"), (1.0, "--")):
        w = window_at(q)
        args = (w.left, w.right, w.h_lo, w.h_hi)
        label = f"progress {q:g}: L={w.left:g}, R={w.right:g}"
        ax_d.plot(x, adali_grad(x, *args), style, label=label)
        ax_p.plot(x, adali_primitive(x, *args), style, label=label)
    ax_d.set_title("g′(x): the box (backward)")
    ax_p.set_title("g(x): its primitive")
    for ax in (ax_d, ax_p):
        ax.set_xlabel("x = u − θ")
        ax.axvline(0.0, color="grey", lw=0.5)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


class AdaLiWindowPlot(SphinxDirective):
    """``.. adali-window-plot::``: the figure, drawn once per build."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        app = self.env.app
        target = Path(app.outdir) / "_generated" / FIGURE
        if not target.exists():
            draw(target)
        doc_dir = Path(self.env.doc2path(self.env.docname)).parent
        uri = os.path.relpath(target, doc_dir)
        image = nodes.image(
            uri=uri,
            alt="AdaLi's derivative g′ and primitive g at the first and last window",
        )
        return [image]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("adali-window-plot", AdaLiWindowPlot)
    return {"version": "1.0", "parallel_read_safe": True}
