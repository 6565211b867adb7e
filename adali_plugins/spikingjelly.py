"""SpikingJelly adapter: ``AdaLi``, a ``SurrogateFunctionBase`` like ``ATan``.

>>> from spikingjelly.activation_based import neuron
>>> from adali_plugins.spikingjelly import AdaLi
>>> node = neuron.LIFNode(surrogate_function=AdaLi(), step_mode="m")

SpikingJelly fires at ``x >= 0``; so does this surrogate. ``spiking=False``
gives the primitive (the integral of the AdaLi derivative) instead of spikes.
Importing this module publishes ``spikingjelly.activation_based.surrogate.AdaLi``.

Works with spikingjelly 2.0 (constructor ``SurrogateFunctionBase(spiking,
**params)``) and 0.0.0.0.14 (``SurrogateFunctionBase(alpha, spiking)``, cupy
backend asking for ``cuda_code`` / ``cuda_codes``). ``AdaLi`` deliberately does
not subclass any built-in surrogate: SpikingJelly matches its fused kernels by
class, and a subclass of ``ATan`` would silently be run as ``ATan``. It also has
no ``reset`` method, which ``functional.reset_net`` would call.

On spikingjelly 2.0, building the first ``AdaLi`` (not importing this module)
wraps ``functional.lif_multi_step`` and ``functional.if_multi_step`` (the
functions ``LIFNode`` and ``IFNode`` call in both step modes; single-step
``lif_step`` / ``if_step`` go through them with T=1).
Without the wrapper SpikingJelly runs an ``AdaLi`` neuron through its per-step
autograd loop, keeping float potentials for backward; with it, a neuron whose
surrogate is exactly ``AdaLi`` (spiking, no hooks on it, no ``neuron_storage``
precision option, floating tensors, not under ``torch.compile``) runs
:func:`adali_plugins.lif.adali_lif_multi_step`: the same spikes and potentials,
1 byte per element saved for backward (5 with a hard, undetached reset). Every
other call reaches SpikingJelly unchanged. ``set_fast_lif(False)`` restores the
original functions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import inspect
import logging
from collections.abc import Callable, Iterator
from typing import Any

from .hosts import require

require("spikingjelly")

import torch  # noqa: E402
from spikingjelly.activation_based import functional, neuron, surrogate  # noqa: E402
from spikingjelly.activation_based.surrogate import SurrogateFunctionBase  # noqa: E402

from .lif import adali_lif_multi_step  # noqa: E402
from .regions import cuda_source  # noqa: E402
from .registry import register_neuron  # noqa: E402
from .starvation import record, record_codes  # noqa: E402
from .state import AdaLiState, refuse_tracing  # noqa: E402
from .surrogate import (  # noqa: E402
    adali_grad,
    adali_primitive,
    adali_spike,
    adali_spike_code,
)
from .window import DEFAULTS, AdaLiParams, KeepMode, Schedule  # noqa: E402

__all__ = ["LEGACY", "AdaLi", "fast_lif", "fast_lif_enabled", "set_fast_lif"]

LEGACY = "alpha" in inspect.signature(SurrogateFunctionBase.__init__).parameters
"""True on spikingjelly 0.0.0.0.14, whose base constructor takes ``alpha``."""


class AdaLi(AdaLiState, SurrogateFunctionBase):
    r"""AdaLi surrogate for SpikingJelly neurons (fires at x >= 0).

    The neuron hands it ``x = u - threshold``. Forward: SpikingJelly's
    own step, a spike when ``x >= 0`` (``spiking=False`` returns g(x)
    below instead).

    Backward (released, paran-ia/AdaLi ``modules/sgAdaLi.py``): a box of two
    heights on the window ``[-L, R]``, where ``L`` and ``R`` are the ``left``
    and ``right`` half-widths at the current progress (moved by ``set_epoch``)
    and, with ``keep="area"``, ``h_lo = alpha / L`` and ``h_hi = beta / R``:

    .. math::

        g'(x) = \begin{cases}
            \alpha / L & -L \le x < 0 \\
            \beta / R & 0 \le x \le R \\
            0 & \text{otherwise}
        \end{cases}

    the derivative of the primitive

    .. math::

        g(x) = \begin{cases}
            0 & x < -L \\
            \alpha (x + L) / L & -L \le x < 0 \\
            \alpha + \beta x / R & 0 \le x \le R \\
            \alpha + \beta & x > R
        \end{cases}

    whose total rise is ``alpha + beta``. ``keep="height"`` keeps the initial
    heights as the window narrows; ``max_height`` caps both. The figure (drawn
    by the documentation build) shows the first and last window by default:

    .. adali-window-plot::

    Paper: K. Hou, K. Wu, Y. Zhou, "Adaptive and lightweight surrogate
    gradients: enhancing training efficiency of spiking neural networks",
    Frontiers in Neuroscience, 2026, doi:10.3389/fnins.2026.1795946.

    Args:
        alpha: gradient mass below threshold (>= 0).
        beta: gradient mass at or above threshold (>= 0).
        left: initial half-width of the window below threshold (> 0).
        right: initial half-width of the window above threshold (> 0).
        left_final: final half-width below threshold (> 0); None: ``p * left``
            if ``p`` is given, else 0.3 (the released code's).
        right_final: final half-width above threshold, likewise.
        p: final width as a ratio of the initial one, in (0, 1] (ours).
        schedule: ``"log"`` (released default), ``"linear"``, ``"sqrt"``,
            ``"fixed"``; ours: ``"linear_lagfree"``, ``"cosine"``, ``"exp"``,
            ``"step"``, or a callable ``q -> factor``.
        keep: ``"area"`` (heights grow as the window narrows) or ``"height"``.
        max_height: optional cap (> 0) on both heights, against explosion.
        spiking: spikes with the AdaLi gradient (True) or the primitive (False).

    Raises:
        ValueError: a value is out of range; the message names it.
    """

    def __init__(
        self,
        *,
        alpha: float = DEFAULTS.alpha,
        beta: float = DEFAULTS.beta,
        left: float = DEFAULTS.left,
        right: float = DEFAULTS.right,
        left_final: float | None = DEFAULTS.left_final,
        right_final: float | None = DEFAULTS.right_final,
        p: float | None = DEFAULTS.p,
        schedule: Schedule = DEFAULTS.schedule,
        keep: KeepMode = DEFAULTS.keep,
        max_height: float | None = DEFAULTS.max_height,
        spiking: bool = True,
    ) -> None:
        params = AdaLiParams(
            alpha=alpha,
            beta=beta,
            left=left,
            right=right,
            left_final=left_final,
            right_final=right_final,
            p=p,
            schedule=schedule,
            keep=keep,
            max_height=max_height,
        )
        if LEGACY:
            SurrogateFunctionBase.__init__(self, None, spiking)
            del self.alpha
        else:
            SurrogateFunctionBase.__init__(self, spiking=spiking)
        self._init_adali(params)
        if _FAST_LIF["wanted"] and not _FAST_LIF["enabled"]:
            _switch(True)

    @classmethod
    def from_params(cls, params: AdaLiParams | None = None) -> AdaLi:
        """Build from an :class:`AdaLiParams` record."""
        p = params if params is not None else AdaLiParams()
        return cls(**{f.name: getattr(p, f.name) for f in dataclasses.fields(p)})

    @staticmethod
    def spiking_function(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
        """Heaviside (x >= 0) forward with the AdaLi backward."""
        return adali_spike(x, window, inclusive=True)

    @staticmethod
    def primitive_function(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
        """The integral of the AdaLi derivative: 0 below the window, area above."""
        left, right, h_lo, h_hi = window.to(x.dtype).unbind()
        return adali_primitive(x, left, right, h_lo, h_hi)

    @staticmethod
    def backward(
        grad_output: torch.Tensor, x: torch.Tensor, window: torch.Tensor
    ) -> torch.Tensor:
        """``grad_output * g(x)``, in SpikingJelly's static-backward style."""
        left, right, h_lo, h_hi = window.to(x.dtype).unbind()
        return grad_output * adali_grad(x, left, right, h_lo, h_hi)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        refuse_tracing()
        if self.spiking:
            spikes, code = adali_spike_code(x, self.window, inclusive=True)
            if code is not None:  # a training forward: note the units inside
                record_codes(self, code, batch_dims=1)
            return spikes
        record(self, x, self.window)
        return self.primitive_function(x, self.window)

    def extra_repr(self) -> str:
        return f"{self._window_repr()}, spiking={self.spiking}"

    def cuda_code(self, x: str, y: str, dtype: str = "fp32") -> str:
        """CUDA source declaring ``y = g(x)`` (0.0.0.0.14's older kernel API)."""
        kind = {"fp32": "float", "fp16": "half2"}.get(dtype)
        if kind is None:
            raise NotImplementedError(f"dtype must be 'fp32' or 'fp16', got {dtype!r}")
        return (
            f"// start: adali_plugins.spikingjelly.AdaLi.cuda_code\n"
            f"{cuda_source(f'const {kind} {y}', x, kind, self._window_values())}\n"
            f"// end: adali_plugins.spikingjelly.AdaLi.cuda_code\n"
        )

    @property
    def cuda_codes(self) -> _CudaCodes:  # type: ignore[override]
        """Kernel-source generator for 0.0.0.0.14's cupy backend.

        The backend caches a compiled kernel while ``cuda_codes`` compares equal;
        the returned object compares by the current window, so a new epoch's
        window recompiles the kernel instead of silently reusing the old one.
        """
        return _CudaCodes(self._window_values())

    def _window_values(self) -> tuple[float, float, float, float]:
        w = self.current_window()
        return (w.left, w.right, w.h_lo, w.h_hi)


class _CudaCodes:
    """``cuda_codes(y, x, dtype)`` bound to one window; equal iff same window."""

    def __init__(self, window: tuple[float, float, float, float]) -> None:
        self.window = window

    def __call__(self, y: str, x: str, dtype: str) -> str:
        return cuda_source(y, x, dtype, self.window)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _CudaCodes) and other.window == self.window

    def __hash__(self) -> int:
        return hash(self.window)


