"""``MembraneMonitor``: per-layer statistics of the potential each surrogate sees.

>>> with MembraneMonitor(model, time_steps=T) as mon:     # doctest: +SKIP
...     for x, _ in calib_batches:
...         model(x)
>>> print(mon.summary())                                  # doctest: +SKIP

While active, each spiking layer's surrogate is reached through a per-layer probe
that records ``x = u - threshold`` exactly as the surrogate receives it: before
fire/reset, pooled over time steps and batch. This works for AdaLi and for the
hosts' built-in surrogates alike, and for surrogate objects shared by many layers.

Host traps handled here:

* snnTorch calls the surrogate a second time per step inside ``mem_reset`` (its
  result detached); those calls are not counted.
* SpikingJelly's ``node.v`` after a step is post-reset; the probe sees the
  pre-reset potential instead.
* spikingjelly 0.0.0.0.14's LIF/IF nodes skip the surrogate in eval mode; while
  the monitor is attached they run their (identical) training-mode step.
* SpikingJelly 2.0 never calls a built-in surrogate on its fused multi-step path.
  The probe is not a built-in, so while the monitor is active those layers run
  SpikingJelly's reference (autograd) path, which computes the same spikes and
  gradients, and the probe sees every step.

The probe lives in the neuron's instance ``__dict__`` and shadows the registered
surrogate without replacing it, so ``state_dict`` keys never change. ``remove()``
(or leaving the ``with`` block) deletes every probe: nothing is left behind.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .attach import SpikingLayer, _describe, spiking_layers
from .starvation import entered
from .state import AdaLiState
from .stats import (
    HistogramSpec,
    LayerSummary,
    empty_state,
    summarize,
    synced,
    update,
    update_grad,
)
from .support import surrogate_window
from .window import AdaLiParams

logger = logging.getLogger(__name__)

_MONITORED: weakref.WeakSet[nn.Module] = weakref.WeakSet()


class _LayerRecorder:
    """Statistics of one layer, updated by its probe."""

    def __init__(
        self,
        layer: SpikingLayer,
        spec: HistogramSpec,
        time_steps: int | None,
        reference: tuple[float, float] | None,
        grad_norms: bool = False,
    ) -> None:
        self.path = layer.path
        self.neuron = layer.neuron
        self.attr = layer.family.attr
        self.spec = spec
        self.time_steps = time_steps
        self.reference = reference
        self.state: dict[str, torch.Tensor] | None = None
        self.seen_window: tuple[torch.Tensor | float, torch.Tensor | float] | None = (
            None
        )
        self.calls = 0
        self.warned_nonfinite = False
        self.grad_norms = grad_norms
        self.reached: torch.Tensor | None = None

    def surrogate(self) -> Any:
        inner = self.neuron.__dict__.get(self.attr)
        if isinstance(inner, _Probe):
            return inner.inner
        return getattr(self.neuron, self.attr)

    def window(self) -> tuple[torch.Tensor | float, torch.Tensor | float]:
        surrogate = self.surrogate()
        if isinstance(surrogate, AdaLiState):
            return surrogate.window[0], surrogate.window[1]
        if self.reference is None:
            self.reference = surrogate_window(surrogate)
        return self.reference

    def record(self, x: torch.Tensor) -> None:
        if self.state is None:
            self.state = empty_state(
                self.spec, time_steps=self.time_steps, device=x.device
            )
        left, right = self.window()
        if isinstance(left, torch.Tensor):
            left, right = left.clone(), right.clone()
        self.seen_window = (left, right)
        step = self.calls % self.time_steps if self.time_steps else None
        update(self.state, x, left=left, right=right, spec=self.spec, step=step)
        self.record_reached(x, left, right)
        self.calls += 1
        if self.grad_norms and x.requires_grad:
            x.register_hook(self.record_grad)

    def record_reached(self, x: torch.Tensor, left: Any, right: Any) -> None:
        """OR in which units (``x``'s shape without batch) entered the window."""
        with torch.no_grad():
            part = entered(x.detach(), left, right).to(torch.uint8)
        old = self.reached
        if old is None or old.shape != part.shape or old.device != part.device:
            self.reached = part
        else:
            torch.maximum(old, part, out=old)

    def record_grad(self, grad: torch.Tensor) -> None:
        if self.state is not None:
            update_grad(self.state, grad)

    def reset(self) -> None:
        self.state = None
        self.seen_window = None
        self.calls = 0
        self.reached = None


class _Probe:
    """Stands in for a layer's surrogate: records its input, then calls it."""

    def __init__(self, inner: Any, recorder: _LayerRecorder) -> None:
        self.inner = inner
        self.recorder = recorder
        self.muted = False

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if not self.muted:
            self.recorder.record(x)
        return self.inner(x)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _train_mode_hooks(neuron: nn.Module) -> list[Any]:
    """Run ``neuron`` in training mode during its forward only, so that a host
    whose eval path skips the surrogate still shows the probe every step."""
    previous: list[bool] = []

    def before(module: nn.Module, args: Any) -> None:
        previous.append(module.training)
        module.training = True

    def after(module: nn.Module, args: Any, output: Any) -> None:
        module.training = previous.pop()

    return [
        neuron.register_forward_pre_hook(before),
        neuron.register_forward_hook(after),
    ]


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share:.1%}"


