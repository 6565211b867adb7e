"""The state both AdaLi adapters share, kept in ``nn.Module`` buffers.

Every entry AdaLi puts in a ``state_dict`` is a tensor, so tensor-only savers
(safetensors, ``{k: v.clone()}``) work: float64 buffers hold the
hyperparameters and the schedule position (``alpha``, ``beta``, ``left``,
``right``, ``left_final``, ``right_final``, ``p``, ``max_height``,
``progress``; an unset optional value is stored as ``UNSET`` = -1, outside
every valid range and equal to itself, so ``torch.equal`` on a copy holds;
NaN, the marker before 0.2, still loads as unset), and int64 buffers the
schedule and keep mode as codes into ``SCHEDULE_CODES`` / ``KEEP_CODES``
(-1 for a callable schedule, which cannot be saved). A non-persistent
``window`` buffer caches ``[left, right, h_lo, h_hi]`` at the current progress,
so the forward pass never reads a Python float from the device.

Loading is forgiving where it is safe and strict where it is not: a checkpoint
without AdaLi keys (saved before ``attach``, or a pretrained model) loads under
``strict=True`` and AdaLi keeps its values; a layer's group of AdaLi entries is
otherwise all or nothing: every key present (``strict=False`` keeps the current
value of a missing one and reports it in ``missing_keys``), a tensor of the right
kind (floating point, integer codes), finite and in range, checked for every
AdaLi layer of the incoming ``state_dict`` before torch copies anything into an
AdaLi buffer. AdaLi copies its own entries (torch never does), so a meta-device
model loads with ``assign=True`` or after ``to_empty()``: the window is computed
once real values arrive.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from . import starvation
from .window import (
    FLOAT_RANGES,
    SCHEDULE_CODES,
    AdaLiParams,
    Schedule,
    Window,
    check_progress,
    check_window_dtype,
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
"""Float hyperparameters kept as buffers (an unset optional one as ``UNSET``)."""

OPTIONAL = ("left_final", "right_final", "p", "max_height")
"""Hyperparameters that may be None."""

UNSET = -1.0
"""What a buffer holds for an optional hyperparameter that is not set: below
every valid range (all are > 0) and, unlike NaN, equal to itself."""

KEEP_CODES: tuple[str, ...] = ("area", "height")
"""Keep modes by the integer code stored in a ``state_dict``."""

CALLABLE_CODE = -1

_FLOAT_BUFFERS = (*HYPERPARAMETERS, "progress")
_CODE_BUFFERS = ("schedule_code", "keep_code")
STATE_KEYS = (*_FLOAT_BUFFERS, *_CODE_BUFFERS)
"""Every key AdaLi adds under its module prefix in a ``state_dict``."""

_REQUIRED = ("alpha", "beta", "left", "right", "progress")
_LEGACY_EXTRA = "_extra_state"
_LEGACY_KEYS = ("alpha", "beta", "left", "right", "p", "progress")
"""A complete group of a checkpoint from before 0.2 (plus ``_extra_state``;
``max_height`` came later and may be absent, meaning no cap)."""
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
    """A ``state_dict`` holds AdaLi entries that are invalid or incomplete; no
    AdaLi layer was changed (the message says if torch had already copied the
    entries of layers loaded before the first AdaLi one)."""


def _stored(value: float | None) -> float:
    return UNSET if value is None else value


def _loaded(name: str, value: float) -> float | None:
    """A buffer's value as a hyperparameter: ``UNSET``, NaN (before 0.2) or
    +inf in an optional one mean "not set"."""
    if name in OPTIONAL and (value == UNSET or math.isnan(value) or value == math.inf):
        return None
    return value


def schedule_code(schedule: Schedule) -> int:
    """The integer a ``state_dict`` stores for ``schedule``."""
    return SCHEDULE_CODES.index(schedule) if isinstance(schedule, str) else -1


def missing_entries(entries: Mapping[str, Any]) -> list[str]:
    """The keys a layer's group of AdaLi entries lacks ([] if complete or empty).

    A group is today's ``STATE_KEYS``, or a checkpoint from before 0.2 (it
    holds ``_extra_state``): ``alpha``, ``beta``, ``left``, ``right``, ``p``,
    ``progress``.
    """
    if not entries:
        return []
    required = _LEGACY_KEYS if _LEGACY_EXTRA in entries else STATE_KEYS
    return [name for name in required if name not in entries]


def params_from_entries(
    entries: Mapping[str, Any], current: AdaLiParams
) -> tuple[AdaLiParams, float | None]:
    """Validated parameters and progress from one layer's ``state_dict`` entries.

    ``entries`` maps unprefixed keys (``alpha``, ``schedule_code``, ...) to
    0-dim (or one-element) tensors: floating point for the hyperparameters and
    ``progress``, integer for the codes (a bool tensor is refused). Keys it
    lacks keep ``current``'s value, except in a checkpoint from before 0.2,
    whose absent final widths and cap did not exist then (None). Raises
    ValueError or TypeError naming the entry; changes nothing.
    """
    legacy = _LEGACY_EXTRA in entries
    changes: dict[str, Any] = {n: getattr(current, n) for n in HYPERPARAMETERS}
    changes["schedule"], changes["keep"] = current.schedule, current.keep
    if legacy:
        changes.update(left_final=None, right_final=None, max_height=None)
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
    if legacy:
        extra = entries[_LEGACY_EXTRA]
        if not isinstance(extra, Mapping):
            raise TypeError(f"_extra_state must be a dict, got {type(extra).__name__}")
        changes.update(_legacy_extra(extra, current))
    params = replace(current, **changes)
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


def _one_number(name: str, value: Any) -> torch.Tensor:
    """``value`` as a 0-dim tensor if it is a readable one-number tensor."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(value).__name__}")
    if value.numel() != 1 or value.dim() > 1:
        raise ValueError(
            f"{name} must hold one number (shape ()), got shape {tuple(value.shape)}"
        )
    if value.is_meta:
        raise ValueError(f"{name} is a meta tensor (it holds no value)")
    return value.detach().reshape(())