_UNSUPPORTED = {
    "ILIFNode": "its fused kernel only accepts surrogate.MultiLevelSpikeCount",
}


def invalidate_caches(model: torch.nn.Module) -> None:
    """Make spikingjelly 2.0's ``reset_net`` forget ``model``'s cached module list."""
    invalidate = getattr(functional, "invalidate_reset_cache", None)
    if invalidate is not None:
        invalidate(model)


_FAST_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_FAST_LIF: dict[str, bool] = {"enabled": False, "wanted": True}
_ORIGINALS: dict[str, Callable[..., Any]] = {}
_HOOK_DICTS = (
    "_forward_hooks",
    "_forward_pre_hooks",
    "_backward_hooks",
    "_backward_pre_hooks",
)
_GLOBAL_HOOKS = tuple(f"_global{name}" for name in _HOOK_DICTS)
_functorch_active = getattr(torch._C, "_are_functorch_transforms_active", None)


_TRITON_NOTICE = ("torch._library.triton", "Triton not available")
"""spikingjelly 2.0 imports its operator library at the first call that reaches
its own ``*_multi_step`` (here: every call the AdaLi LIF does not take, such as
a neuron watched by ``MembraneMonitor``). On a machine without Triton, torch
logs this notice once per operator it registers. Dropped during those calls
only, never globally."""