class MonitorSummary:
    """Per-layer statistics: print it, or write it as CSV or JSON.

    Args:
        rows: One ``LayerSummary`` per monitored layer, as
            ``MembraneMonitor.summary()`` builds them.
    """

    def __init__(self, rows: list[LayerSummary]) -> None:
        self.rows = rows

    def __iter__(self) -> Iterator[LayerSummary]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, layer: str) -> LayerSummary:
        for row in self.rows:
            if row.layer == layer:
                return row
        raise KeyError(f"no layer {layer!r}; layers: {[r.layer for r in self.rows]}")

    @property
    def density(self) -> float:
        """Computational density averaged over layers, as the authors report it.

        NaN when no layer recorded a potential.
        """
        values = [r.density for r in self.rows if r.count]
        return sum(values) / len(values) if values else math.nan

    def table(self) -> str:
        """A terminal table, one line per layer."""
        head = (
            f"{'layer':<22}{'neuron':<18}{'surrogate':<12}{'count':>10}{'mean':>8}"
            f"{'std':>7}{'q05':>7}{'q50':>7}{'q95':>7}{'density':>8}"
            f"{'below':>7}{'above':>7}{'starved':>8}{'nonfin':>7}  window"
        )
        lines = [head, "-" * (len(head) + 16)]
        for r in self.rows:
            lines.append(
                f"{r.layer[:21]:<22}{r.neuron[:17]:<18}{r.surrogate[:11]:<12}"
                f"{r.count:>10}{r.mean:>8.3f}{r.std:>7.3f}{r.quantiles['05']:>7.2f}"
                f"{r.quantiles['50']:>7.2f}{r.quantiles['95']:>7.2f}{r.density:>8.1%}"
                f"{r.share['outside_below']:>7.1%}{r.share['outside_above']:>7.1%}"
                f"{_percent(r.starved):>8}"
                f"{r.nan + r.inf:>7}  [-{r.window_left:.3g}, {r.window_right:.3g}]"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def to_dicts(self) -> list[dict[str, object]]:
        return [r.flat() for r in self.rows]

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dicts(), indent=2))

    def to_csv(self, path: str | Path) -> None:
        rows = [
            {k: v for k, v in r.items() if not isinstance(v, list)}
            for r in self.to_dicts()
        ]
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["layer"])
            writer.writeheader()
            writer.writerows(rows)


