"""``AdaLiScheduler``: moves a model's AdaLi windows like a torch LR scheduler.

Progress is computed in closed form from a counter, never accumulated, so a
resumed run lands on exactly the same window:

* per epoch (default): ``step()`` once at the end of each epoch; progress
  ``q = epoch / (total_epochs - 1)``;
* per iteration (``steps_per_epoch=N``): ``step()`` after each batch; progress
  ``q = (iteration / N) / (total_epochs - 1)``, a fractional epoch.

``state_dict()`` holds only numbers (no callables), like torch's schedulers.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .attach import set_progress
from .schedule import progress_from_epoch


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
    """

    def __init__(
        self,
        model: nn.Module,
        total_epochs: int,
        *,
        steps_per_epoch: int | None = None,
        last_epoch: int = -1,
    ) -> None:
        progress_from_epoch(0, total_epochs)
        if steps_per_epoch is not None and (
            isinstance(steps_per_epoch, bool)
            or not isinstance(steps_per_epoch, int)
            or steps_per_epoch < 1
        ):
            raise ValueError(
                f"steps_per_epoch must be an int >= 1 or None, got {steps_per_epoch!r}"
            )
        self.model = model
        self.total_epochs = total_epochs
        self.steps_per_epoch = steps_per_epoch
        self.last_epoch = max(int(last_epoch), -1)
        self._last_progress = 0.0
        self.step()

    @property
    def epoch(self) -> float:
        """Current (fractional, 0-based) epoch, clipped to the last epoch."""
        n = self.steps_per_epoch or 1
        return min(self.last_epoch / n, float(self.total_epochs - 1))

    def step(self) -> None:
        """Advance one epoch (or one iteration with ``steps_per_epoch``)."""
        self.last_epoch += 1
        self._apply()

    def _apply(self) -> None:
        q = progress_from_epoch(self.epoch, self.total_epochs)
        set_progress(self.model, q)
        self._last_progress = q

    def get_last_progress(self) -> float:
        """Progress q in [0, 1] applied by the last ``step()``."""
        return self._last_progress

    def state_dict(self) -> dict[str, Any]:
        """Counters only: ``last_epoch``, ``total_epochs``, ``steps_per_epoch``."""
        return {
            "last_epoch": self.last_epoch,
            "total_epochs": self.total_epochs,
            "steps_per_epoch": self.steps_per_epoch,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the counters and re-apply the window they imply."""
        progress_from_epoch(0, state_dict["total_epochs"])
        self.total_epochs = state_dict["total_epochs"]
        self.steps_per_epoch = state_dict["steps_per_epoch"]
        self.last_epoch = state_dict["last_epoch"]
        self._apply()
