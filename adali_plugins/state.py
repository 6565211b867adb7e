"""The state both AdaLi adapters share, kept in ``nn.Module`` buffers.

Persistent float64 buffers hold the hyperparameters and the schedule position
(``alpha``, ``beta``, ``left``, ``right``, ``p``, ``progress``) so that
``state_dict``, whole-model ``torch.save``, ``copy.deepcopy`` and pickling carry
them. The schedule name and keep mode travel as extra state. A non-persistent
``window`` buffer caches ``[left, right, h_lo, h_hi]`` at the current progress,
so the forward pass never reads a Python float from the device.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
from torch import nn

from .schedule import (
    AdaLiParams,
    Schedule,
    Window,
    check_progress,
    progress_from_epoch,
)

logger = logging.getLogger(__name__)

HYPERPARAMETERS = ("alpha", "beta", "left", "right", "p", "max_height")
"""Float hyperparameters kept as buffers (``max_height`` None is stored as inf)."""

_FLOAT_BUFFERS = (*HYPERPARAMETERS, "progress")


def _stored(value: float | None) -> float:
    return math.inf if value is None else value


def _loaded(value: float) -> float | None:
    return None if value == math.inf else value


class AdaLiState:
    """Mixin for an ``nn.Module`` surrogate: buffers, schedule position, window.

    Subclasses call :meth:`_init_adali` from ``__init__`` after
    ``nn.Module.__init__`` has run.
    """

    _schedule: Schedule
    _keep: str

    def _init_adali(self, params: AdaLiParams) -> None:
        module: nn.Module = self  # type: ignore[assignment]
        for name in _FLOAT_BUFFERS:
            value = 0.0 if name == "progress" else _stored(getattr(params, name))
            module.register_buffer(name, torch.tensor(value, dtype=torch.float64))
        module.register_buffer(
            "window", torch.zeros(4, dtype=torch.float64), persistent=False
        )
        self._schedule = params.schedule
        self._keep = params.keep
        self._refresh()

    @property
    def params(self) -> AdaLiParams:
        """The current hyperparameters as a validated, immutable record."""
        values = {n: _loaded(float(getattr(self, n))) for n in HYPERPARAMETERS}
        return AdaLiParams(**values, schedule=self._schedule, keep=self._keep)  # type: ignore[arg-type]

    @property
    def schedule(self) -> Schedule:
        """The width schedule: a name from ``SCHEDULES`` or a callable."""
        return self._schedule

    @property
    def keep(self) -> str:
        """``"area"`` or ``"height"`` (see ``schedule.KEEP_MODES``)."""
        return self._keep

    def current_window(self) -> Window:
        """The window and heights at the current progress, as Python floats."""
        return self.params.window(float(self.progress))  # type: ignore[attr-defined]

    def _refresh(self) -> None:
        w = self.current_window()
        values = torch.tensor([w.left, w.right, w.h_lo, w.h_hi], dtype=torch.float64)
        self.window.copy_(values)  # type: ignore[attr-defined]

    def set_progress(self, q: float) -> None:
        """Move to progress ``q`` in [0, 1] of the schedule."""
        q = check_progress(q)
        self.progress.fill_(q)  # type: ignore[attr-defined]
        self._refresh()

    def set_epoch(self, epoch: float, total_epochs: int) -> None:
        """Move to (0-based, possibly fractional) ``epoch`` of ``total_epochs``."""
        self.set_progress(progress_from_epoch(epoch, total_epochs))

    def set_params(self, **changes: Any) -> None:
        """Change hyperparameters (validated first; nothing changes on error)."""
        new = self.params.with_changes(**changes)
        for name in HYPERPARAMETERS:
            getattr(self, name).fill_(_stored(getattr(new, name)))
        self._schedule = new.schedule
        self._keep = new.keep
        self._refresh()

    def get_extra_state(self) -> dict[str, Any]:
        schedule = self._schedule if isinstance(self._schedule, str) else "callable"
        return {"schedule": schedule, "keep": self._keep}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        schedule = state.get("schedule", "linear")
        if schedule == "callable":
            if isinstance(self._schedule, str):
                raise ValueError(
                    "this checkpoint was saved with a callable schedule, which is "
                    "not stored in state_dict; build the surrogate with the same "
                    "schedule=callable before load_state_dict"
                )
        else:
            self._schedule = schedule
        self._keep = state.get("keep", "area")

    def _load_from_state_dict(
        self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        incoming = {
            n: _loaded(float(state_dict[prefix + n]))
            for n in HYPERPARAMETERS
            if prefix + n in state_dict
        }
        self.params.with_changes(**incoming)
        if prefix + "progress" in state_dict:
            check_progress(float(state_dict[prefix + "progress"]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)  # type: ignore[misc]
        self._refresh()

    def _apply(self, fn: Any, recurse: bool = True) -> Any:
        """Let ``.to()`` move the buffers but never cast them (``.half()``)."""
        kept = {n: self._buffers[n] for n in (*_FLOAT_BUFFERS, "window")}  # type: ignore[attr-defined]
        out = super()._apply(fn, recurse)  # type: ignore[misc]
        for name, old in kept.items():
            moved = self._buffers[name]  # type: ignore[attr-defined]
            if moved.dtype != torch.float64:
                self._buffers[name] = old.to(device=moved.device)  # type: ignore[attr-defined]
        return out

    def _window_repr(self) -> str:
        w = self.current_window()
        p = self.params
        sched = p.schedule if isinstance(p.schedule, str) else "callable"
        cap = f"max_height={p.max_height:g}, " if p.max_height is not None else ""
        return (
            f"alpha={p.alpha:g}, beta={p.beta:g}, left={p.left:g}, right={p.right:g}, "
            f"p={p.p:g}, schedule={sched}, keep={p.keep}, {cap}"
            f"progress={float(self.progress):g}, "  # type: ignore[attr-defined]
            f"window=[-{w.left:.4g}, {w.right:.4g}], "
            f"heights=({w.h_lo:.4g}, {w.h_hi:.4g})"
        )