def _scalar(name: str, value: Any) -> float:
    """A float entry: a one-number floating-point tensor (bool/int refused)."""
    tensor = _one_number(name, value)
    if not tensor.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor (float64 as saved), got "
            f"{tensor.dtype}"
        )
    return float(tensor)


def _code(name: str, value: Any) -> int:
    """An integer code entry: a one-number integer tensor (bool refused)."""
    tensor = _one_number(name, value)
    if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise TypeError(
            f"{name} must be an integer tensor (int64 as saved), got {tensor.dtype}"
        )
    return int(tensor)


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
        return self._state_now()[0]

    def _state_now(self) -> tuple[AdaLiParams, float]:
        """Parameters and progress: read from the buffers, or, while they are
        on the meta device (no values), the ones last committed."""
        cached = getattr(self, "_adali_committed", None)
        if cached is not None and self.progress.is_meta:  # type: ignore[attr-defined]
            return cached
        values = {n: _loaded(n, float(getattr(self, n))) for n in HYPERPARAMETERS}
        keep = KEEP_CODES[int(self.keep_code)]  # type: ignore[attr-defined]
        params = AdaLiParams(**values, schedule=self._schedule, keep=keep)  # type: ignore[arg-type]
        return params, float(self.progress)  # type: ignore[attr-defined]

    @property
    def schedule(self) -> Schedule:
        """The width schedule: a name from ``SCHEDULES`` or a callable."""
        return self._schedule

    @property
    def keep(self) -> str:
        """``"area"`` or ``"height"`` (see ``schedule.KEEP_MODES``)."""
        return self.params.keep

    def current_window(self) -> Window:
        """The window and heights at the current progress, as Python floats."""
        params, progress = self._state_now()
        return params.window(progress)

    def _window_for(self, params: AdaLiParams, progress: float) -> Window:
        """The window at ``progress``, checked in float32 (``params.window``)
        and in every half dtype this module was cast to (``.half()``)."""
        w = params.window(progress)
        for dtype in getattr(self, "_adali_dtypes", ()):
            check_window_dtype(w, dtype, progress)
        return w

    def _commit(self, params: AdaLiParams, progress: float) -> None:
        """Write validated parameters and progress; computes the window first."""
        w = self._window_for(params, progress)
        for name in HYPERPARAMETERS:
            getattr(self, name).fill_(_stored(getattr(params, name)))
        self.progress.fill_(progress)  # type: ignore[attr-defined]
        self.schedule_code.fill_(schedule_code(params.schedule))  # type: ignore[attr-defined]
        self.keep_code.fill_(KEEP_CODES.index(params.keep))  # type: ignore[attr-defined]
        self._schedule = params.schedule
        values = torch.tensor([w.left, w.right, w.h_lo, w.h_hi], dtype=torch.float64)
        self.window.copy_(values)  # type: ignore[attr-defined]
        self._adali_committed = (params, progress)

    def plan_progress(self, q: float) -> AdaLiParams:
        """Validate a move to progress ``q`` without making it (raises on error)."""
        q = check_progress(q)
        params = self.params
        self._window_for(params, q)
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
        params, progress = self._state_now()
        self._commit(params.with_changes(**changes), progress)

    def _plan_load(
        self, entries: Mapping[str, Any], strict: bool
    ) -> tuple[AdaLiParams, float, list[str]] | None:
        """What loading this layer's ``entries`` would commit, checked in full:
        ``(params, progress, missing keys)``, or None for no AdaLi entries.

        Raises ValueError or TypeError naming the entry; changes nothing.
        """
        if not entries:
            return None
        missing = missing_entries(entries)
        if missing and strict:
            raise ValueError(
                f"the AdaLi entries lack {missing}: a strict load needs every AdaLi "
                "key of a layer, or none (a checkpoint saved without AdaLi); "
                "strict=False keeps the current values of the missing ones"
            )
        try:
            before, before_q = self._state_now()
        except (TypeError, ValueError, IndexError, RuntimeError):
            # garbage buffers (``to_empty`` of a real module): the last commit
            before, before_q = self._adali_committed
        params, progress = params_from_entries(entries, before)
        q = before_q if progress is None else progress
        self._window_for(params, q)
        return params, q, missing

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
        """Check this layer's AdaLi entries (and, once per load, every AdaLi
        layer's) before anything is written, then commit them; torch loads
        the rest of the module and never touches AdaLi's buffers."""
        call = _LoadCall.find(self)
        user_strict = strict if call is None else call.strict
        if call is not None:
            call.validate_once(prefix)
        ours = {prefix + name for name in (*STATE_KEYS, _LEGACY_EXTRA)}
        entries = {
            key[len(prefix) :]: value
            for key, value in state_dict.items()
            if key in ours
        }
        try:
            plan = self._plan_load(entries, user_strict)
        except (TypeError, ValueError) as err:
            where = prefix.rstrip(".") or "<root>"
            raise AdaLiStateError(_refusal([f"{where}: {err}"], call, prefix)) from None
        rest = {k: v for k, v in state_dict.items() if k not in ours}
        n_missing = len(missing_keys)
        super()._load_from_state_dict(  # type: ignore[misc]
            rest,
            prefix,
            local_metadata,
            strict,
            missing_keys,
            unexpected_keys,
            error_msgs,
        )
        lacking = set() if plan is None else {prefix + n for n in plan[2]}
        missing_keys[n_missing:] = [
            k for k in missing_keys[n_missing:] if k not in ours or k in lacking
        ]
        if plan is None:
            logger.debug(
                "%s: the state_dict has no AdaLi entries; AdaLi keeps its values",
                prefix.rstrip(".") or "<root>",
            )
        assign = bool(local_metadata.get("assign_to_params_buffers", False))
        was_meta = self.progress.is_meta  # type: ignore[attr-defined]
        if assign:  # like torch: the buffers go where the incoming tensors are
            device = _device_of(entries, call)
            if was_meta or self.progress.device != device:  # type: ignore[attr-defined]
                self._materialize(device)
        if plan is not None:
            self._commit(plan[0], plan[1])
        elif assign and was_meta:
            self._commit(*self._adali_committed)

    def _materialize(self, device: torch.device) -> None:
        """Put this module's buffers on ``device`` (``assign=True``): a real
        one keeps its values; a meta one (no values) becomes a new tensor,
        AdaLi's own filled by the next commit, any other (a counter, a mask)
        zero."""
        for name, buf in list(self._buffers.items()):  # type: ignore[attr-defined]
            if buf is None:
                continue
            self._buffers[name] = (  # type: ignore[attr-defined]
                torch.zeros(buf.shape, dtype=buf.dtype, device=device)
                if buf.is_meta
                else buf.to(device)
            )

    def __prepare_scriptable__(self) -> nn.Module:
        """``torch.jit.script`` calls this first: refuse with a clear message."""
        raise TorchScriptUnsupportedError(TORCHSCRIPT_UNSUPPORTED)

    def _apply(self, fn: Any, recurse: bool = True) -> Any:
        """Let ``.to()`` move the buffers but never cast them (``.half()``).

        A cast to float16 / bfloat16 is remembered: the window is checked in
        that dtype now and at every later change (ValueError naming the
        height or width that does not fit). Leaving the meta device
        (``to_empty``) fills the buffers with the last committed values.
        """
        names = (*_FLOAT_BUFFERS, *_CODE_BUFFERS, "window")
        kept = {n: self._buffers[n] for n in names}  # type: ignore[attr-defined]
        was_meta = kept["progress"].is_meta
        out = super()._apply(fn, recurse)  # type: ignore[misc]
        cast = None
        for name, old in kept.items():
            moved = self._buffers[name]  # type: ignore[attr-defined]
            if moved.dtype != old.dtype:
                if old.is_floating_point():
                    cast = moved.dtype
                self._buffers[name] = (  # type: ignore[attr-defined]
                    torch.empty_like(old, device=moved.device)
                    if old.is_meta
                    else old.to(device=moved.device)
                )
        committed = getattr(self, "_adali_committed", None)
        if committed is not None and was_meta and not self.progress.is_meta:  # type: ignore[attr-defined]
            self._commit(*committed)
        name = None if cast is None else dtype_name(cast)
        if name is not None and name not in getattr(self, "_adali_dtypes", ()):
            params, progress = self._state_now()
            check_window_dtype(params.window(progress), name, progress)
            self._adali_dtypes = (*getattr(self, "_adali_dtypes", ()), name)
        return out

    def _window_repr(self) -> str:
        p, progress = self._state_now()
        w = p.window(progress)
        lf, rf = p.final_widths
        sched = p.schedule if isinstance(p.schedule, str) else "callable"
        cap = f"max_height={p.max_height:g}, " if p.max_height is not None else ""
        return (
            f"alpha={p.alpha:g}, beta={p.beta:g}, left={p.left:g}->{lf:g}, "
            f"right={p.right:g}->{rf:g}, schedule={sched}, keep={p.keep}, {cap}"
            f"progress={progress:g}, "
            f"window=[-{w.left:.4g}, {w.right:.4g}], "
            f"heights=({w.h_lo:.4g}, {w.h_hi:.4g})"
        )


