"""Set AdaLi's per-layer hyperparameters from membrane-potential statistics.

The paper's abstract says AdaLi's extra hyperparameters "can be either manually
fine-tuned or automatically determined based on the distribution of spiking
neuron membrane potentials". The rules below are *our reading* of that sentence:

* ``mode="mass"``: split the gradient mass like the potentials inside the
  current window: ``alpha = area * n_below / (n_below + n_above)``,
  ``beta = area - alpha`` (clamped to ``[min_mass * area, area - min_mass * area]``),
  where ``area = alpha + beta`` as configured. A layer with no potentials inside
  the window keeps its masses, with a warning.
* ``mode="window"``: base half-widths ``left`` (L0) and ``right`` (R0) become the
  ``coverage`` quantiles of ``|x|`` on each side of the threshold, so that share
  of that side's potentials falls inside the base window; the schedule still
  narrows it by ``f(q)`` afterwards. A side with no potentials (a layer that
  never reaches threshold) keeps its half-width, with a warning.
* ``mode="both"``: ``window`` first, then ``mass`` with counts inside the new
  current window (taken from the histogram).

The default is ``"both"``: in every comparison we ran (bundled digits on both
hosts, a Fashion-MNIST subset on SpikingJelly) ``"mass"`` alone left the default
window in place and the network near chance, while ``"both"`` trained (see the
README's ablation). ``"window"`` alone beat ``"both"`` on the digits and on
SpikingJelly's Fashion-MNIST run but lost on snnTorch's, so it is not the default.

Nothing changes unless every requested layer can be calibrated.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Literal

from torch import nn

from .monitor import MembraneMonitor
from .state import AdaLiState
from .stats import counts_in_window, side_quantile
from .window import check_finite

logger = logging.getLogger(__name__)

CalibrationMode = Literal["mass", "window", "both"]
MODES: dict[str, str] = {
    "mass": "alpha/beta from the share of in-window potentials below/above threshold",
    "window": "left/right from the coverage quantiles of |x| on each side",
    "both": "window first, then mass",
}


class CalibrationError(ValueError):
    """Some layers cannot be calibrated; nothing was changed.

    Args:
        problems: one line per layer: its module path and why.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"cannot calibrate; nothing was changed:\n{lines}")


@dataclass(frozen=True)
class CalibrationResult:
    """The values chosen for one layer, and the evidence behind them.

    Attributes:
        layer: Module path of the calibrated layer.
        mode: The rule applied: ``"mass"``, ``"window"`` or ``"both"``.
        alpha: Gradient mass below the threshold, as now set.
        beta: Gradient mass at or above the threshold, as now set.
        left: Initial half-width below the threshold, as now set.
        right: Initial half-width above the threshold, as now set.
        previous: The four values before calibration, by name.
        n_below: Recorded potentials inside the new window below the
            threshold (the evidence for ``alpha``).
        n_above: Recorded potentials inside the new window at or above
            the threshold (the evidence for ``beta``).
        clipped: The coverage quantile reached the monitor's histogram
            range, so a width may be too small: widen ``hist_range``.
    """

    layer: str
    mode: str
    alpha: float
    beta: float
    left: float
    right: float
    previous: dict[str, float]
    n_below: float
    n_above: float
    clipped: bool

    @property
    def silent(self) -> bool:
        """No recorded potential inside the new window: the layer gets no gradient."""
        return self.n_below + self.n_above == 0

    def as_dict(self) -> dict[str, object]:
        return {
            "layer": self.layer,
            "mode": self.mode,
            "alpha": self.alpha,
            "beta": self.beta,
            "left": self.left,
            "right": self.right,
            "n_below": self.n_below,
            "n_above": self.n_above,
            "clipped": self.clipped,
            "silent": self.silent,
            **{f"previous_{k}": v for k, v in self.previous.items()},
        }


def _check_options(
    mode: object, coverage: object, min_mass: object
) -> tuple[float, float]:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {sorted(MODES)}, got {mode!r}")
    cov = check_finite("coverage", coverage)
    if not 0.0 < cov < 1.0:
        raise ValueError(f"coverage must be in (0, 1), got {cov}")
    eps = check_finite("min_mass", min_mass)
    if not 0.0 <= eps < 0.5:
        raise ValueError(f"min_mass must be in [0, 0.5), got {eps}")
    return cov, eps


