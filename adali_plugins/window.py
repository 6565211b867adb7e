"""The AdaLi window: hyperparameters, their validation, and the epoch schedule.

Everything here works on plain Python floats and knows nothing about tensors or
host libraries: it turns (parameters, training progress) into the four numbers the
surrogate maths reads, ``(left, right, h_lo, h_hi)``.

Each side of the window moves from its initial half-width ``w0`` (``left`` /
``right``) to a final half-width ``wmin`` along a *path*, and a schedule says how
far along that path training epoch ``k`` of ``E`` is.

From the authors' released code (``paran-ia/AdaLi``: ``myutils/handle_config.py``
for the laws, ``config.py`` for the widths ``Left = Right = [1.5, 0.3]``,
``train.py`` for when the update runs): the window is updated after each epoch
and the first update changes nothing, so epoch ``k`` (0-based) trains at index
``n = max(k, 1)``:

* ``"log"`` (their default): ``w = w0 * (wmin / w0) ** (ln n / ln E)``
* ``"linear"``: ``w = w0 + (wmin - w0) * (n - 1) / (E - 1)``
* ``"sqrt"``: ``w = w0 + (wmin - w0) * (sqrt(n) - 1) / sqrt(E - 1)``; it never
  quite reaches ``wmin``, as in their code
* ``"fixed"`` (their ``null``): ``w0`` throughout

Ours, with the lag-free index ``q = k / (E - 1)`` that reaches ``wmin`` in the
last epoch: ``"linear_lagfree"`` (this package's default before it followed the
released code), ``"cosine"``, ``"exp"`` (geometric) and ``"step"`` (four equal
plateaus), and any callable ``q -> factor`` (both sides become ``w0 * factor``).

*Progress* is the schedule's own coordinate in [0, 1]: ``set_epoch`` computes it
from the epoch with the laws above; ``set_progress`` sets it directly. For the
released schedules it is the fraction of the path covered (the exponent
``ln n / ln E`` for ``log``, measured geometrically; the linear fraction for
``linear`` and ``sqrt``); for ours it is ``q``.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Literal, NamedTuple

ScheduleName = Literal[
    "log", "linear", "sqrt", "fixed", "linear_lagfree", "cosine", "exp", "step"
]
KeepMode = Literal["area", "height"]
ScheduleFn = Callable[[float], float]
Schedule = ScheduleName | ScheduleFn

DEFAULT_FINAL_WIDTH = 0.3
"""Final half-width of each side when neither it nor ``p`` is given (released
``config.py``: ``Left = Right = [1.5, 0.3]``)."""

STEP_STAGES = 4
"""Number of equal plateaus of the ``"step"`` schedule (our choice)."""


def _released_index(epoch: float) -> float:
    """The released code's index: epochs 0 and 1 share the initial window."""
    return max(epoch, 1.0)


def _log_law(epoch: float, total: int) -> float:
    return 0.0 if total == 1 else math.log(_released_index(epoch)) / math.log(total)


def _linear_law(epoch: float, total: int) -> float:
    return 0.0 if total == 1 else (_released_index(epoch) - 1.0) / (total - 1)


def _sqrt_law(epoch: float, total: int) -> float:
    if total == 1:
        return 0.0
    return (math.sqrt(_released_index(epoch)) - 1.0) / math.sqrt(total - 1)


def _fixed_law(epoch: float, total: int) -> float:
    return 0.0


def lagfree_progress(epoch: float, total: int) -> float:
    """Our index ``q = epoch / (E - 1)``, clipped to 1; 0 when ``E == 1``."""
    return 0.0 if total == 1 else min(epoch / (total - 1), 1.0)


class ScheduleRule(NamedTuple):
    """A named schedule: epoch -> progress, progress -> path fraction, path kind."""

    law: Callable[[float, int], float]
    fraction: Callable[[float], float]
    geometric: bool
    source: str


def _same(q: float) -> float:
    return q


def _none(q: float) -> float:
    return 0.0


def _cosine(q: float) -> float:
    return 0.5 * (1.0 - math.cos(math.pi * q))


def _step(q: float) -> float:
    return min(math.floor(q * STEP_STAGES), STEP_STAGES) / STEP_STAGES


_RELEASED = "released code, myutils/handle_config.py"
_OURS = "ours (lag-free index q = k/(E-1))"

