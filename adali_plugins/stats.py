"""Streaming membrane-potential statistics as sums, counts and a histogram.

A layer's state is a dict of tensors, each with a reduction (``sum``, ``min`` or
``max``) so the same state merges across batches and across ranks. ``update``
and ``summarize`` are pure functions of that state: nothing here keeps raw
potentials, so memory is bounded by the histogram size whatever the data size.

All counts exclude NaN and +-Inf, which are counted separately. Values outside
the histogram range land in ``under`` / ``over``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.distributed as dist

REDUCTIONS: dict[str, str] = {
    "count": "sum",
    "sum": "sum",
    "sumsq": "sum",
    "min": "min",
    "max": "max",
    "hist": "sum",
    "under": "sum",
    "over": "sum",
    "nan": "sum",
    "posinf": "sum",
    "neginf": "sum",
    "window": "sum",
    "step_count": "sum",
    "step_sum": "sum",
    "step_window": "sum",
    "grad_calls": "sum",
    "grad_norm_sum": "sum",
    "grad_norm_max": "max",
    "grad_nonfinite": "sum",
    "reached": "max",
}
"""How each field merges across batches and ranks."""

WINDOW_PARTS = ("outside_below", "inside_below", "inside_above", "outside_above")
"""The four columns of the ``window`` counts, relative to the AdaLi window."""

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


@dataclass(frozen=True)
class HistogramSpec:
    """Fixed histogram bins over ``[lo, hi)``; 0 must be a bin edge."""

    lo: float = -4.0
    hi: float = 4.0
    bins: int = 200

    def __post_init__(self) -> None:
        if not (
            math.isfinite(self.lo) and math.isfinite(self.hi) and self.lo < 0 < self.hi
        ):
            raise ValueError(
                f"hist_range must satisfy lo < 0 < hi, got ({self.lo}, {self.hi})"
            )
        if self.bins < 2:
            raise ValueError(f"bins must be >= 2, got {self.bins}")
        zero = -self.lo / self.width
        if abs(zero - round(zero)) > 1e-6:
            raise ValueError(
                f"0 must be a bin edge: choose bins so that -lo / bin width is an "
                f"integer (lo={self.lo}, hi={self.hi}, bins={self.bins})"
            )

    @property
    def width(self) -> float:
        return (self.hi - self.lo) / self.bins

    @property
    def zero_bin(self) -> int:
        """Index of the first bin at or above 0."""
        return round(-self.lo / self.width)

    def edges(self) -> torch.Tensor:
        return torch.linspace(self.lo, self.hi, self.bins + 1, dtype=torch.float64)


def empty_state(
    spec: HistogramSpec,
    *,
    time_steps: int | None = None,
    device: torch.device | None = None,
) -> dict[str, torch.Tensor]:
    """Zeroed statistics for one layer (the value ``reset`` returns to)."""

    def zeros(*shape: int, dtype: torch.dtype = torch.int64) -> torch.Tensor:
        return torch.zeros(shape, dtype=dtype, device=device)

    state = {
        "count": zeros(),
        "sum": zeros(dtype=torch.float64),
        "sumsq": zeros(dtype=torch.float64),
        "min": torch.tensor(math.inf, dtype=torch.float64, device=device),
        "max": torch.tensor(-math.inf, dtype=torch.float64, device=device),
        "hist": zeros(spec.bins),
        "under": zeros(),
        "over": zeros(),
        "nan": zeros(),
        "posinf": zeros(),
        "neginf": zeros(),
        "window": zeros(len(WINDOW_PARTS)),
        "grad_calls": zeros(),
        "grad_norm_sum": zeros(dtype=torch.float64),
        "grad_norm_max": zeros(dtype=torch.float64),
        "grad_nonfinite": zeros(),
    }
    if time_steps is not None:
        state["step_count"] = zeros(time_steps)
        state["step_sum"] = zeros(time_steps, dtype=torch.float64)
        state["step_window"] = zeros(time_steps, len(WINDOW_PARTS))
    return state


def update(
    state: dict[str, torch.Tensor],
    x: torch.Tensor,
    *,
    left: torch.Tensor | float,
    right: torch.Tensor | float,
    spec: HistogramSpec,
    step: int | None = None,
) -> None:
    """Add potentials ``x`` (any shape) to ``state`` in place, without host syncs.

    ``left`` / ``right`` are the current window half-widths used for the
    in-window counts.
    """
    x = x.detach().reshape(-1)
    finite = torch.isfinite(x)
    clean = torch.where(finite, x, 0).to(torch.float64)
    count = finite.sum()
    total = clean.sum()
    state["count"] += count
    state["sum"] += total
    state["sumsq"] += clean.square().sum()
    state["min"] = torch.minimum(
        state["min"], torch.where(finite, clean, math.inf).min()
    )
    state["max"] = torch.maximum(
        state["max"], torch.where(finite, clean, -math.inf).max()
    )
    pos = ((clean - spec.lo) * (spec.bins / (spec.hi - spec.lo))).floor()
    pos = torch.where(finite, pos.clamp(-1, spec.bins), spec.bins + 1).long() + 1
    binned = torch.bincount(pos, minlength=spec.bins + 3)
    state["under"] += binned[0]
    state["hist"] += binned[1 : spec.bins + 1]
    state["over"] += binned[spec.bins + 1]
    state["nan"] += torch.isnan(x).sum()
    state["posinf"] += (x == math.inf).sum()
    state["neginf"] += (x == -math.inf).sum()
    below = x < 0
    inside_below = (below & (x >= -left)).sum()
    inside_above = (~below & (x <= right)).sum()
    outside_below = (x < -left).sum()
    outside_above = (x > right).sum()
    parts = torch.stack([outside_below, inside_below, inside_above, outside_above])
    state["window"] += parts
    if step is not None and "step_count" in state:
        state["step_count"][step] += count
        state["step_sum"][step] += total
        state["step_window"][step] += parts


def update_grad(state: dict[str, torch.Tensor], grad: torch.Tensor) -> None:
    """Add one backward call's gradient at the spike function (dL/dx) to ``state``."""
    g = grad.detach()
    finite = torch.isfinite(g)
    norm = torch.where(finite, g, 0).to(torch.float64).norm()
    state["grad_calls"] += 1
    state["grad_norm_sum"] += norm
    state["grad_norm_max"] = torch.maximum(state["grad_norm_max"], norm)
    state["grad_nonfinite"] += (~finite).sum()