def dtype_name(dtype: torch.dtype) -> str | None:
    """``"float16"`` / ``"bfloat16"`` for a half type a window must fit, else None
    (float32 is always checked; float64 holds anything float32 does)."""
    name = str(dtype).removeprefix("torch.")
    return name if name in FLOAT_RANGES and name != "float32" else None


def _device_of(entries: Mapping[str, Any], call: _LoadCall | None) -> torch.device:
    """Where ``assign=True`` puts a meta module's buffers: with its entries,
    else with the first tensor of the incoming ``state_dict``, else the CPU."""
    pool = list(entries.values()) + (list(call.whole.values()) if call else [])
    for value in pool:
        if isinstance(value, torch.Tensor) and not value.is_meta:
            return value.device
    return torch.device("cpu")


def _refusal(problems: list[str], call: _LoadCall | None, prefix: str) -> str:
    """The AdaLiStateError message: every problem, and what was already copied."""
    copied = call.copied_before(prefix) if call is not None else []
    if call is None:  # not inside nn.Module.load_state_dict: its own slice only
        done = "this AdaLi layer was not changed"
    elif copied:
        shown = ", ".join(copied[:3]) + (", ..." if len(copied) > 3 else "")
        done = (
            f"no AdaLi layer was changed, but torch had already copied "
            f"{len(copied)} entries of the layers loaded before it ({shown}); "
            "adali_plugins.load_model_state(model, state) loads all or nothing"
        )
    else:
        done = "nothing was loaded, no AdaLi layer was changed"
    return f"the state_dict holds invalid AdaLi entries; {done}:\n" + "\n".join(
        f"  - {p}" for p in problems
    )


