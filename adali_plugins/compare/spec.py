"""What one run of the comparison is: host, surrogate (with options) and seed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from ..window import AdaLiParams
from .baselines import BASELINES
from .baselines import make as make_baseline
from .hosts import PROFILES, profile

BUILTINS: dict[str, tuple[str, ...]] = {h: p.builtins for h, p in PROFILES.items()}
"""The host built-ins compared by default (SpikingJelly's ``Rect`` is rectangular);
a view on ``compare.hosts.PROFILES``."""

HOST_DEFAULT: dict[str, str] = {h: p.default_builtin for h, p in PROFILES.items()}
"""Each host's own default surrogate (snnTorch neurons' ``spike_grad``,
SpikingJelly neurons' ``surrogate_function``)."""

BEST_BUILTIN: dict[str, str] = {h: p.best_builtin for h, p in PROFILES.items()}
"""The built-in with the best final accuracy in the full sweep on the bundled
digits (README, "Results on the bundled digits")."""

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
            adali = profile(host).adali()
            return lambda: adali(**params)
        if self.name in BASELINES:
            return make_baseline(self.name, host, **params)
        if self.name not in BUILTINS.get(host, ()):
            raise ValueError(
                f"surrogate {self.name!r} is not compared on {host}; "
                f"choose AdaLi, a baseline {sorted(BASELINES)} or one "
                f"of {list(BUILTINS[host])}"
            )
        fn = profile(host).builtin(self.name)
        return lambda: fn(**params)


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


def quick_surrogates(host: str) -> list[SurrogateSpec]:
    """The default run: AdaLi, the host's default built-in and its best one."""
    names = dict.fromkeys(["AdaLi", HOST_DEFAULT[host], BEST_BUILTIN[host]])
    return [SurrogateSpec(n) for n in names]


def default_surrogates(host: str) -> list[SurrogateSpec]:
    """The full sweep (``--full``): AdaLi as published, AdaLi calibrated, and
    every compared built-in of the host."""
    return [
        SurrogateSpec("AdaLi"),
        SurrogateSpec("AdaLi", {"calibrate": "both"}),
        *(SurrogateSpec(n) for n in BUILTINS[host]),
    ]


ADALI_EXAMPLE = "AdaLi:schedule=sqrt,left=1.0"


def listing(installed: dict[str, bool]) -> str:
    """Every surrogate name the harness accepts, for ``adali-compare --list``."""
    from ..window import SCHEDULE_CODES

    adali_opts = ", ".join(f.name for f in fields(AdaLiParams))
    lines = [
        "AdaLi (both hosts); options follow a colon, comma-separated:",
        "  AdaLi",
        f"  {ADALI_EXAMPLE}",
        "  AdaLi:calibrate=both,coverage=0.9",
        f"  AdaLi options: {adali_opts}",
        "  harness options: calibrate=mass|window|both, coverage=<0..1>",
        f"  schedules: {', '.join(SCHEDULE_CODES)}",
    ]
    for host, names in BUILTINS.items():
        if not installed.get(host):
            lines.append(
                f"{host} built-ins: not installed (pip install 'adali_plugins[{host}]')"
            )
            continue
        lines.append(f"{host} built-ins (host options as name:key=value):")
        lines.extend(f"  {n}" for n in names)
    lines.append("adaptive baselines (our re-implementations, both hosts):")
    lines.extend(f"  {n}" for n in sorted(BASELINES))
    return "\n".join(lines)