SCHEDULES: dict[str, ScheduleRule] = {
    "log": ScheduleRule(_log_law, _same, True, _RELEASED),
    "linear": ScheduleRule(_linear_law, _same, False, _RELEASED),
    "sqrt": ScheduleRule(_sqrt_law, _same, False, _RELEASED),
    "fixed": ScheduleRule(_fixed_law, _none, False, _RELEASED),
    "linear_lagfree": ScheduleRule(lagfree_progress, _same, False, _OURS),
    "cosine": ScheduleRule(lagfree_progress, _cosine, False, _OURS),
    "exp": ScheduleRule(lagfree_progress, _same, True, _OURS),
    "step": ScheduleRule(lagfree_progress, _step, False, _OURS),
}
"""Named width schedules. Append only: ``SCHEDULE_CODES`` numbers them in order."""

SCHEDULE_CODES: tuple[str, ...] = tuple(SCHEDULES)
"""Schedule names by the integer code stored in a ``state_dict`` (-1: callable)."""

FLOAT_RANGES: dict[str, tuple[float, float]] = {
    "float32": (1.1754943508222875e-38, 3.4028234663852886e38),
    "bfloat16": (1.1754943508222875e-38, 3.3895313892515355e38),
    "float16": (6.103515625e-05, 65504.0),
}
"""Smallest normal and largest finite number of each float type the surrogate
may run in. Every window is checked in float32 (the type inputs have unless the
model is cast); a module cast to float16 / bfloat16 checks that type too."""

KEEP_MODES: dict[str, str] = {
    "area": "alpha and beta fixed: heights grow as the window narrows (released)",
    "height": "heights fixed at their initial values: the area shrinks (ours)",
}


