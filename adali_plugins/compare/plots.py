"""PNG plots of a comparison: accuracy, gradient health, membrane histograms."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import torch

from ..plots import draw_histogram, figure
from ..stats import HistogramSpec
from .report import density_of, mean_density

Results = dict[tuple[str, str, int], list[dict[str, Any]]]


def _by_surrogate(results: Results, host: str) -> dict[str, list[list[dict[str, Any]]]]:
    out: dict[str, list[list[dict[str, Any]]]] = {}
    for (h, surrogate, _), records in sorted(results.items()):
        if h == host and records:
            out.setdefault(surrogate, []).append(records)
    ours_first = sorted(out, key=lambda s: (not s.startswith("AdaLi"), s))
    return {s: out[s] for s in ours_first}


def plot_accuracy(results: Results, path: Path) -> Path:
    """Test accuracy per epoch, mean over seeds with a ±std band, one panel per host."""
    hosts = sorted({h for h, _, _ in results})
    fig, axes = figure(len(hosts), width=5.5, height=3.8)
    for ax, host in zip(axes, hosts, strict=True):
        for surrogate, runs in _by_surrogate(results, host).items():
            n = min(len(r) for r in runs)
            acc = torch.tensor([[e["test_acc"] for e in r[:n]] for r in runs])
            mean, std = acc.mean(0), acc.std(0, unbiased=False)
            epochs = list(range(1, n + 1))
            style = {"lw": 2.2} if surrogate.startswith("AdaLi") else {"lw": 1.1}
            ax.plot(epochs, mean.tolist(), marker="o", ms=3, label=surrogate, **style)
            ax.fill_between(
                epochs, (mean - std).tolist(), (mean + std).tolist(), alpha=0.15
            )
        ax.set_title(f"{host}: test accuracy")
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=7)
    fig.savefig(path, dpi=110)
    return path


def plot_gradients(results: Results, path: Path) -> Path:
    """Final-epoch gradient norm by layer depth and by time step, per host."""
    hosts = sorted({h for h, _, _ in results})
    fig, axes = figure(2 * len(hosts), width=5.0, height=3.6)
    for i, host in enumerate(hosts):
        ax_depth, ax_step = axes[2 * i], axes[2 * i + 1]
        for surrogate, runs in _by_surrogate(results, host).items():
            last = [r[-1] for r in runs]
            layers = list(last[0]["grad_norm_by_layer"])
            depth = [
                statistics.fmean(rec["grad_norm_by_layer"][name] for rec in last)
                for name in layers
            ]
            ax_depth.plot(range(1, len(layers) + 1), depth, marker="o", label=surrogate)
            first = next(iter(last[0]["grad_norm_by_step"]))
            steps = torch.tensor(
                [rec["grad_norm_by_step"][first] for rec in last]
            ).mean(0)
            ax_step.plot(
                range(1, len(steps) + 1), steps.tolist(), marker="o", label=surrogate
            )
        ax_depth.set_yscale("log")
        ax_depth.set_title(f"{host}: weight-gradient norm by depth")
        ax_depth.set_xlabel("layer (input -> output)")
        ax_step.set_yscale("log")
        ax_step.set_title(f"{host}: grad norm at first spiking layer, by step")
        ax_step.set_xlabel("time step")
        ax_depth.legend(fontsize=7)
    fig.savefig(path, dpi=110)
    return path


def plot_membranes(
    results: Results, path: Path, *, surrogate: str, spec: HistogramSpec
) -> Path:
    """Final-epoch membrane histograms of one surrogate (first seed), per layer."""
    runs = {
        (h, s): r
        for (h, s, seed), r in sorted(results.items(), reverse=True)
        if s == surrogate and r
    }
    panels = [
        (h, layer, rec[-1])
        for (h, _), rec in sorted(runs.items())
        for layer in rec[-1]["histograms"]
    ]
    fig, axes = figure(len(panels))
    for ax, (host, layer, rec) in zip(axes, panels, strict=True):
        hist = torch.tensor(rec["histograms"][layer], dtype=torch.float64)
        count = next(m["count"] for m in rec["membrane"] if m["layer"] == layer) or 1
        left, right = rec["window"][layer]
        heights = rec["heights"].get(layer, (0.5 / left, 0.5 / right))
        draw_histogram(
            ax,
            hist / count / spec.width,
            spec,
            window=(left, right),
            heights=tuple(heights),
            title=f"{host} {layer}: density {density_of(rec)[layer]:.1%}",
        )
    fig.savefig(path, dpi=110)
    return path


def _band(ax: Any, values: torch.Tensor, label: str) -> None:
    """Mean over seeds (rows) per epoch with a ±std band."""
    mean, std = values.mean(0), values.std(0, unbiased=False)
    epochs = list(range(1, values.shape[1] + 1))
    style = {"lw": 2.2} if label.startswith("AdaLi") else {"lw": 1.1}
    ax.plot(epochs, mean.tolist(), marker="o", ms=3, label=label, **style)
    ax.fill_between(epochs, (mean - std).tolist(), (mean + std).tolist(), alpha=0.15)


def plot_curves(results: Results, host: str, path: Path) -> Path:
    """One host: test accuracy per epoch (left) beside mean computational
    density per epoch (right), mean over seeds with a ±std band."""
    fig, (ax_acc, ax_density) = figure(2, width=5.5, height=3.8)
    for surrogate, runs in _by_surrogate(results, host).items():
        n = min(len(r) for r in runs)
        acc = torch.tensor([[e["test_acc"] for e in r[:n]] for r in runs])
        density = torch.tensor(
            [[mean_density(e) for e in r[:n]] for r in runs], dtype=torch.float64
        )
        _band(ax_acc, acc, surrogate)
        _band(ax_density, density, surrogate)
    ax_acc.set_title(f"{host}: test accuracy")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_density.set_title(f"{host}: computational density")
    ax_density.set_xlabel("epoch")
    ax_density.set_ylabel("share of potentials in window, mean over layers")
    ax_density.set_ylim(0, 1)
    for ax in (ax_acc, ax_density):
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax_acc.legend(fontsize=7)
    fig.savefig(path, dpi=110)
    return path


def plot_window_share(results: Results, path: Path) -> Path:
    """Final-epoch computational density (share of potentials inside each
    surrogate's own window), per layer (left) and per time step of the first
    spiking layer (right), per host.

    Dead layers (share near 0) and saturated ones (share near 1 with no
    selectivity) show up here before they show up in the accuracy.
    """
    hosts = sorted({h for h, _, _ in results})
    fig, axes = figure(2 * len(hosts), width=5.0, height=3.6)
    for i, host in enumerate(hosts):
        ax_layer, ax_step = axes[2 * i], axes[2 * i + 1]
        for surrogate, runs in _by_surrogate(results, host).items():
            rows = runs[0][-1]["membrane"]
            ax_layer.plot(
                range(1, len(rows) + 1),
                [r["in_window"] for r in rows],
                marker="o",
                label=surrogate,
            )
            steps = rows[0].get("step_in_window")
            if steps:
                ax_step.plot(
                    range(1, len(steps) + 1), steps, marker="o", label=surrogate
                )
        ax_layer.set_title(f"{host}: computational density by layer")
        ax_layer.set_xlabel("spiking layer (input -> output)")
        ax_layer.set_ylim(0, 1)
        ax_step.set_title(f"{host}: first layer, by time step")
        ax_step.set_xlabel("time step")
        ax_step.set_ylim(0, 1)
        ax_layer.legend(fontsize=7)
    fig.savefig(path, dpi=110)
    return path
