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
"""

from __future__ import annotations

import inspect

from .hosts import require

require("spikingjelly")

import torch  # noqa: E402
from spikingjelly.activation_based import functional, neuron, surrogate  # noqa: E402
from spikingjelly.activation_based.surrogate import SurrogateFunctionBase  # noqa: E402

from .registry import register_neuron  # noqa: E402
from .schedule import AdaLiParams, KeepMode, Schedule  # noqa: E402
from .state import AdaLiState  # noqa: E402
from .surrogate import adali_grad, adali_primitive, adali_spike  # noqa: E402

__all__ = ["LEGACY", "AdaLi"]

LEGACY = "alpha" in inspect.signature(SurrogateFunctionBase.__init__).parameters
"""True on spikingjelly 0.0.0.0.14, whose base constructor takes ``alpha``."""


class AdaLi(AdaLiState, SurrogateFunctionBase):
    """AdaLi surrogate for SpikingJelly neurons (fires at x >= 0).

    Args:
        alpha: gradient mass below threshold (>= 0).
        beta: gradient mass at or above threshold (>= 0).
        left: initial half-width L0 of the window below threshold (> 0).
        right: initial half-width R0 of the window above threshold (> 0).
        p: final width ratio f(1) in (0, 1].
        schedule: ``"linear"``, ``"cosine"``, ``"exp"``, ``"step"`` or ``q -> f``.
        keep: ``"area"`` (heights grow as the window narrows) or ``"height"``.
        max_height: optional cap (> 0) on both heights, against explosion.
        spiking: spikes with the AdaLi gradient (True) or the primitive (False).

    Raises:
        ValueError: a value is out of range; the message names it.
    """

    def __init__(
        self,
        *,
        alpha: float = 0.5,
        beta: float = 0.5,
        left: float = 0.5,
        right: float = 1.5,
        p: float = 0.2,
        schedule: Schedule = "linear",
        keep: KeepMode = "area",
        max_height: float | None = None,
        spiking: bool = True,
    ) -> None:
        params = AdaLiParams(
            alpha=alpha,
            beta=beta,
            left=left,
            right=right,
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

    @classmethod
    def from_params(cls, params: AdaLiParams | None = None) -> AdaLi:
        """Build from an :class:`AdaLiParams` record."""
        p = params if params is not None else AdaLiParams()
        return cls(
            alpha=p.alpha,
            beta=p.beta,
            left=p.left,
            right=p.right,
            p=p.p,
            schedule=p.schedule,
            keep=p.keep,
            max_height=p.max_height,
        )

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
        if self.spiking:
            return self.spiking_function(x, self.window)
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
            f"{_cuda_backward(f'const {kind} {y}', x, kind, self._window_values())}\n"
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


def _cuda_float(value: float) -> str:
    return f"{value!r}f"


def _cuda_backward(
    y: str, x: str, dtype: str, window: tuple[float, float, float, float]
) -> str:
    """Statements assigning ``y = g(x)`` for a 'float' or 'half2' kernel."""
    left, right, h_lo, h_hi = (_cuda_float(v) for v in window)
    if dtype == "float":
        return (
            f"const float adali_backward__x = {x};\n"
            f"{y} = adali_backward__x < 0.0f"
            f" ? (adali_backward__x >= -{left} ? {h_lo} : 0.0f)"
            f" : (adali_backward__x <= {right} ? {h_hi} : 0.0f);"
        )
    if dtype == "half2":
        zero = "__float2half2_rn(0.0f)"
        return (
            f"const half2 adali_backward__below = __hmul2(__hmul2("
            f"__hge2({x}, __float2half2_rn(-{left})), __hlt2({x}, {zero})), "
            f"__float2half2_rn({h_lo}));\n"
            f"const half2 adali_backward__above = __hmul2(__hmul2("
            f"__hge2({x}, {zero}), __hle2({x}, __float2half2_rn({right}))), "
            f"__float2half2_rn({h_hi}));\n"
            f"{y} = __hadd2(adali_backward__below, adali_backward__above);"
        )
    raise NotImplementedError(f"dtype must be 'float' or 'half2', got {dtype!r}")


class _CudaCodes:
    """``cuda_codes(y, x, dtype)`` bound to one window; equal iff same window."""

    def __init__(self, window: tuple[float, float, float, float]) -> None:
        self.window = window

    def __call__(self, y: str, x: str, dtype: str) -> str:
        return _cuda_backward(y, x, dtype, self.window)

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
            )


_register()