def check_finite(name: str, value: object) -> float:
    """Return ``value`` as a float, or raise (naming ``name``) unless a finite real.

    Strings and booleans are refused: ``alpha="0.7"`` or ``alpha=True`` is almost
    always a slip that would otherwise train silently with a surprising value.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{name} must be a real number (int or float), got "
            f"{type(value).__name__} {value!r}"
        )
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
    """Accept a schedule name from ``SCHEDULES`` or a callable ``q -> factor``."""
    if callable(schedule):
        return schedule  # type: ignore[return-value]
    if isinstance(schedule, str) and schedule in SCHEDULES:
        return schedule  # type: ignore[return-value]
    raise ValueError(
        f"schedule must be one of {list(SCHEDULES)} or a callable q -> factor, "
        f"got {schedule!r}"
    )


def check_keep(keep: object) -> KeepMode:
    """Accept a keep mode from ``KEEP_MODES``."""
    if isinstance(keep, str) and keep in KEEP_MODES:
        return keep  # type: ignore[return-value]
    raise ValueError(f"keep must be one of {sorted(KEEP_MODES)}, got {keep!r}")


def check_window_dtype(window: Window, dtype: str, progress: float) -> None:
    """Raise ValueError unless ``window`` survives the cast to ``dtype``: each
    half-width at least its smallest normal number (it stays a non-zero edge),
    each height at most its largest number (no inf, so no 0 * inf = NaN)."""
    tiny, big = FLOAT_RANGES[dtype]
    for name, height in (("alpha / left", window.h_lo), ("beta / right", window.h_hi)):
        if height > big:
            raise ValueError(
                f"the gradient height {name} at progress {progress:g} is "
                f"{height:g}, above {dtype}'s largest number {big:.8g}; use a "
                f"smaller mass, a wider window or max_height <= {big:.8g}"
            )
    for name, width in (("left", window.left), ("right", window.right)):
        if width < tiny:
            raise ValueError(
                f"the {name} half-width at progress {progress:g} is {width:g}, "
                f"below {dtype}'s smallest normal number {tiny:.8g}; use a wider "
                f"window ({name} and {name}_final >= {tiny:.8g})"
            )


def check_count(name: str, value: object) -> int:
    """Return an integer count as an int: Python, numpy or one-element torch
    integers are accepted; booleans and non-integers are refused (TypeError)."""
    dtype = str(getattr(value, "dtype", ""))
    if isinstance(value, bool) or "bool" in dtype:
        raise TypeError(f"{name} must be an integer, got a boolean {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(
            f"{name} must be an integer (int, numpy or torch integer), got "
            f"{type(value).__name__} {value!r}"
        ) from None


def check_epoch(epoch: object, total_epochs: object) -> tuple[float, int]:
    """Validate a 0-based, possibly fractional ``epoch`` of ``total_epochs``.

    ``epoch`` may run up to ``total_epochs`` so that per-iteration progress
    (``k + i / N``) is valid through the whole last epoch. Returns both as
    Python numbers (numpy and torch integer scalars are accepted).
    """
    total_epochs = check_count("total_epochs", total_epochs)
    if total_epochs < 1:
        raise ValueError(f"total_epochs must be >= 1, got {total_epochs}")
    if not isinstance(epoch, bool) and "bool" not in str(getattr(epoch, "dtype", "")):
        try:
            epoch = operator.index(epoch)  # type: ignore[arg-type]
        except TypeError:
            pass
    value = check_finite("epoch", epoch)
    if not 0.0 <= value <= total_epochs:
        raise ValueError(
            f"epoch must be in [0, total_epochs] = [0, {total_epochs}] (0-based, "
            f"fractional for per-iteration progress), got {value}"
        )
    return value, total_epochs


def progress_from_epoch(
    epoch: float, total_epochs: int, schedule: Schedule = "log"
) -> float:
    """The schedule's progress in [0, 1] at (0-based) ``epoch`` of ``total_epochs``.

    Named schedules use their own law (see the module docstring); a callable
    schedule receives the lag-free ``q = epoch / (E - 1)``.
    """
    epoch, total = check_epoch(epoch, total_epochs)
    if isinstance(schedule, str):
        return min(max(SCHEDULES[schedule].law(epoch, total), 0.0), 1.0)
    return lagfree_progress(epoch, total)


def _path(start: float, end: float, t: float, geometric: bool) -> float:
    if geometric:
        return start * (end / start) ** t
    return start + (end - start) * t


@dataclass(frozen=True)
class AdaLiParams:
    """Validated AdaLi hyperparameters; the defaults are the released code's.

    ``alpha`` / ``beta`` are the gradient mass below / at-or-above threshold
    (not snnTorch's membrane decay ``beta``); ``left`` / ``right`` the initial
    half-widths; ``left_final`` / ``right_final`` the final half-widths
    (absolute, as in the released code); ``p`` a final width *ratio* (ours).
    Which final width wins, per side: the absolute one if given, else
    ``p * initial`` if ``p`` is given, else ``DEFAULT_FINAL_WIDTH`` (0.3).
    ``max_height`` is an optional cap on both heights (ours). ``schedule``
    is how the widths move: a name in :data:`SCHEDULES` or a callable
    ``q -> factor`` (ours); ``keep`` what stays fixed as the window
    narrows: ``"area"`` (released; the heights grow) or ``"height"``
    (ours; the area shrinks).
    """

    alpha: float = 0.5
    beta: float = 0.5
    left: float = 1.5
    right: float = 1.5
    left_final: float | None = None
    right_final: float | None = None
    p: float | None = None
    schedule: Schedule = "log"
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
        set_ = object.__setattr__
        set_(self, "alpha", alpha)
        set_(self, "beta", beta)
        set_(self, "left", check_positive("left", self.left))
        set_(self, "right", check_positive("right", self.right))
        for name in ("left_final", "right_final", "max_height"):
            if getattr(self, name) is not None:
                set_(self, name, check_positive(name, getattr(self, name)))
        if self.p is not None:
            set_(self, "p", check_p(self.p))
        set_(self, "schedule", check_schedule(self.schedule))
        set_(self, "keep", check_keep(self.keep))
        self._check_heights()

    @property
    def final_widths(self) -> tuple[float, float]:
        """The resolved final half-widths ``(left, right)`` (see the class doc)."""
        return self._final(self.left, self.left_final), self._final(
            self.right, self.right_final
        )

    def _final(self, initial: float, final: float | None) -> float:
        if final is not None:
            return final
        return initial * self.p if self.p is not None else DEFAULT_FINAL_WIDTH

    def _check_heights(self) -> None:
        """Refuse parameters whose heights overflow anywhere on a named path,
        in float64 and in float32, the type the surrogate runs in (widths
        move monotonically between the two ends, so the ends suffice)."""
        lf, rf = self.final_widths
        for name, mass, widths in (
            ("alpha / left", self.alpha, (self.left, lf)),
            ("beta / right", self.beta, (self.right, rf)),
        ):
            for width in widths:
                if not math.isfinite(mass / width):
                    raise ValueError(
                        f"{name} (a gradient height) must be finite, got "
                        f"{mass} / {width}; use a smaller mass or a wider window"
                    )
        tiny, big = FLOAT_RANGES["float32"]
        ends = {"left": self.left, "left_final": lf}
        ends.update(right=self.right, right_final=rf)
        for mass_name, mass, side in (
            ("alpha", self.alpha, "left"),
            ("beta", self.beta, "right"),
        ):
            used = (side,) if self.keep == "height" else (side, f"{side}_final")
            for name in used:
                height = mass / ends[name]
                if self.max_height is not None:
                    height = min(height, self.max_height)
                if height > big:
                    raise ValueError(
                        f"{mass_name} / {name} (a gradient height) must be <= "
                        f"{big:.8g} to stay finite in float32, got {mass:g} / "
                        f"{ends[name]:g} = {height:g}; use a smaller mass, a wider "
                        "window or max_height"
                    )
        for name, width in ends.items():
            if width < tiny:
                raise ValueError(
                    f"{name} must be >= {tiny:.8g} (the smallest normal float32, "
                    f"so the window edge survives the float32 cast), got {width:g}"
                )

    def window(self, progress: float) -> Window:
        """The window and heights these parameters give at ``progress``."""
        lf, rf = self.final_widths
        if isinstance(self.schedule, str):
            rule = SCHEDULES[self.schedule]
            t = rule.fraction(progress)
            left = _path(self.left, lf, t, rule.geometric)
            right = _path(self.right, rf, t, rule.geometric)
        else:
            f = self.schedule(progress)
            try:
                f = check_positive("schedule(q)", f)
            except (TypeError, ValueError) as err:
                raise ValueError(
                    f"schedule returned an invalid width factor at q={progress}: {err}"
                ) from None
            left, right = self.left * f, self.right * f
        if self.keep == "area":
            lo, hi = self.alpha / left, self.beta / right
        else:
            lo, hi = self.alpha / self.left, self.beta / self.right
        if self.max_height is not None:
            lo, hi = min(lo, self.max_height), min(hi, self.max_height)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(
                f"the gradient heights at progress {progress} are not finite "
                f"({lo}, {hi}); use a smaller mass or a wider window"
            )
        window = Window(left=left, right=right, h_lo=lo, h_hi=hi)
        check_window_dtype(window, "float32", progress)
        return window

    def progress_at(self, epoch: float, total_epochs: int) -> float:
        """This schedule's progress at (0-based) ``epoch`` of ``total_epochs``."""
        return progress_from_epoch(epoch, total_epochs, self.schedule)

    def with_changes(self, **changes: object) -> AdaLiParams:
        """A validated copy with some fields replaced.

        Passing ``p`` without final widths clears absolute final widths that
        were not passed, so the new ratio takes effect.
        """
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise TypeError(
                f"unknown AdaLi parameter(s) {sorted(unknown)}; accepted: "
                f"{[f.name for f in fields(self)]}"
            )
        if changes.get("p") is not None:
            changes.setdefault("left_final", None)
            changes.setdefault("right_final", None)
        return replace(self, **changes)  # type: ignore[arg-type]


DEFAULTS = AdaLiParams()
"""The one definition of AdaLi's defaults: every entry point reads it."""


@dataclass(frozen=True)
class Window:
    """The window at one point of training: support [-left, right], two heights.

    ``h_lo`` is the derivative on ``[-left, 0)`` and ``h_hi`` on
    ``[0, right]``; ``left`` and ``right`` are the half-widths now.
    """

    left: float
    right: float
    h_lo: float
    h_hi: float

    @property
    def area(self) -> float:
        """Integral of the surrogate derivative over the window."""
        return self.h_lo * self.left + self.h_hi * self.right


def window_at(progress: float, **params: object) -> Window:
    """The window at ``progress`` for the given parameters (defaults elsewhere)."""
    return AdaLiParams(**params).window(progress)  # type: ignore[arg-type]
