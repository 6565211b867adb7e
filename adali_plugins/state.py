"""The state both AdaLi adapters share, kept in ``nn.Module`` buffers.

Every entry AdaLi puts in a ``state_dict`` is a tensor, so tensor-only savers
(safetensors, ``{k: v.clone()}``) work: float64 buffers hold the
hyperparameters and the schedule position (``alpha``, ``beta``, ``left``,
``right``, ``left_final``, ``right_final``, ``p``, ``max_height``,
``progress``; an unset optional value is stored as NaN), and int64 buffers the
schedule and keep mode as codes into ``SCHEDULE_CODES`` / ``KEEP_CODES``
(-1 for a callable schedule, which cannot be saved). A non-persistent
``window`` buffer caches ``[left, right, h_lo, h_hi]`` at the current progress,
so the forward pass never reads a Python float from the device.

Loading is forgiving where it is safe and strict where it is not: a checkpoint
without AdaLi keys (saved before ``attach``, or a pretrained model) loads under
``strict=True`` and AdaLi keeps its values; every AdaLi entry in the incoming
``state_dict`` is validated, for every layer, before any layer changes.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from . import starvation
from .window import (
    SCHEDULE_CODES,
    AdaLiParams,
    Schedule,
    Window,
    check_progress,
)

logger = logging.getLogger(__name__)

HYPERPARAMETERS = (
    "alpha",
    "beta",
    "left",
    "right",
    "left_final",
    "right_final",
    "p",
    "max_height",
)
"""Float hyperparameters kept as buffers (an unset optional one as NaN)."""

OPTIONAL = ("left_final", "right_final", "p", "max_height")
"""Hyperparameters that may be None."""

KEEP_CODES: tuple[str, ...] = ("area", "height")
"""Keep modes by the integer code stored in a ``state_dict``."""

CALLABLE_CODE = -1

_FLOAT_BUFFERS = (*HYPERPARAMETERS, "progress")
_CODE_BUFFERS = ("schedule_code", "keep_code")
STATE_KEYS = (*_FLOAT_BUFFERS, *_CODE_BUFFERS)
"""Every key AdaLi adds under its module prefix in a ``state_dict``."""

_REQUIRED = ("alpha", "beta", "left", "right", "progress")
_LEGACY_EXTRA = "_extra_state"
_LEGACY_SCHEDULES = {"linear": "linear_lagfree"}
"""Schedule names of checkpoints written before 0.2, in today's names."""


TORCHSCRIPT_UNSUPPORTED = (
    "AdaLi does not support TorchScript (torch.jit.script / torch.jit.trace): "
    "its gradient is a custom autograd.Function whose window lives in buffers; "
    "train in eager mode or with torch.compile, which AdaLi supports"
)


class TorchScriptUnsupportedError(RuntimeError):
    """TorchScript was asked to compile or trace an AdaLi surrogate."""


def refuse_tracing() -> None:
    """Raise a clear error under ``torch.jit.trace`` (call from ``forward``)."""
    if not torch.compiler.is_compiling() and torch.jit.is_tracing():
        raise TorchScriptUnsupportedError(TORCHSCRIPT_UNSUPPORTED)


class AdaLiStateError(ValueError):
    """A ``state_dict`` holds AdaLi entries that are invalid; nothing was loaded."""


def _stored(value: float | None) -> float:
    return math.nan if value is None else value


def _loaded(name: str, value: float) -> float | None:
    if name in OPTIONAL and (math.isnan(value) or value == math.inf):
        return None
    return value


def schedule_code(schedule: Schedule) -> int:
    """The integer a ``state_dict`` stores for ``schedule``."""
    return SCHEDULE_CODES.index(schedule) if isinstance(schedule, str) else -1


