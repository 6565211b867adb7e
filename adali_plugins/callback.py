"""Calibration inside a training loop: before training, and optionally every epoch.

>>> cb = CalibrationCallback(model, forward=run_batch, batches=8, mode="both",
...                          every_epoch=True)                      # doctest: +SKIP
>>> cb.on_train_start(train_loader)                                  # doctest: +SKIP
>>> for epoch in range(E):                                           # doctest: +SKIP
...     cb.on_epoch_start(epoch, train_loader)
...     for batch in train_loader:
...         ...                                   # your training step
...         cb.on_batch_end()

``forward(model, batch)`` is your own code that runs one batch through the model
(resetting the network state first, as your loop does). Calibration runs it on
``batches`` batches without gradients and leaves every parameter and buffer of
the model (batch-norm running statistics included) as it found them, apart from
the AdaLi values it sets.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from .calibrate import CalibrationMode, CalibrationResult, calibrate
from .epochs import AdaLiScheduler
from .monitor import MembraneMonitor, MonitorSummary
from .state import AdaLiState

logger = logging.getLogger(__name__)

Forward = Callable[[nn.Module, Any], Any]


def calibrate_on(
    model: nn.Module,
    batches: Iterable[Any],
    forward: Forward,
    *,
    num_batches: int = 8,
    mode: CalibrationMode = "both",
    coverage: float = 0.9,
    time_steps: int | None = None,
    **monitor_options: Any,
) -> tuple[dict[str, CalibrationResult], MonitorSummary]:
    """Watch ``num_batches`` batches, then calibrate; returns results and statistics.

    Args:
        model: The model whose AdaLi layers are calibrated.
        batches: An iterable of batches (a ``DataLoader``, a list).
        forward: ``forward(model, batch)`` runs one batch through the
            model, resetting its state first as your loop does.
        num_batches: How many batches to watch (>= 1).
        mode: ``"mass"``, ``"window"`` or ``"both"`` (see ``calibrate``).
        coverage: Share of the potentials on each side the window must
            cover, in (0, 1).
        time_steps: T, for the monitor's per-time-step breakdown.
        **monitor_options: Passed to :class:`MembraneMonitor`.

    Returns:
        The :class:`CalibrationResult` of each layer, by module path, and
        the statistics they were chosen from.
    """
    if num_batches < 1:
        raise ValueError(f"num_batches must be >= 1, got {num_batches}")
    kept = snapshot_buffers(model)
    try:
        with (
            torch.no_grad(),
            MembraneMonitor(model, time_steps=time_steps, **monitor_options) as mon,
        ):
            seen = 0
            for batch in itertools.islice(batches, num_batches):
                forward(model, batch)
                seen += 1
            if seen == 0:
                raise ValueError("batches yielded nothing to calibrate on")
    finally:
        restore_buffers(model, kept)
    results = calibrate(model, mon, mode=mode, coverage=coverage)
    return results, mon.summary()


def snapshot_buffers(model: nn.Module) -> list[tuple[nn.Module, str, torch.Tensor]]:
    """Copies of every buffer outside AdaLi surrogates (batch-norm statistics...)."""
    kept = []
    for module in model.modules():
        if isinstance(module, AdaLiState):
            continue
        for name, buf in module._buffers.items():
            if buf is not None:
                kept.append((module, name, buf.detach().clone()))
    return kept


def restore_buffers(
    model: nn.Module, kept: list[tuple[nn.Module, str, torch.Tensor]]
) -> None:
    """Put back what ``snapshot_buffers`` copied."""
    for module, name, value in kept:
        module._buffers[name] = value


class CalibrationCallback:
    """Calibrate AdaLi on K batches at train start and, optionally, every epoch.

    With ``scheduler`` (an :class:`AdaLiScheduler` with ``steps_per_epoch``),
    ``on_batch_end`` also advances the per-iteration schedule. ``history`` keeps
    one entry per calibration: epoch, chosen values and the statistics summary.

    Args:
        model: The model whose AdaLi layers are calibrated.
        forward: ``forward(model, batch)`` runs one batch through the
            model, resetting its state first as your loop does.
        batches: How many batches each calibration watches.
        mode: ``"mass"``, ``"window"`` or ``"both"`` (see ``calibrate``).
        coverage: Share of the potentials on each side the window must
            cover, in (0, 1).
        every_epoch: Also calibrate at every ``on_epoch_start``, not
            only at ``on_train_start``.
        scheduler: An :class:`AdaLiScheduler` that ``on_batch_end``
            steps (per-iteration schedules).
        time_steps: T, for the monitor's per-time-step breakdown.
    """

    def __init__(
        self,
        model: nn.Module,
        forward: Forward,
        *,
        batches: int = 8,
        mode: CalibrationMode = "both",
        coverage: float = 0.9,
        every_epoch: bool = False,
        scheduler: AdaLiScheduler | None = None,
        time_steps: int | None = None,
    ) -> None:
        self.model = model
        self.forward = forward
        self.batches = batches
        self.mode = mode
        self.coverage = coverage
        self.every_epoch = every_epoch
        self.scheduler = scheduler
        self.time_steps = time_steps
        self.history: list[dict[str, Any]] = []

    def _run(self, loader: Iterable[Any], epoch: int) -> dict[str, CalibrationResult]:
        results, summary = calibrate_on(
            self.model,
            loader,
            self.forward,
            num_batches=self.batches,
            mode=self.mode,
            coverage=self.coverage,
            time_steps=self.time_steps,
        )
        self.history.append({"epoch": epoch, "results": results, "summary": summary})
        return results

    def on_train_start(self, loader: Iterable[Any]) -> dict[str, CalibrationResult]:
        """Calibrate before the first epoch."""
        return self._run(loader, 0)

    def on_epoch_start(
        self, epoch: int, loader: Iterable[Any]
    ) -> dict[str, CalibrationResult] | None:
        """Re-calibrate at the start of ``epoch`` (> 0) when ``every_epoch``."""
        if self.every_epoch and epoch > 0:
            return self._run(loader, epoch)
        return None

    def on_batch_end(self) -> None:
        """Advance a per-iteration scheduler, if one was given."""
        if self.scheduler is not None and self.scheduler.steps_per_epoch is not None:
            self.scheduler.step()