def calibrate(
    model: nn.Module,
    monitor: MembraneMonitor,
    *,
    mode: CalibrationMode = "both",
    coverage: float = 0.9,
    min_mass: float = 0.01,
    layers: list[str] | None = None,
) -> dict[str, CalibrationResult]:
    """Set each monitored layer's AdaLi parameters from ``monitor``'s statistics.

    Statistics are all-reduced over ranks first, so every rank of a distributed
    run chooses the same values. Returns, and logs, the values chosen per layer.

    Args:
        model: the model ``monitor`` watched.
        monitor: a :class:`MembraneMonitor` that has seen some batches.
        mode: ``"mass"``, ``"window"`` or ``"both"`` (see module docstring).
        coverage: target share of each side's potentials inside the base window.
        min_mass: smallest share of the area either side keeps, in [0, 0.5).
        layers: module paths to calibrate; all monitored layers by default.

    Raises:
        CalibrationError: a layer has no data, no AdaLi surrogate, or shares
            its AdaLi instance with another layer; nothing was changed.
        ValueError: an option is out of range.
    """
    cov, eps = _check_options(mode, coverage, min_mass)
    if monitor.model is not model:
        raise ValueError("monitor was created for a different model")
    paths = monitor.layers if layers is None else list(layers)
    problems, plans = [], []
    owners: dict[int, str] = {}
    for path in paths:
        try:
            surrogate = monitor.surrogate_of(path)
        except KeyError as err:
            problems.append(str(err.args[0]))
            continue
        if not isinstance(surrogate, AdaLiState):
            problems.append(
                f"{path}: uses {type(surrogate).__name__}, not AdaLi; call "
                "adali_plugins.attach(model) first"
            )
            continue
        if id(surrogate) in owners:
            problems.append(
                f"{path}: shares its AdaLi instance with {owners[id(surrogate)]}; call "
                "adali_plugins.attach(model) to give each layer its own"
            )
            continue
        owners[id(surrogate)] = path
        state = monitor.state(path)
        if int(state["count"]) == 0:
            problems.append(f"{path}: no finite membrane potentials recorded")
            continue
        plans.append(
            (surrogate, _plan(path, surrogate, state, monitor, mode, cov, eps))
        )
    if problems:
        raise CalibrationError(problems)
    results = {}
    for surrogate, plan in plans:
        surrogate.set_params(
            alpha=plan.alpha, beta=plan.beta, left=plan.left, right=plan.right
        )
        results[plan.layer] = plan
        if plan.silent:
            logger.warning(
                "%s stays silent after calibration: none of its recorded potentials "
                "is inside the window, so it gets no surrogate gradient",
                plan.layer,
            )
        logger.info(
            "calibrate %s %s: alpha %.4g->%.4g beta %.4g->%.4g "
            "left %.4g->%.4g right %.4g->%.4g",
            plan.mode,
            plan.layer,
            plan.previous["alpha"],
            plan.alpha,
            plan.previous["beta"],
            plan.beta,
            plan.previous["left"],
            plan.left,
            plan.previous["right"],
            plan.right,
        )
    return results


def _plan(
    path: str,
    surrogate: AdaLiState,
    state: dict,
    monitor: MembraneMonitor,
    mode: str,
    cov: float,
    eps: float,
) -> CalibrationResult:
    p = surrogate.params
    area = p.alpha + p.beta
    left, right, alpha, beta = p.left, p.right, p.alpha, p.beta
    clipped = False
    progress = float(surrogate.progress)  # type: ignore[attr-defined]
    n_below, n_above = float(state["window"][1]), float(state["window"][2])
    if mode in ("window", "both"):
        new_left, clip_lo = side_quantile(
            state, monitor.spec, side="below", coverage=cov
        )
        new_right, clip_hi = side_quantile(
            state, monitor.spec, side="above", coverage=cov
        )
        for side, value in (("below", new_left), ("at or above", new_right)):
            if math.isnan(value):
                logger.warning(
                    "%s: no potentials %s threshold; that half-width is kept",
                    path,
                    side,
                )
        if not math.isnan(new_left):
            left = max(new_left, monitor.spec.width)
        if not math.isnan(new_right):
            right = max(new_right, monitor.spec.width)
        clipped = clip_lo or clip_hi
        if clipped:
            logger.warning(
                "%s: coverage %.3g reaches the histogram range %s; widen hist_range",
                path,
                cov,
                (monitor.spec.lo, monitor.spec.hi),
            )
        now = p.with_changes(left=left, right=right).window(progress)
        n_below, n_above = counts_in_window(
            state, monitor.spec, left=now.left, right=now.right
        )
    if mode in ("mass", "both"):
        inside = n_below + n_above
        if inside > 0:
            alpha = min(max(area * n_below / inside, eps * area), area - eps * area)
            beta = area - alpha
        else:
            logger.warning(
                "%s: no potentials inside the window, so alpha and beta are kept; "
                "use mode='both' to move the window to the potentials first",
                path,
            )
    return CalibrationResult(
        layer=path,
        mode=mode,
        alpha=alpha,
        beta=beta,
        left=left,
        right=right,
        previous={"alpha": p.alpha, "beta": p.beta, "left": p.left, "right": p.right},
        n_below=n_below,
        n_above=n_above,
        clipped=clipped,
    )
