"""What one run of the comparison is: host, surrogate (with options) and seed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from ..window import AdaLiParams
from .baselines import BASELINES
from .baselines import make as make_baseline

BUILTINS: dict[str, tuple[str, ...]] = {
    "snntorch": (
        "atan",
        "fast_sigmoid",
        "sigmoid",
        "triangular",
        "straight_through_estimator",
    ),
    "spikingjelly": ("ATan", "Sigmoid", "PiecewiseQuadratic", "Erf", "Rect"),
}
"""The host built-ins compared by default (SpikingJelly's ``Rect`` is rectangular)."""

ADALI_OPTIONS = {f.name for f in fields(AdaLiParams)}
"""AdaLi's own options, read from the one definition in ``schedule.py``."""
HARNESS_OPTIONS = {"calibrate", "coverage"}


@dataclass(frozen=True)
class SurrogateSpec:
    """A surrogate by name, with options: ``AdaLi``, ``AdaLi:p=1,calibrate=both``.

    AdaLi accepts its own parameters plus ``calibrate`` (``mass``, ``window``,
    ``both``: calibrate at train start and every epoch) and ``coverage``.
    Built-ins accept the host's own constructor arguments (``atan:alpha=3``).
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        if not self.options:
            return self.name
        opts = ",".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.name}:{opts}"

    @property
    def is_adali(self) -> bool:
        return self.name == "AdaLi"

    @property
    def is_baseline(self) -> bool:
        return self.name in BASELINES

    @property
    def calibration(self) -> str | None:
        return self.options.get("calibrate")

    def factory(self, host: str) -> Callable[[], Any]:
        """A zero-argument constructor of this surrogate for ``host``."""
        params = {k: v for k, v in self.options.items() if k not in HARNESS_OPTIONS}
        if self.is_adali:
            unknown = set(params) - ADALI_OPTIONS
            if unknown:
                raise ValueError(
                    f"unknown AdaLi option(s) {sorted(unknown)} in {self.label!r}"
                )
            if host == "snntorch":
                from ..snntorch import adali

                return lambda: adali(**params)
            from ..spikingjelly import AdaLi

            return lambda: AdaLi(**params)
        if self.name in BASELINES:
            return make_baseline(self.name, host, **params)
        if self.name not in BUILTINS.get(host, ()):
            raise ValueError(
                f"surrogate {self.name!r} is not compared on {host}; "
                f"choose AdaLi, a baseline {sorted(BASELINES)} or one "
                f"of {list(BUILTINS[host])}"
            )
        if host == "snntorch":
            from snntorch import surrogate

            fn = getattr(surrogate, self.name)
            return lambda: fn(**params)
        from spikingjelly.activation_based import surrogate

        cls = getattr(surrogate, self.name)
        return lambda: cls(**params)


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_surrogate(text: str) -> SurrogateSpec:
    """Parse ``name`` or ``name:key=value,key=value``."""
    name, _, rest = text.partition(":")
    options = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ValueError(
                f"surrogate options must look like key=value, got {item!r} in {text!r}"
            )
        options[key.strip()] = _value(value.strip())
    if options.get("calibrate") not in (None, "mass", "window", "both"):
        raise ValueError(
            f"calibrate must be mass, window or both, got {options['calibrate']!r}"
        )
    return SurrogateSpec(name.strip(), options)


def default_surrogates(host: str) -> list[SurrogateSpec]:
    """AdaLi as published defaults, AdaLi calibrated, and the host's built-ins."""
    return [
        SurrogateSpec("AdaLi"),
        SurrogateSpec("AdaLi", {"calibrate": "both"}),
        *(SurrogateSpec(n) for n in BUILTINS[host]),
    ]
