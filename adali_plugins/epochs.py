"""Moving the AdaLi window over training: ``set_epoch``, ``set_progress`` and
``AdaLiScheduler``, which does it like a torch LR scheduler.

Progress is computed in closed form from a counter, never accumulated, so a
resumed run lands on exactly the same window:

* per epoch (default): ``step()`` once at the end of each epoch; every layer
  moves to the next epoch by its own schedule's law (``set_epoch``);
* per iteration (``steps_per_epoch=N``): ``step()`` after each batch; the
  epoch is the fraction ``iteration / N``.

``state_dict()`` holds only numbers (no callables), like torch's schedulers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from . import starvation
from .attach import NoAdaLiError, adali_modules
from .window import check_count, check_epoch, check_progress


def set_epoch(
    model: nn.Module,
    epoch: float,
    total_epochs: int,
    *,
    strict: bool = True,
    check_starved: bool | None = None,
) -> int:
    """Move every AdaLi surrogate in ``model`` to ``epoch`` (0-based) of training.

    Each layer applies its own schedule's law (the released ``log`` by default:
    epochs 0 and 1 share the initial window). ``epoch`` may be fractional for
    per-iteration progress. Every layer's new window is computed before any
    layer moves, so an error changes nothing. At a whole epoch it first checks
    for starved units (see :mod:`adali_plugins.starvation`: one
    ``StarvedUnitsWarning`` per AdaLi layer whose units got no surrogate
    gradient since the last check); ``check_starved`` True / False forces
    the check or skips it. Returns the number of layers
    moved: with ``strict=False`` a model without AdaLi (a built-in baseline in
    the same training loop) returns 0 instead of raising.

    Raises:
        NoAdaLiError: the model holds no AdaLi surrogate and ``strict=True``.
        ValueError: ``epoch`` is outside [0, total_epochs].
    """
    epoch, total_epochs = check_epoch(epoch, total_epochs)
    if check_starved or (check_starved is None and float(epoch).is_integer()):
        starvation.end_epoch(model, epoch=epoch)
    return _move(model, lambda m: m.progress_at(epoch, total_epochs), strict=strict)


def set_progress(model: nn.Module, q: float, *, strict: bool = True) -> int:
    """Move every AdaLi surrogate in ``model`` to progress ``q`` in [0, 1].

    ``q`` is each schedule's own coordinate (see ``adali_plugins.window``).
    All-or-nothing, and returns the number of layers moved, like ``set_epoch``.
    With ``strict=False`` a model without AdaLi is a no-op (returns 0)
    instead of raising :class:`NoAdaLiError`.
    """
    check_progress(q)
    return _move(model, lambda m: q, strict=strict)


def _move(
    model: nn.Module, progress_of: Callable[[Any], float], *, strict: bool
) -> int:
    found = adali_modules(model)
    if not found:
        if not strict:
            return 0
        raise NoAdaLiError(
            f"{type(model).__name__} holds no AdaLi surrogate; pass "
            "spike_grad=adali() / surrogate_function=AdaLi(), call attach(model), "
            "or pass strict=False to make this a no-op for models without AdaLi"
        )
    plans = []
    for path, module in found:
        q = progress_of(module)
        try:
            plans.append((module, module.plan_progress(q), q))
        except ValueError as err:
            raise ValueError(f"{path}: {err}; no layer was moved") from None
    for module, params, q in plans:
        module._commit(params, q)
    return len(plans)


class AdaLiScheduler:
    """Schedules the AdaLi window of every AdaLi surrogate in ``model``.

    >>> sched = AdaLiScheduler(model, total_epochs=10)   # doctest: +SKIP
    >>> for epoch in range(10):                          # doctest: +SKIP
    ...     train_one_epoch(model)
    ...     sched.step()

    Args:
        model: a model holding AdaLi surrogates (``adali()`` / ``AdaLi()`` /
            ``attach``).
        total_epochs: number of training epochs E (>= 1).
        steps_per_epoch: batches per epoch for per-iteration progress; None for
            per-epoch steps.
        last_epoch: the counter to start from (-1 starts fresh, like torch).
        strict: False makes ``step()`` a no-op on a model without AdaLi, so one
            training loop serves AdaLi and built-in baselines alike.
    """

    def __init__(
        self,
        model: nn.Module,
        total_epochs: int,
        *,
        steps_per_epoch: int | None = None,
        last_epoch: int = -1,
        strict: bool = True,
    ) -> None:
        total_epochs = check_epoch(0, total_epochs)[1]
        steps_per_epoch = _check_steps(steps_per_epoch)
        self.model = model
        self.total_epochs = total_epochs
        self.steps_per_epoch = steps_per_epoch
        self.last_epoch = max(check_count("last_epoch", last_epoch), -1)
        self.strict = strict
        self.step()

    @property
    def epoch(self) -> float:
        """Current (fractional, 0-based) epoch, clipped to the last epoch."""
        n = self.steps_per_epoch or 1
        return min(self.last_epoch / n, float(self.total_epochs - 1))

    def step(self) -> None:
        """Advance one epoch (or one iteration with ``steps_per_epoch``)."""
        self.last_epoch += 1
        try:
            self._apply()
        except Exception:
            self.last_epoch -= 1
            raise

    def _apply(self) -> None:
        set_epoch(
            self.model,
            self.epoch,
            self.total_epochs,
            strict=self.strict,
            # only where an epoch ends: a clipped last epoch stays whole
            check_starved=self.last_epoch % (self.steps_per_epoch or 1) == 0,
        )

    def get_last_progress(self) -> float:
        """The progress of the model's first AdaLi layer (0.0 without AdaLi)."""
        found = adali_modules(self.model)
        return float(found[0][1].progress) if found else 0.0

    def state_dict(self) -> dict[str, Any]:
        """Counters only: ``last_epoch``, ``total_epochs``, ``steps_per_epoch``."""
        return {
            "last_epoch": self.last_epoch,
            "total_epochs": self.total_epochs,
            "steps_per_epoch": self.steps_per_epoch,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the counters and re-apply the window they imply.

        Everything is checked, and every layer's window computed, before the
        counters or any layer change.
        """
        missing = {"last_epoch", "total_epochs", "steps_per_epoch"} - set(state_dict)
        if missing:
            raise ValueError(f"scheduler state_dict lacks {sorted(missing)}")
        total, steps, last = (
            state_dict["total_epochs"],
            state_dict["steps_per_epoch"],
            state_dict["last_epoch"],
        )
        total = check_epoch(0, total)[1]
        steps = _check_steps(steps)
        try:
            last = check_count("last_epoch", last)
        except TypeError:
            last = -2
        if last < -1:
            raise ValueError(
                f"last_epoch must be an int >= -1, got {state_dict['last_epoch']!r}"
            )
        epoch = min(last / (steps or 1), float(total - 1))
        set_epoch(self.model, max(epoch, 0.0), total, strict=self.strict)
        self.total_epochs, self.steps_per_epoch, self.last_epoch = total, steps, last


def _check_steps(steps_per_epoch: object) -> int | None:
    """``steps_per_epoch`` as an int >= 1 (numpy / torch integers too) or None."""
    if steps_per_epoch is None:
        return None
    try:
        steps = check_count("steps_per_epoch", steps_per_epoch)
    except TypeError:
        steps = 0
    if steps < 1:
        raise ValueError(
            f"steps_per_epoch must be an int >= 1 or None, got {steps_per_epoch!r}"
        )
    return steps
