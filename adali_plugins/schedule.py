"""AdaLi's hyperparameters, their validation, and the epoch schedule of the window.

Everything here works on plain Python floats and knows nothing about tensors or
host libraries: it turns (parameters, training progress) into the four numbers the
surrogate maths reads, ``(left, right, h_lo, h_hi)``.

The window ``[-left, right]`` (in x = u - threshold) narrows as training
progresses: ``left = left0 * f(q)``, ``right = right0 * f(q)`` with
``f(0) = 1`` and ``f(1) = p``. The paper's abstract says the gradient update
boundaries are adjusted dynamically over epochs; the shape of ``f`` and both
``keep`` modes are *our reading*, not the paper's published curve.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

ScheduleName = Literal["linear", "cosine", "exp", "step"]
KeepMode = Literal["area", "height"]
ScheduleFn = Callable[[float], float]
Schedule = ScheduleName | ScheduleFn

STEP_STAGES = 4
"""Number of equal plateaus of the ``"step"`` schedule (our choice)."""


def _linear(q: float, p: float) -> float:
    return 1.0 - (1.0 - p) * q


def _cosine(q: float, p: float) -> float:
    return p + (1.0 - p) * 0.5 * (1.0 + math.cos(math.pi * q))


def _exp(q: float, p: float) -> float:
    return p**q


def _step(q: float, p: float) -> float:
    stage = min(math.floor(q * STEP_STAGES), STEP_STAGES)
    return 1.0 - (1.0 - p) * stage / STEP_STAGES


SCHEDULES: dict[str, Callable[[float, float], float]] = {
    "linear": _linear,
    "cosine": _cosine,
    "exp": _exp,
    "step": _step,
}
"""Named width schedules ``(q, p) -> f``; each has f(0) = 1 and f(1) = p."""

KEEP_MODES: dict[str, str] = {
    "area": "alpha and beta fixed: heights grow by 1/f as the window narrows",
    "height": "heights fixed at their epoch-0 values: the area shrinks by f",
}


def check_finite(name: str, value: object) -> float:
    """Return ``value`` as a float, or raise (naming ``name``) unless finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            value = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} must be a real number, got {type(value).__name__}"
            ) from None
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def check_positive(name: str, value: object) -> float:
    """Return ``value`` as a float, or raise ValueError unless finite and > 0."""
    value = check_finite(name, value)
    if value <= 0.0:
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return value


def check_mass(name: str, value: object) -> float:
    """Return a gradient mass as a float, or raise ValueError unless finite, >= 0."""
    value = check_finite(name, value)
    if value < 0.0:
        raise ValueError(f"{name} (gradient mass) must be finite and >= 0, got {value}")
    return value


def check_p(value: object) -> float:
    """Return the final width ratio, or raise ValueError unless in (0, 1]."""
    value = check_finite("p", value)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"p (final width ratio) must be in (0, 1], got {value}")
    return value


def check_progress(value: object) -> float:
    """Return training progress q, or raise ValueError unless in [0, 1]."""
    value = check_finite("progress", value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"progress q must be in [0, 1], got {value}")
    return value


def check_schedule(schedule: object) -> Schedule:
    """Accept a schedule name from ``SCHEDULES`` or a callable ``q -> f``."""
    if callable(schedule):
        return schedule  # type: ignore[return-value]
    if isinstance(schedule, str) and schedule in SCHEDULES:
        return schedule  # type: ignore[return-value]
    raise ValueError(
        f"schedule must be one of {sorted(SCHEDULES)} or a callable q -> factor, "
        f"got {schedule!r}"
    )


def check_keep(keep: object) -> KeepMode:
    """Accept a keep mode from ``KEEP_MODES``."""
    if isinstance(keep, str) and keep in KEEP_MODES:
        return keep  # type: ignore[return-value]
    raise ValueError(f"keep must be one of {sorted(KEEP_MODES)}, got {keep!r}")


