"""PNG plots of membrane statistics and the AdaLi window (needs matplotlib).

Install with ``pip install 'adali_plugins[plot]'``. Figures are built with
``matplotlib.figure.Figure`` directly, so no GUI backend is touched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .monitor import MembraneMonitor, MonitorSummary
from .state import AdaLiState
from .stats import HistogramSpec


def figure(
    n_panels: int, *, width: float = 4.2, height: float = 3.2
) -> tuple[Any, list[Any]]:
    """A figure with ``n_panels`` axes on a grid of at most three columns."""
    try:
        from matplotlib.figure import Figure
    except ModuleNotFoundError as err:
        raise ImportError(
            "plots need matplotlib; install it with: pip install 'adali_plugins[plot]'"
        ) from err
    cols = min(n_panels, 3)
    rows = math.ceil(n_panels / cols)
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:n_panels]


def draw_histogram(
    ax: Any,
    dens: torch.Tensor,
    spec: HistogramSpec,
    *,
    window: tuple[float, float],
    heights: tuple[float, float],
    title: str,
) -> None:
    """One panel: density of x as bars, the AdaLi derivative g(x) on a twin axis."""
    edges = spec.edges().numpy()
    centers = (edges[:-1] + edges[1:]) / 2
    ax.bar(centers, dens.numpy(), width=spec.width, color="#8fb3d9")
    left, right = window
    ax2 = ax.twinx()
    ax2.step(
        [-left - 1e-9, -left, 0, right, right + 1e-9],
        [0, heights[0], heights[1], heights[1], 0],
        where="post",
        color="#c0392b",
    )
    ax2.set_ylim(0, max(heights) * 1.3)
    ax2.set_ylabel("surrogate derivative g(x)", color="#c0392b")
    for edge in (-left, 0.0, right):
        ax.axvline(edge, color="#c0392b", lw=0.8, ls="--" if edge else "-")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("x = u - threshold")
    ax.set_ylabel("density")


def plot_membrane_histograms(
    monitor: MembraneMonitor, path: str | Path, *, layers: Sequence[str] | None = None
) -> Path:
    """Per layer: histogram of x = u - threshold with the AdaLi window over it.

    The surrogate derivative g(x) (the two heights on [-L, 0) and [0, R]) is drawn
    on a second axis; layers without AdaLi show the monitor's reference window.
    """
    names = list(layers) if layers is not None else monitor.layers
    summary = monitor.summary()
    fig, axes = figure(len(names))
    for ax, name in zip(axes, names, strict=True):
        row = summary[name]
        surrogate = monitor.surrogate_of(name)
        if isinstance(surrogate, AdaLiState):
            w = surrogate.current_window()
            heights = (w.h_lo, w.h_hi)
        else:
            heights = (0.5 / row.window_left, 0.5 / row.window_right)
        draw_histogram(
            ax,
            density(monitor, name),
            monitor.spec,
            window=(row.window_left, row.window_right),
            heights=heights,
            title=f"{name} ({row.neuron}): {row.in_window:.1%} inside window",
        )
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path


def plot_window_history(
    history: Sequence[tuple[float, MonitorSummary]], path: str | Path
) -> Path:
    """How each layer's window and in-window share moved over epochs.

    ``history`` holds ``(epoch, summary)`` pairs, e.g. one summary per epoch.
    """
    if not history:
        raise ValueError("history is empty: record at least one (epoch, summary) pair")
    fig, (ax_w, ax_s) = figure(2, width=5.5)
    layers = [row.layer for row in history[0][1]]
    epochs = [e for e, _ in history]
    for layer in layers:
        rows = [summary[layer] for _, summary in history]
        line = ax_w.plot(
            epochs, [r.window_right for r in rows], marker="o", label=f"{layer} R"
        )[0]
        color = line.get_color()
        left = [-r.window_left for r in rows]
        ax_w.plot(epochs, left, marker="o", ls="--", color=color, label=f"{layer} -L")
        share = [r.in_window for r in rows]
        ax_s.plot(epochs, share, marker="o", color=color, label=layer)
    ax_w.axhline(0.0, color="black", lw=0.6)
    ax_w.set_title("AdaLi window [-L, R] per layer")
    ax_w.set_xlabel("epoch")
    ax_w.set_ylabel("x = u - threshold")
    ax_w.legend(fontsize=7)
    ax_s.set_title("share of potentials inside the window")
    ax_s.set_xlabel("epoch")
    ax_s.set_ylim(0, 1)
    ax_s.legend(fontsize=7)
    path = Path(path)
    fig.savefig(path, dpi=110)
    return path


def density(monitor: MembraneMonitor, layer: str) -> torch.Tensor:
    """The layer's histogram as a density over x (integrates to the in-range share)."""
    state = monitor.state(layer)
    count = float(state["count"]) or 1.0
    return state["hist"].double() / count / monitor.spec.width