def params_from_entries(
    entries: Mapping[str, Any], current: AdaLiParams
) -> tuple[AdaLiParams, float | None]:
    """Validated parameters and progress from one layer's ``state_dict`` entries.

    ``entries`` maps unprefixed keys (``alpha``, ``schedule_code``, ...) to
    tensors; keys it lacks keep ``current``'s value. Raises ValueError or
    TypeError naming the entry.
    """
    changes: dict[str, Any] = {}
    for name in HYPERPARAMETERS:
        if name in entries:
            changes[name] = _loaded(name, _scalar(name, entries[name]))
    if "schedule_code" in entries:
        code = _code("schedule_code", entries["schedule_code"])
        if code == CALLABLE_CODE:
            if isinstance(current.schedule, str):
                raise ValueError(
                    "this checkpoint was saved with a callable schedule, which is "
                    "not stored in state_dict; build the surrogate with the same "
                    "schedule=callable before load_state_dict"
                )
        elif 0 <= code < len(SCHEDULE_CODES):
            changes["schedule"] = SCHEDULE_CODES[code]
        else:
            raise ValueError(
                f"schedule_code must be -1 (callable) or in [0, "
                f"{len(SCHEDULE_CODES) - 1}], got {code}"
            )
    if "keep_code" in entries:
        code = _code("keep_code", entries["keep_code"])
        if not 0 <= code < len(KEEP_CODES):
            raise ValueError(
                f"keep_code must be in [0, {len(KEEP_CODES) - 1}], got {code}"
            )
        changes["keep"] = KEEP_CODES[code]
    legacy = entries.get(_LEGACY_EXTRA)
    if isinstance(legacy, Mapping):
        changes.update(_legacy_extra(legacy, current))
    if "p" in entries and "left_final" not in entries:
        changes.setdefault("left_final", None)
        changes.setdefault("right_final", None)
    params = current.with_changes(**changes)
    progress = None
    if "progress" in entries:
        progress = check_progress(_scalar("progress", entries["progress"]))
        params.window(progress)
    return params, progress


def _legacy_extra(state: Mapping[str, Any], current: AdaLiParams) -> dict[str, Any]:
    """Read the ``_extra_state`` dict of checkpoints written before 0.2."""
    out: dict[str, Any] = {}
    schedule = state.get("schedule", "linear")
    if schedule == "callable":
        if isinstance(current.schedule, str):
            raise ValueError(
                "this checkpoint was saved with a callable schedule; build the "
                "surrogate with the same schedule=callable before load_state_dict"
            )
    else:
        out["schedule"] = _LEGACY_SCHEDULES.get(schedule, schedule)
    out["keep"] = state.get("keep", "area")
    return out


def _scalar(name: str, value: Any) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(
                f"{name} must hold one number, got shape {tuple(value.shape)}"
            )
        return float(value.reshape(()))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{name} must be a tensor or number, got {type(value).__name__}"
        )
    return float(value)


def _code(name: str, value: Any) -> int:
    """An integer code entry; a non-integral or non-finite value is refused."""
    number = _scalar(name, value)
    if not (math.isfinite(number) and number == int(number)):
        raise ValueError(f"{name} must be an integer code, got {number}")
    return int(number)