def progress_from_epoch(epoch: float, total_epochs: int) -> float:
    """Progress q = epoch / (total_epochs - 1); 0 when training has one epoch.

    ``epoch`` is 0-based and may be fractional (per-iteration progress).
    """
    if isinstance(total_epochs, bool) or not isinstance(total_epochs, int):
        raise TypeError(
            f"total_epochs must be an int, got {type(total_epochs).__name__}"
        )
    if total_epochs < 1:
        raise ValueError(f"total_epochs must be >= 1, got {total_epochs}")
    epoch = check_finite("epoch", epoch)
    last = total_epochs - 1
    if not 0.0 <= epoch <= last:
        raise ValueError(
            f"epoch must be in [0, total_epochs - 1] = [0, {last}] (0-based), "
            f"got {epoch}"
        )
    return 0.0 if last == 0 else epoch / last


def width_factor(q: float, p: float, schedule: Schedule) -> float:
    """The schedule's width factor f(q), validated to be finite and > 0."""
    fn = SCHEDULES[schedule] if isinstance(schedule, str) else None
    f = fn(q, p) if fn is not None else schedule(q)  # type: ignore[operator]
    try:
        return check_positive("schedule(q)", f)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"schedule returned an invalid width factor at q={q}: {err}"
        ) from None


@dataclass(frozen=True)
class AdaLiParams:
    """Validated AdaLi hyperparameters.

    ``alpha`` / ``beta`` are the gradient mass below / at-or-above threshold
    (not snnTorch's membrane decay ``beta``); ``left`` / ``right`` the initial
    half-widths L0 / R0 of the window; ``p`` the final width ratio;
    ``max_height`` an optional cap on both heights (with ``keep="area"`` they grow
    by 1/f as the window narrows, 5x by the last epoch with the defaults).
    Defaults come from a public third-party re-implementation, not the paper.
    """

    alpha: float = 0.5
    beta: float = 0.5
    left: float = 0.5
    right: float = 1.5
    p: float = 0.2
    schedule: Schedule = "linear"
    keep: KeepMode = "area"
    max_height: float | None = None

    def __post_init__(self) -> None:
        alpha = check_mass("alpha", self.alpha)
        beta = check_mass("beta", self.beta)
        if alpha + beta <= 0.0:
            raise ValueError(
                "alpha + beta (total gradient mass) must be > 0, got "
                f"alpha={alpha}, beta={beta}"
            )
        object.__setattr__(self, "alpha", alpha)
        object.__setattr__(self, "beta", beta)
        object.__setattr__(self, "left", check_positive("left", self.left))
        object.__setattr__(self, "right", check_positive("right", self.right))
        object.__setattr__(self, "p", check_p(self.p))
        object.__setattr__(self, "schedule", check_schedule(self.schedule))
        object.__setattr__(self, "keep", check_keep(self.keep))
        if self.max_height is not None:
            cap = check_positive("max_height", self.max_height)
            object.__setattr__(self, "max_height", cap)

    def window(self, q: float) -> Window:
        """The window and heights these parameters give at progress ``q``."""
        return window_at(
            q,
            alpha=self.alpha,
            beta=self.beta,
            left=self.left,
            right=self.right,
            p=self.p,
            schedule=self.schedule,
            keep=self.keep,
            max_height=self.max_height,
        )

    def with_changes(self, **changes: object) -> AdaLiParams:
        """A validated copy with some fields replaced."""
        unknown = set(changes) - set(self.__dataclass_fields__)
        if unknown:
            raise TypeError(
                f"unknown AdaLi parameter(s) {sorted(unknown)}; accepted: "
                f"{sorted(self.__dataclass_fields__)}"
            )
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Window:
    """The window at one point of training: support [-left, right], two heights."""

    left: float
    right: float
    h_lo: float
    h_hi: float

    @property
    def area(self) -> float:
        """Integral of the surrogate derivative over the window."""
        return self.h_lo * self.left + self.h_hi * self.right


def window_at(
    q: float,
    *,
    alpha: float,
    beta: float,
    left: float,
    right: float,
    p: float,
    schedule: Schedule,
    keep: KeepMode,
    max_height: float | None = None,
) -> Window:
    """The window and heights at progress ``q`` (SPEC §1), heights capped."""
    f = width_factor(q, p, schedule)
    if keep == "area":
        lo, hi = alpha / (left * f), beta / (right * f)
    else:
        lo, hi = alpha / left, beta / right
    if max_height is not None:
        lo, hi = min(lo, max_height), min(hi, max_height)
    return Window(left=left * f, right=right * f, h_lo=lo, h_hi=hi)