class _DropNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_TRITON_NOTICE[1])


@contextlib.contextmanager
def _without_triton_notice() -> Iterator[None]:
    """Drop torch's "Triton not available" notice while the body runs."""
    logger = logging.getLogger(_TRITON_NOTICE[0])
    drop = _DropNotice()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def _quiet() -> contextlib.AbstractContextManager[None]:
    """:func:`_without_triton_notice`, or nothing while ``torch.compile`` traces."""
    if torch.compiler.is_compiling():
        return contextlib.nullcontext()
    return _without_triton_notice()


def _real(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _hooked(module: torch.nn.Module) -> bool:
    """Hooks on the surrogate (or on every module) expect it to be called."""
    glob = torch.nn.modules.module
    return any(getattr(module, name, None) for name in _HOOK_DICTS) or any(
        getattr(glob, name, None) for name in _GLOBAL_HOOKS
    )


def _fast(
    x_seq: object,
    v: object,
    surrogate_function: object,
    v_threshold: object,
    v_reset: object,
    neuron_storage: object,
    extra: dict[str, Any],
) -> bool:
    """Whether a ``*_multi_step`` call is one the AdaLi LIF computes exactly."""
    if not _FAST_LIF["enabled"] or extra or neuron_storage is not None:
        return False
    if _functorch_active is not None and _functorch_active():
        return False
    if type(surrogate_function) is not AdaLi or not surrogate_function.spiking:
        return False
    refuse_tracing()
    if _hooked(surrogate_function):
        return False
    if not (isinstance(x_seq, torch.Tensor) and isinstance(v, torch.Tensor)):
        return False
    if x_seq.dim() == 0 or x_seq.shape[0] == 0 or v.shape != x_seq.shape[1:]:
        return False
    if x_seq.dtype not in _FAST_DTYPES or v.dtype not in _FAST_DTYPES:
        return False
    if v.device != x_seq.device:
        return False
    return _real(v_threshold) and (v_reset is None or _real(v_reset))


def _lif_multi_step(
    x_seq: torch.Tensor,
    v: torch.Tensor,
    tau: float = 2.0,
    decay_input: bool = True,
    v_threshold: float = 1.0,
    v_reset: float | None = 0.0,
    surrogate_function: Any = None,
    detach_reset: bool = False,
    store_v_seq: bool = False,
    *,
    neuron_storage: Any = None,
    neuron_fwd: str = "fp32",
    neuron_bwd: str = "fp32",
    **extra: Any,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    if not torch.compiler.is_compiling() and (
        _real(tau)
        and _fast(
            x_seq, v, surrogate_function, v_threshold, v_reset, neuron_storage, extra
        )
    ):
        return adali_lif_multi_step(
            x_seq,
            v,
            tau=float(tau),
            decay_input=bool(decay_input),
            v_threshold=float(v_threshold),
            v_reset=None if v_reset is None else float(v_reset),
            detach_reset=bool(detach_reset),
            window=surrogate_function.window,
            track=surrogate_function,
            store_v_seq=bool(store_v_seq),
        )
    with _quiet():
        return _ORIGINALS["lif_multi_step"](
            x_seq,
            v,
            tau,
            decay_input,
            v_threshold,
            v_reset,
            surrogate_function,
            detach_reset,
            store_v_seq,
            neuron_storage=neuron_storage,
            neuron_fwd=neuron_fwd,
            neuron_bwd=neuron_bwd,
            **extra,
        )


def _if_multi_step(
    x_seq: torch.Tensor,
    v: torch.Tensor,
    v_threshold: float = 1.0,
    v_reset: float | None = 0.0,
    surrogate_function: Any = None,
    detach_reset: bool = False,
    store_v_seq: bool = False,
    *,
    neuron_storage: Any = None,
    neuron_fwd: str = "fp32",
    neuron_bwd: str = "fp32",
    **extra: Any,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    if not torch.compiler.is_compiling() and _fast(
        x_seq, v, surrogate_function, v_threshold, v_reset, neuron_storage, extra
    ):
        return adali_lif_multi_step(
            x_seq,
            v,
            tau=None,
            v_threshold=float(v_threshold),
            v_reset=None if v_reset is None else float(v_reset),
            detach_reset=bool(detach_reset),
            window=surrogate_function.window,
            track=surrogate_function,
            store_v_seq=bool(store_v_seq),
        )
    with _quiet():
        return _ORIGINALS["if_multi_step"](
            x_seq,
            v,
            v_threshold,
            v_reset,
            surrogate_function,
            detach_reset,
            store_v_seq,
            neuron_storage=neuron_storage,
            neuron_fwd=neuron_fwd,
            neuron_bwd=neuron_bwd,
            **extra,
        )


_WRAPPERS = {"lif_multi_step": _lif_multi_step, "if_multi_step": _if_multi_step}


def _unwrapped(fn: Callable[..., Any]) -> Callable[..., Any]:
    while getattr(fn, "_adali_fast_lif", False):
        fn = fn.__wrapped__  # type: ignore[attr-defined]
    return fn


def _patch_targets() -> tuple[Any, ...]:
    """The namespaces the neurons and ``lif_step`` / ``if_step`` look these up in."""
    defining = importlib.import_module(f"{functional.__name__}.neuron")
    return (functional, defining)


def set_fast_lif(enabled: bool) -> None:
    """Route ``AdaLi`` LIF/IF neurons through the 1-byte LIF (True) or not (False).

    Importing this adapter changes nothing in SpikingJelly. The first ``AdaLi``
    built installs wrappers of SpikingJelly's ``lif_multi_step`` /
    ``if_multi_step`` that take the fast path for AdaLi neurons only (any other
    surrogate goes straight to SpikingJelly's function). ``set_fast_lif(False)``
    puts the original functions back and keeps them there;
    ``set_fast_lif(True)`` installs the wrappers now. Idempotent. No effect on
    spikingjelly 0.0.0.0.14, whose neurons keep their own path. See also the
    scoped :func:`fast_lif`.
    """
    _FAST_LIF["wanted"] = bool(enabled)
    _switch(enabled)


@contextlib.contextmanager
def fast_lif(enabled: bool = True) -> Iterator[None]:
    """Within the block, the fast LIF path is on (or off); restored afterwards."""
    before = dict(_FAST_LIF)
    set_fast_lif(enabled)
    try:
        yield
    finally:
        _FAST_LIF["wanted"] = before["wanted"]
        _switch(before["enabled"])


def _switch(enabled: bool) -> None:
    if LEGACY:
        return
    targets = _patch_targets()
    for name, wrapper in _WRAPPERS.items():
        if name not in _ORIGINALS:
            _ORIGINALS[name] = _unwrapped(getattr(targets[-1], name))
            functools.update_wrapper(wrapper, _ORIGINALS[name], assigned=("__doc__",))
            wrapper._adali_fast_lif = True  # type: ignore[attr-defined]
        for module in targets:
            current = getattr(module, name)
            ours = getattr(current, "_adali_fast_lif", False)
            if enabled and (ours or current is _ORIGINALS[name]):
                setattr(module, name, wrapper)
            elif not enabled and ours:
                setattr(module, name, _ORIGINALS[name])
    _FAST_LIF["enabled"] = bool(enabled)


def fast_lif_enabled() -> bool:
    """Whether ``AdaLi`` LIF/IF neurons currently take the 1-byte LIF path."""
    return (
        not LEGACY
        and _FAST_LIF["enabled"]
        and getattr(functional, "lif_multi_step", None) is _lif_multi_step
    )


def _register() -> None:
    if not hasattr(surrogate, "AdaLi"):
        surrogate.AdaLi = AdaLi
    families = dict.fromkeys(
        ("BaseNode", "SimpleBaseNode", "ActivationAwareIFNode", "GatedLIFNode")
    )
    for name, why in {**families, **_UNSUPPORTED}.items():
        base = getattr(neuron, name, None)
        if base is not None:
            register_neuron(
                base,
                host="spikingjelly",
                attr="surrogate_function",
                make=AdaLi.from_params,
                unsupported=why,
                on_swap=invalidate_caches,
                eval_skips_surrogate=LEGACY,
            )


_register()