def merged(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """One state equal to having seen all the data behind ``states``."""
    out = {k: v.clone() for k, v in states[0].items()}
    for other in states[1:]:
        for key, value in other.items():
            out[key] = _reduce(REDUCTIONS[key], out[key], value)
    return out


def _reduce(op: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if op == "sum":
        return a + b
    if op == "min":
        return torch.minimum(a, b)
    return torch.maximum(a, b)


_DIST_OPS = {"sum": "SUM", "min": "MIN", "max": "MAX"}


def synced(
    state: dict[str, torch.Tensor], group: object | None = None
) -> dict[str, torch.Tensor]:
    """A copy of ``state`` all-reduced over the ranks of ``group``.

    The local state is left untouched, so accumulation can go on afterwards.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return {k: v.clone() for k, v in state.items()}
    out = {}
    for key in sorted(state):
        value = state[key].clone()
        dist.all_reduce(
            value, op=getattr(dist.ReduceOp, _DIST_OPS[REDUCTIONS[key]]), group=group
        )
        out[key] = value
    return out


def histogram_quantile(
    state: dict[str, torch.Tensor], spec: HistogramSpec, q: float
) -> float:
    """Quantile ``q`` of the finite values, exact to within one bin width.

    Values below / above the histogram range count as ``lo`` / ``hi``.
    """
    counts = torch.cat(
        [state["under"].view(1), state["hist"], state["over"].view(1)]
    ).double()
    total = float(counts.sum())
    if total == 0:
        return math.nan
    target = q * total
    cum = torch.cumsum(counts, 0)
    i = int(torch.searchsorted(cum, torch.tensor(target, dtype=torch.float64)))
    i = min(i, counts.numel() - 1)
    if i == 0:
        return spec.lo
    if i == counts.numel() - 1:
        return spec.hi
    before = float(cum[i - 1])
    frac = (target - before) / float(counts[i]) if counts[i] > 0 else 0.0
    return spec.lo + (i - 1 + frac) * spec.width


def side_quantile(
    state: dict[str, torch.Tensor], spec: HistogramSpec, *, side: str, coverage: float
) -> tuple[float, bool]:
    """Distance from 0 covering at least ``coverage`` of the values on one side.

    The distance is a bin edge, at most one bin width beyond the exact quantile.
    ``side`` is ``"below"`` (x < 0) or ``"above"`` (x >= 0). Returns the distance
    and whether it was clipped at the histogram's range.
    """
    z = spec.zero_bin
    if side == "below":
        bins = state["hist"][:z].flip(0).double()
        tail = float(state["under"])
        limit = -spec.lo
    else:
        bins = state["hist"][z:].double()
        tail = float(state["over"])
        limit = spec.hi
    total = float(bins.sum()) + tail
    if total == 0:
        return math.nan, False
    target = coverage * total
    cum = torch.cumsum(bins, 0)
    if target > float(cum[-1]):
        return limit, True
    i = int(torch.searchsorted(cum, torch.tensor(target, dtype=torch.float64)))
    # The outer edge of the bin that reaches the target: interpolating inside it
    # would cut a point mass in two (all potentials at rest, x = -threshold, sit
    # on a bin edge), so the window would cover none of them.
    return (i + 1) * spec.width, False


def counts_in_window(
    state: dict[str, torch.Tensor], spec: HistogramSpec, *, left: float, right: float
) -> tuple[float, float]:
    """Approximate counts inside [-left, 0) and [0, right] from the histogram."""
    edges = spec.edges()
    lo_edges, hi_edges = edges[:-1], edges[1:]
    hist = state["hist"].double()

    def overlap(a: float, b: float) -> float:
        cover = torch.minimum(hi_edges, torch.tensor(b)) - torch.maximum(
            lo_edges, torch.tensor(a)
        )
        return float((cover.clamp(min=0) / spec.width * hist).sum())

    return overlap(-left, 0.0), overlap(0.0, right)


@dataclass(frozen=True)
class LayerSummary:
    """One layer's statistics in plain numbers (a row of ``summary()``)."""

    layer: str
    neuron: str
    surrogate: str
    count: int
    mean: float
    std: float
    min: float
    max: float
    quantiles: dict[str, float]
    nan: int
    inf: int
    share: dict[str, float]
    window_left: float
    window_right: float
    grad_norm_mean: float | None = None
    grad_norm_max: float | None = None
    step_count: list[int] | None = None
    step_mean: list[float] | None = None
    step_in_window: list[float] | None = None
    starved: float | None = None
    """Share of units that never entered the window (None: not tracked)."""

    @property
    def in_window(self) -> float:
        """Share of finite potentials inside the AdaLi window, both sides."""
        return self.share["inside_below"] + self.share["inside_above"]

    @property
    def density(self) -> float:
        """The authors' *computational density*: the share of potentials that
        get a non-zero surrogate gradient (``in_window``; released code,
        ``myutils/common.py``)."""
        return self.in_window

    def flat(self) -> dict[str, object]:
        """A flat dict for CSV / JSON rows."""
        row: dict[str, object] = {
            "layer": self.layer,
            "neuron": self.neuron,
            "surrogate": self.surrogate,
            "count": self.count,
            "mean": self.mean,
            "std": self.std,
            "min": self.min,
            "max": self.max,
            **{f"q{k}": v for k, v in self.quantiles.items()},
            "nan": self.nan,
            "inf": self.inf,
            **{f"share_{k}": v for k, v in self.share.items()},
            "in_window": self.in_window,
            "density": self.density,
            "window_left": self.window_left,
            "window_right": self.window_right,
        }
        if self.grad_norm_mean is not None:
            row["grad_norm_mean"] = self.grad_norm_mean
            row["grad_norm_max"] = self.grad_norm_max
        if self.step_count is not None:
            row["step_count"] = self.step_count
            row["step_mean"] = self.step_mean
            row["step_in_window"] = self.step_in_window
        if self.starved is not None:
            row["starved"] = self.starved
        return row


def summarize(
    state: dict[str, torch.Tensor],
    spec: HistogramSpec,
    *,
    layer: str,
    neuron: str,
    surrogate: str,
    window_left: float,
    window_right: float,
) -> LayerSummary:
    """Turn a layer's (synced) state into plain numbers."""
    s = {k: v.detach().cpu() for k, v in state.items()}
    n = int(s["count"])
    mean = float(s["sum"]) / n if n else math.nan
    var = max(float(s["sumsq"]) / n - mean * mean, 0.0) if n else math.nan
    total_window = float(s["window"].sum())
    share = {
        part: (float(s["window"][i]) / total_window if total_window else math.nan)
        for i, part in enumerate(WINDOW_PARTS)
    }
    steps = None
    if "step_count" in s:
        sc = s["step_count"].double()
        steps = (
            s["step_count"].tolist(),
            (s["step_sum"] / sc.clamp(min=1)).tolist(),
            (
                (s["step_window"][:, 1] + s["step_window"][:, 2]).double()
                / s["step_window"].sum(1).clamp(min=1)
            ).tolist(),
        )
    calls = int(s["grad_calls"])
    reached = s.get("reached")
    return LayerSummary(
        starved=None
        if reached is None or not reached.numel()
        else 1.0 - float(reached.double().mean()),
        grad_norm_mean=float(s["grad_norm_sum"]) / calls if calls else None,
        grad_norm_max=float(s["grad_norm_max"]) if calls else None,
        layer=layer,
        neuron=neuron,
        surrogate=surrogate,
        count=n,
        mean=mean,
        std=math.sqrt(var) if n else math.nan,
        min=float(s["min"]) if n else math.nan,
        max=float(s["max"]) if n else math.nan,
        quantiles={
            f"{int(q * 100):02d}": histogram_quantile(s, spec, q) for q in QUANTILES
        },
        nan=int(s["nan"]),
        inf=int(s["posinf"]) + int(s["neginf"]),
        share=share,
        window_left=window_left,
        window_right=window_right,
        step_count=steps[0] if steps else None,
        step_mean=steps[1] if steps else None,
        step_in_window=steps[2] if steps else None,
    )