class MembraneMonitor:
    """Streaming statistics of x = u - threshold for every spiking layer of a model.

    Args:
        model: an snnTorch or SpikingJelly model (AdaLi or built-in surrogates).
        layers: module paths to watch; all spiking layers by default.
        time_steps: T, for a per-time-step breakdown (step = call index mod T;
            start the monitor at a sequence boundary).
        hist_range: histogram range of x; 0 must be a bin edge.
        bins: number of histogram bins.
        reference: the window used for the in-window share of layers that do
            not use AdaLi: AdaLi parameters (their epoch-0 window; default: the
            defaults, to look before switching), or ``"own"`` for each
            surrogate's own window (where its derivative exceeds 10% of its
            peak, see ``support.surrogate_window``).
        grad_norms: also record, per layer, the norm of the gradient leaving the
            spike function (dL/dx, one norm per backward call): mean and max in
            the summary, to see explosion or vanishing before it ruins a run.

    Raises:
        RuntimeError: a layer is already watched by another active monitor.
        NoSpikingLayerError: the model holds no spiking neuron.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        layers: list[str] | None = None,
        time_steps: int | None = None,
        hist_range: tuple[float, float] = (-4.0, 4.0),
        bins: int = 200,
        reference: AdaLiParams | str | None = None,
        grad_norms: bool = False,
    ) -> None:
        if time_steps is not None and (
            not isinstance(time_steps, int) or time_steps < 1
        ):
            raise ValueError(
                f"time_steps must be an int >= 1 or None, got {time_steps!r}"
            )
        self.model = model
        self.spec = HistogramSpec(float(hist_range[0]), float(hist_range[1]), int(bins))
        self.time_steps = time_steps
        self.grad_norms = grad_norms
        if reference == "own":
            self.reference: tuple[float, float] | None = None
        else:
            ref = reference if reference is not None else AdaLiParams()
            if not isinstance(ref, AdaLiParams):
                raise ValueError(f"reference must be AdaLiParams or 'own', got {ref!r}")
            w = ref.window(0.0)
            self.reference = (w.left, w.right)
        found = spiking_layers(model)
        if layers is not None:
            known = {layer.path for layer in found}
            unknown = sorted(set(layers) - known)
            if unknown:
                raise ValueError(
                    f"layers {unknown} are not spiking layers of the model; "
                    f"known: {sorted(known)}"
                )
            found = [layer for layer in found if layer.path in layers]
        if not found:
            from .attach import NoSpikingLayerError

            raise NoSpikingLayerError(
                f"{type(model).__name__} has no spiking layer to monitor"
            )
        self._layers = found
        self._recorders: dict[str, _LayerRecorder] = {}
        self._installed: list[tuple[nn.Module, str, bool, Any]] = []
        self._hooks: list[Any] = []
        self.attach()

    @property
    def layers(self) -> list[str]:
        """Module paths of the watched layers."""
        return [layer.path for layer in self._layers]

    @property
    def active(self) -> bool:
        return bool(self._installed)

    def attach(self) -> None:
        """Install the probes (the constructor does; call again after ``remove()``)."""
        if self.active:
            return
        busy = [layer.path for layer in self._layers if layer.neuron in _MONITORED]
        if busy:
            raise RuntimeError(
                f"layers {busy} are already watched by another MembraneMonitor; "
                "remove() it first"
            )
        for layer in self._layers:
            rec = self._recorders.get(layer.path)
            if rec is None:
                rec = _LayerRecorder(
                    layer, self.spec, self.time_steps, self.reference, self.grad_norms
                )
                self._recorders[layer.path] = rec
            self._install(layer, rec)

    def _install(self, layer: SpikingLayer, rec: _LayerRecorder) -> None:
        neuron, attr = layer.neuron, layer.family.attr
        had_own = attr in neuron.__dict__
        original = neuron.__dict__.get(attr)
        probe = _Probe(getattr(neuron, attr), rec)
        object.__setattr__(neuron, attr, probe)
        self._installed.append((neuron, attr, had_own, original))
        reset_call = layer.family.reset_call
        if reset_call is not None and hasattr(type(neuron), reset_call):
            bound = getattr(type(neuron), reset_call).__get__(neuron)

            def muted(*args: Any, _bound: Any = bound, _probe: _Probe = probe) -> Any:
                _probe.muted = True
                try:
                    return _bound(*args)
                finally:
                    _probe.muted = False

            object.__setattr__(neuron, reset_call, muted)
            self._installed.append((neuron, reset_call, False, None))
        if layer.family.eval_skips_surrogate:
            self._hooks += _train_mode_hooks(neuron)
        _MONITORED.add(neuron)

    def remove(self) -> None:
        """Remove every probe; the model is exactly as before. Statistics are kept."""
        for neuron, attr, had_own, original in reversed(self._installed):
            if had_own:
                object.__setattr__(neuron, attr, original)
            else:
                neuron.__dict__.pop(attr, None)
            _MONITORED.discard(neuron)
        self._installed = []
        for handle in self._hooks:
            handle.remove()
        self._hooks = []

    def __enter__(self) -> MembraneMonitor:
        self.attach()
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def reset(self) -> None:
        """Forget all statistics (the probes stay installed)."""
        for rec in self._recorders.values():
            rec.reset()

    def state_dict(self) -> dict[str, Any]:
        """Local statistics of every layer, to checkpoint a calibration midway."""
        return {
            "spec": (self.spec.lo, self.spec.hi, self.spec.bins),
            "time_steps": self.time_steps,
            "layers": {
                path: {
                    "calls": rec.calls,
                    "state": None
                    if rec.state is None
                    else {k: v.clone() for k, v in rec.state.items()},
                }
                for path, rec in self._recorders.items()
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state_dict()`` (same layers, histogram and time steps).

        Everything is checked before any layer changes: the histogram spec and
        time steps, each layer's call count (an int >= 0) and statistics (the
        fields, shapes and dtypes this monitor's own empty state has).

        Raises:
            ValueError: naming the first entry that does not fit; the monitor
                is unchanged.
        """
        if not isinstance(state, Mapping):
            raise ValueError(
                f"monitor state must be a dict, got {type(state).__name__}"
            )
        lacking = sorted({"spec", "time_steps", "layers"} - set(state))
        if lacking:
            raise ValueError(f"monitor state lacks {lacking}")
        spec = (self.spec.lo, self.spec.hi, self.spec.bins)
        try:
            saved_spec = tuple(state["spec"])
        except TypeError:
            saved_spec = (state["spec"],)
        if saved_spec != spec or state["time_steps"] != self.time_steps:
            raise ValueError(
                f"monitor state has histogram {saved_spec} and time_steps "
                f"{state['time_steps']!r}, this monitor {spec} and {self.time_steps}"
            )
        layers = state["layers"]
        if not isinstance(layers, Mapping):
            raise ValueError(
                f"monitor state's layers must be a dict, got {type(layers).__name__}"
            )
        unknown = sorted(set(layers) - set(self._recorders), key=str)
        if unknown:
            raise ValueError(
                f"monitor state has layers {unknown} this monitor does not watch"
            )
        want = empty_state(self.spec, time_steps=self.time_steps)
        loaded = {
            path: _checked_layer_state(path, saved, want)
            for path, saved in layers.items()
        }
        for path, (calls, stats) in loaded.items():
            rec = self._recorders[path]
            rec.calls, rec.state = calls, stats

    def state(self, layer: str, *, sync: bool = True) -> dict[str, torch.Tensor]:
        """The raw statistics of one layer (all-reduced over ranks when ``sync``)."""
        rec = self._recorder(layer)
        state = (
            rec.state
            if rec.state is not None
            else empty_state(self.spec, time_steps=self.time_steps)
        )
        return synced(state) if sync else {k: v.clone() for k, v in state.items()}

    def _recorder(self, layer: str) -> _LayerRecorder:
        try:
            return self._recorders[layer]
        except KeyError:
            raise KeyError(
                f"no monitored layer {layer!r}; layers: {self.layers}"
            ) from None

    def surrogate_of(self, layer: str) -> Any:
        """The surrogate layer ``layer`` uses (not the probe)."""
        return self._recorder(layer).surrogate()

    def summary(self, *, sync: bool = True) -> MonitorSummary:
        """Per-layer statistics; across ranks when ``sync`` and distributed.

        Each row's ``starved`` is the share of the layer's units (the potential's
        shape without batch) whose potential never entered the window in any
        monitored call: those got no gradient from a compact surrogate.
        """
        rows = []
        for path in self.layers:
            rec = self._recorders[path]
            state = self.state(path, sync=sync)
            if rec.reached is not None:
                mask = {"reached": rec.reached}
                state["reached"] = (synced(mask) if sync else mask)["reached"]
            left, right = rec.seen_window or rec.window()
            if self.time_steps and rec.calls % self.time_steps:
                logger.warning(
                    "layer %s saw %d calls, not a multiple of time_steps=%d",
                    path,
                    rec.calls,
                    self.time_steps,
                )
            row = summarize(
                state,
                self.spec,
                layer=path,
                neuron=type(rec.neuron).__name__,
                surrogate=_describe(rec.surrogate()),
                window_left=float(left),
                window_right=float(right),
            )
            nonfinite = row.nan + row.inf
            if nonfinite and not rec.warned_nonfinite:
                rec.warned_nonfinite = True
                logger.warning(
                    "layer %s: %d non-finite membrane potentials", path, nonfinite
                )
            rows.append(row)
        return MonitorSummary(rows)