def adali_groups(state_dict: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The AdaLi entries of a ``state_dict``, grouped by module prefix."""
    groups: dict[str, dict[str, Any]] = {}
    for key, value in state_dict.items():
        prefix, _, name = key.rpartition(".")
        if name in STATE_KEYS or name == _LEGACY_EXTRA:
            groups.setdefault(prefix + "." if prefix else "", {})[name] = value
    return {
        p: g
        for p, g in groups.items()
        if all(name in g for name in _REQUIRED)
        and ("schedule_code" in g or _LEGACY_EXTRA in g)
    }


def strip_adali(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``state_dict`` without AdaLi's entries.

    Load a checkpoint saved with AdaLi into a model without it:
    ``plain.load_state_dict(ap.strip_adali(torch.load(path, weights_only=True)))``.
    """
    drop = {p + name for p, g in adali_groups(state_dict).items() for name in g}
    return {k: v for k, v in state_dict.items() if k not in drop}


def validate_state_dict(
    state_dict: Mapping[str, Any], current: AdaLiParams | None = None
) -> None:
    """Check every AdaLi group in ``state_dict``; raise AdaLiStateError if any fails."""
    problems = []
    base = current if current is not None else AdaLiParams()
    for prefix, entries in adali_groups(state_dict).items():
        try:
            params_from_entries(entries, base)
        except (TypeError, ValueError) as err:
            where = prefix.rstrip(".") or "<root>"
            problems.append(f"{where}: {err}")
    if problems:
        raise AdaLiStateError(
            "the state_dict holds invalid AdaLi entries; nothing was loaded:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


class AdaLiState:
    """Mixin for an ``nn.Module`` surrogate: buffers, schedule position, window.

    Subclasses call :meth:`_init_adali` from ``__init__`` after
    ``nn.Module.__init__`` has run.
    """

    _schedule: Schedule

    def _init_adali(self, params: AdaLiParams) -> None:
        module: nn.Module = self  # type: ignore[assignment]
        for name in _FLOAT_BUFFERS:
            value = 0.0 if name == "progress" else _stored(getattr(params, name))
            module.register_buffer(name, torch.tensor(value, dtype=torch.float64))
        for name in _CODE_BUFFERS:
            module.register_buffer(name, torch.tensor(0, dtype=torch.int64))
        module.register_buffer(
            "window", torch.zeros(4, dtype=torch.float64), persistent=False
        )
        starvation.install(module)
        self._commit(params, 0.0)

    @property
    def params(self) -> AdaLiParams:
        """The current hyperparameters as a validated, immutable record."""
        values = {n: _loaded(n, float(getattr(self, n))) for n in HYPERPARAMETERS}
        keep = KEEP_CODES[int(self.keep_code)]  # type: ignore[attr-defined]
        return AdaLiParams(**values, schedule=self._schedule, keep=keep)  # type: ignore[arg-type]

    @property
    def schedule(self) -> Schedule:
        """The width schedule: a name from ``SCHEDULES`` or a callable."""
        return self._schedule

    @property
    def keep(self) -> str:
        """``"area"`` or ``"height"`` (see ``schedule.KEEP_MODES``)."""
        return KEEP_CODES[int(self.keep_code)]  # type: ignore[attr-defined]

    def current_window(self) -> Window:
        """The window and heights at the current progress, as Python floats."""
        return self.params.window(float(self.progress))  # type: ignore[attr-defined]

    def _commit(self, params: AdaLiParams, progress: float) -> None:
        """Write validated parameters and progress; computes the window first."""
        w = params.window(progress)
        for name in HYPERPARAMETERS:
            getattr(self, name).fill_(_stored(getattr(params, name)))
        self.progress.fill_(progress)  # type: ignore[attr-defined]
        self.schedule_code.fill_(schedule_code(params.schedule))  # type: ignore[attr-defined]
        self.keep_code.fill_(KEEP_CODES.index(params.keep))  # type: ignore[attr-defined]
        self._schedule = params.schedule
        values = torch.tensor([w.left, w.right, w.h_lo, w.h_hi], dtype=torch.float64)
        self.window.copy_(values)  # type: ignore[attr-defined]

    def plan_progress(self, q: float) -> AdaLiParams:
        """Validate a move to progress ``q`` without making it (raises on error)."""
        q = check_progress(q)
        params = self.params
        params.window(q)
        return params

    def set_progress(self, q: float) -> None:
        """Move to progress ``q`` in [0, 1] of the schedule (see ``schedule``)."""
        self._commit(self.plan_progress(q), check_progress(q))

    def progress_at(self, epoch: float, total_epochs: int) -> float:
        """This layer's progress at (0-based) ``epoch`` of ``total_epochs``."""
        return self.params.progress_at(epoch, total_epochs)

    def set_epoch(self, epoch: float, total_epochs: int) -> None:
        """Move to (0-based, possibly fractional) ``epoch`` of ``total_epochs``."""
        self.set_progress(self.progress_at(epoch, total_epochs))

    def set_params(self, **changes: Any) -> None:
        """Change hyperparameters (validated first; nothing changes on error)."""
        new = self.params.with_changes(**changes)
        self._commit(new, float(self.progress))  # type: ignore[attr-defined]

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: Any,
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        before, before_q = self.params, float(self.progress)  # type: ignore[attr-defined]
        _validate_once(state_dict, before)
        entries = {
            name: state_dict[prefix + name]
            for name in (*STATE_KEYS, _LEGACY_EXTRA)
            if prefix + name in state_dict
        }
        n_missing = len(missing_keys)
        super()._load_from_state_dict(  # type: ignore[misc]
            state_dict,
            prefix,
            local_metadata,
            strict,
            missing_keys,
            unexpected_keys,
            error_msgs,
        )
        ours = {prefix + name for name in STATE_KEYS}
        missing_keys[n_missing:] = [
            k for k in missing_keys[n_missing:] if k not in ours
        ]
        if prefix + _LEGACY_EXTRA in unexpected_keys:
            unexpected_keys.remove(prefix + _LEGACY_EXTRA)
        if not entries:
            logger.debug(
                "%s: the state_dict has no AdaLi entries; AdaLi keeps its values",
                prefix.rstrip(".") or "<root>",
            )
        params, progress = params_from_entries(entries, before)
        self._commit(params, before_q if progress is None else progress)

    def __prepare_scriptable__(self) -> nn.Module:
        """``torch.jit.script`` calls this first: refuse with a clear message."""
        raise TorchScriptUnsupportedError(TORCHSCRIPT_UNSUPPORTED)

    def _apply(self, fn: Any, recurse: bool = True) -> Any:
        """Let ``.to()`` move the buffers but never cast them (``.half()``)."""
        names = (*_FLOAT_BUFFERS, *_CODE_BUFFERS, "window")
        kept = {n: self._buffers[n] for n in names}  # type: ignore[attr-defined]
        out = super()._apply(fn, recurse)  # type: ignore[misc]
        for name, old in kept.items():
            moved = self._buffers[name]  # type: ignore[attr-defined]
            if moved.dtype != old.dtype:
                self._buffers[name] = old.to(device=moved.device)  # type: ignore[attr-defined]
        return out

    def _window_repr(self) -> str:
        w = self.current_window()
        p = self.params
        lf, rf = p.final_widths
        sched = p.schedule if isinstance(p.schedule, str) else "callable"
        cap = f"max_height={p.max_height:g}, " if p.max_height is not None else ""
        return (
            f"alpha={p.alpha:g}, beta={p.beta:g}, left={p.left:g}->{lf:g}, "
            f"right={p.right:g}->{rf:g}, schedule={sched}, keep={p.keep}, {cap}"
            f"progress={float(self.progress):g}, "  # type: ignore[attr-defined]
            f"window=[-{w.left:.4g}, {w.right:.4g}], "
            f"heights=({w.h_lo:.4g}, {w.h_hi:.4g})"
        )


def _validate_once(state_dict: dict[str, Any], current: AdaLiParams) -> None:
    """Validate every AdaLi group of the whole incoming ``state_dict`` once.

    ``nn.Module.load_state_dict`` hands each module only its own slice of the
    dict, so the first AdaLi layer to load looks up the whole dict in the
    outermost ``load_state_dict`` call, checks every AdaLi group in it, and
    marks it so that the other layers skip the check.
    """
    whole = state_dict
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "load_state_dict":
            candidate = frame.f_locals.get("state_dict")
            if isinstance(candidate, Mapping):
                whole = candidate  # type: ignore[assignment]
        frame = frame.f_back
    if getattr(whole, "_adali_checked", False):
        return
    validate_state_dict(whole, current)
    try:
        whole._adali_checked = True  # type: ignore[attr-defined]
    except AttributeError:  # a plain dict handed in directly: check every time
        pass