class _LoadCall:
    """The ``nn.Module.load_state_dict`` call a layer is being loaded by.

    torch hands each module only its slice of the dict and always passes
    ``strict=True`` down; the call's own frame holds the root module, the
    whole dict, and the user's ``strict``. The first AdaLi layer to load
    checks every AdaLi layer of the root against the whole dict and marks
    the dict (torch's private copy, made per call), so the others skip it.
    """

    def __init__(self, root: nn.Module, whole: Mapping[str, Any], strict: bool):
        self.root, self.whole, self.strict = root, whole, bool(strict)

    @classmethod
    def find(cls, module: nn.Module) -> _LoadCall | None:
        code = nn.Module.load_state_dict.__code__
        frame = sys._getframe(2)
        while frame is not None:
            if frame.f_code is code:
                local = frame.f_locals
                root, whole = local.get("self"), local.get("state_dict")
                if isinstance(root, nn.Module) and isinstance(whole, Mapping):
                    return cls(root, whole, local.get("strict", True))
                return None
            frame = frame.f_back
        return None

    def _layers(self) -> list[tuple[str, nn.Module]]:
        return [
            (path + "." if path else "", m)
            for path, m in self.root.named_modules(remove_duplicate=False)
        ]

    def validate_once(self, prefix: str) -> None:
        """Check every AdaLi layer's group; raise AdaLiStateError listing all."""
        if getattr(self.whole, "_adali_checked", False):
            return
        problems = []
        for where, module in self._layers():
            if not isinstance(module, AdaLiState):
                continue
            entries = {
                name: self.whole[where + name]
                for name in (*STATE_KEYS, _LEGACY_EXTRA)
                if where + name in self.whole
            }
            try:
                module._plan_load(entries, self.strict)
            except (TypeError, ValueError) as err:
                problems.append(f"{where.rstrip('.') or '<root>'}: {err}")
        if problems:
            raise AdaLiStateError(_refusal(problems, self, prefix))
        try:
            self.whole._adali_checked = True  # type: ignore[attr-defined]
        except AttributeError:  # not torch's OrderedDict copy: check each time
            pass

    def copied_before(self, prefix: str) -> list[str]:
        """Keys torch copied before the layer at ``prefix`` (same pre-order)."""
        copied = []
        for where, module in self._layers():
            if where == prefix:
                break
            if isinstance(module, AdaLiState):
                continue
            persistent = [
                n
                for n, b in module._buffers.items()
                if b is not None and n not in module._non_persistent_buffers_set
            ]
            names = [n for n, v in module._parameters.items() if v is not None]
            for name in (*names, *persistent):
                if where + name in self.whole:
                    copied.append(where + name)
        return copied