def _checked_layer_state(
    path: str, saved: Any, want: dict[str, torch.Tensor]
) -> tuple[int, dict[str, torch.Tensor] | None]:
    """One layer's saved ``(calls, statistics)``, checked against ``want``."""
    where = f"monitor state of layer {path!r}"
    if not isinstance(saved, Mapping) or not {"calls", "state"} <= set(saved):
        raise ValueError(f"{where} must be a dict with 'calls' and 'state'")
    calls = saved["calls"]
    if isinstance(calls, bool) or not isinstance(calls, int) or calls < 0:
        raise ValueError(f"{where}: calls must be an int >= 0, got {calls!r}")
    stats = saved["state"]
    if stats is None:
        return calls, None
    if not isinstance(stats, Mapping) or set(stats) != set(want):
        got = sorted(stats) if isinstance(stats, Mapping) else type(stats).__name__
        raise ValueError(
            f"{where}: statistics must have fields {sorted(want)}, got {got}"
        )
    for name, ref in want.items():
        value = stats[name]
        if not isinstance(value, torch.Tensor) or (value.shape, value.dtype) != (
            ref.shape,
            ref.dtype,
        ):
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else None
            dtype = value.dtype if isinstance(value, torch.Tensor) else type(value)
            raise ValueError(
                f"{where}: {name} must be a {ref.dtype} tensor of shape "
                f"{tuple(ref.shape)}, got {dtype} of shape {shape}"
            )
    return calls, {k: v.clone() for k, v in stats.items()}
