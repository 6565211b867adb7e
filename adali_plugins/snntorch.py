"""snnTorch adapter: ``adali()`` for any neuron's ``spike_grad``.

>>> import snntorch as snn
>>> from adali_plugins.snntorch import adali
>>> lif = snn.Leaky(beta=0.9, spike_grad=adali())

``adali()`` returns an ``nn.Module`` (snnTorch registers it as the neuron's child),
so its state travels with the model, unlike snnTorch's closure surrogates, which
also make whole-model ``torch.save`` fail. snnTorch fires at ``x > 0``; so does
this surrogate. Importing this module also publishes ``snntorch.surrogate.adali``.

snnTorch calls ``spike_grad`` twice per step: in ``fire`` and in ``mem_reset``,
which detaches the result. AdaLi recognises the second call by its caller
(``SpikingNeuron.mem_reset``) and returns plain spikes there, so it builds no
autograd node whose work would be thrown away. Spikes and gradients are the same
either way; only time is saved.

Note: snnTorch's ``Leaky(beta=...)`` is the membrane decay; AdaLi's ``beta`` is
the gradient mass at or above threshold.
"""

from __future__ import annotations

import sys

from .hosts import require

require("snntorch")

import snntorch  # noqa: E402
import snntorch.surrogate  # noqa: E402
import torch  # noqa: E402
from snntorch._neurons import SpikingNeuron  # noqa: E402
from torch import nn  # noqa: E402

from .registry import register_neuron  # noqa: E402
from .starvation import record_codes  # noqa: E402
from .state import AdaLiState, refuse_tracing  # noqa: E402
from .surrogate import adali_spike, adali_spike_code, heaviside  # noqa: E402
from .window import DEFAULTS, AdaLiParams, KeepMode, Schedule  # noqa: E402

__all__ = ["AdaLi", "adali"]

_DETACHED_CALLERS = frozenset({SpikingNeuron.mem_reset.__code__})
_CALLER_DEPTH = 6


def _result_is_detached() -> bool:
    """Whether the surrogate was called from a host function that detaches it.

    Looks a few frames up (``forward``, ``nn.Module.__call__`` layers, then the
    caller) for the code object of ``SpikingNeuron.mem_reset``.
    """
    frame = sys._getframe(2)
    for _ in range(_CALLER_DEPTH):
        if frame is None:
            return False
        if frame.f_code in _DETACHED_CALLERS:
            return True
        frame = frame.f_back
    return False


class AdaLi(AdaLiState, nn.Module):
    """AdaLi surrogate as an snnTorch ``spike_grad`` module (fires at x > 0).

    Call it with ``x = mem - threshold``; it returns spikes in ``x``'s dtype.
    Build it with :func:`adali`.
    """

    def __init__(self, params: AdaLiParams | None = None) -> None:
        super().__init__()
        self._init_adali(params if params is not None else AdaLiParams())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        refuse_tracing()
        if torch.compiler.is_compiling():
            # no frames to tell the reset call from the firing one: not tracked
            return adali_spike(x, self.window, inclusive=False)
        if _result_is_detached():
            return heaviside(x, inclusive=False)
        spikes, code = adali_spike_code(x, self.window, inclusive=False)
        if code is not None:  # a training forward: note the units inside
            record_codes(self, code, batch_dims=1)
        return spikes

    def extra_repr(self) -> str:
        return self._window_repr()


def adali(
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
) -> AdaLi:
    r"""AdaLi surrogate for snnTorch, like ``snntorch.surrogate.atan()``.

    The neuron hands it ``x = u - threshold``. Forward: snnTorch's own
    step, a spike when ``x > 0``.

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
        beta: gradient mass at or above threshold (>= 0); not the membrane decay.
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

    Raises:
        ValueError: a value is out of range; the message names it.
    """
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
    return AdaLi(params)


def _register() -> None:
    if not hasattr(snntorch.surrogate, "adali"):
        snntorch.surrogate.adali = adali
    register_neuron(
        SpikingNeuron,
        host="snntorch",
        attr="spike_grad",
        make=AdaLi,
        reset_call="mem_reset",
    )
    parallel = getattr(snntorch, "LeakyParallel", None)
    if parallel is not None:
        register_neuron(parallel, host="snntorch", attr="spike_grad", make=AdaLi)


_register()
