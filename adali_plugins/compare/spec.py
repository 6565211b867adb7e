"""What one run of the comparison is: host, surrogate (with options) and seed."""

from __future__ import annotations

import hashlib
import math
import re
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
HARNESS_OPTIONS = {"calibrate", "coverage", "output"}
OUTPUTS = ("host", "adali")
"""Accepted values of the harness option ``output``: where AdaLi goes, as in
``attach(model, output=...)``; ``host`` (the default) keeps a spiking output
layer on the host's default surrogate, ``adali`` gives it AdaLi too."""
CALIBRATIONS = ("mass", "window", "both")
"""Accepted values of the harness option ``calibrate``."""

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*", re.ASCII)
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_TEXT = re.compile(r"[A-Za-z0-9_.-]+", re.ASCII)
_LEGACY = re.compile(r"[A-Za-z0-9.:,=]+", re.ASCII)
STEM_LENGTH = 120
"""Longest run-file stem kept readable; longer labels are cut and hashed."""
LABEL_WIDTH = 25
"""Characters of a surrogate label the table shows (``report.format_table``):
two candidates alike in these are refused, by the CLI and ``compare()``."""


def _short(text: object) -> str:
    """``repr(text)``, cut to 80 characters, for one-line messages."""
    shown = repr(text)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def run_stem(label: str) -> str:
    """A file-name stem for a surrogate label: path-safe and injective.

    A name without options is its own stem (``AdaLi``, ``fast_sigmoid``). A
    label whose characters are only letters, digits and ``.:,=`` keeps the
    stem runs always had (``AdaLi:calibrate=both`` -> ``AdaLi_calibrate-both``),
    which can be read back unambiguously, so old runs still resume. Any other
    label (an ``_`` or ``-`` in an option, a long label) gets that stem, cut,
    plus ``+`` and 16 hex digits of its SHA-256: the ``+`` marks it, so it never
    equals a stem of the first two kinds.
    """
    legacy = label.replace(":", "_").replace(",", "_").replace("=", "-")
    if _NAME.fullmatch(label) and len(label) <= STEM_LENGTH:
        return label
    if _LEGACY.fullmatch(label) and len(legacy) <= STEM_LENGTH and ":" in label:
        return legacy
    safe = "".join(c if _TEXT.fullmatch(c) else "_" for c in legacy[:STEM_LENGTH])
    return f"{safe}+{hashlib.sha256(label.encode()).hexdigest()[:16]}"


@dataclass(frozen=True)
class SurrogateSpec:
    """A surrogate by name, with options: ``AdaLi``, ``AdaLi:p=1,calibrate=both``.

    AdaLi accepts its own parameters plus ``calibrate`` (``mass``, ``window``,
    ``both``: calibrate at train start and every epoch) and ``coverage``.
    Built-ins accept the host's own constructor arguments (``atan:alpha=3``).
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_spec(self)

    @property
    def label(self) -> str:
        if not self.options:
            return self.name
        opts = ",".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.name}:{opts}"

    @property
    def stem(self) -> str:
        """The label as a path-safe, injective file-name stem (``run_stem``)."""
        return run_stem(self.label)

    @property
    def is_adali(self) -> bool:
        return self.name == "AdaLi"

    @property
    def is_baseline(self) -> bool:
        return self.name in BASELINES

    @property
    def calibration(self) -> str | None:
        return self.options.get("calibrate")

    @property
    def adali_params(self) -> dict[str, Any]:
        """The options that are AdaLi's own (not the harness's)."""
        return {k: v for k, v in self.options.items() if k not in HARNESS_OPTIONS}

    @property
    def output(self) -> str | None:
        """AdaLi's placement on a spiking output layer (``host`` unless the spec
        says ``output=adali``); None for other surrogates."""
        return str(self.options.get("output", "host")) if self.is_adali else None

    def factory(self, host: str) -> Callable[[], Any]:
        """A zero-argument constructor of this surrogate for ``host``."""
        params = self.adali_params
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


def check_spec(spec: SurrogateSpec) -> None:
    """Refuse a spec that is malformed whatever the host, in one line.

    The name and option keys are ASCII identifiers; a value is a finite int or
    float, or text of letters, digits and ``_.-`` that does not read as a
    number (so ``parse_surrogate(spec.label) == spec``); ``calibrate`` and
    ``coverage`` are AdaLi's only, ``calibrate`` is one of ``CALIBRATIONS``,
    ``coverage`` is in (0, 1) and needs ``calibrate``; AdaLi's own options are
    checked by ``AdaLiParams``. A built-in's options are checked when a host
    builds it (``factory``).

    Raises:
        ValueError: naming the part of the spec at fault and what is accepted.
    """
    if not isinstance(spec.name, str) or not _NAME.fullmatch(spec.name):
        raise ValueError(
            f"surrogate name must be letters, digits and _ (a letter first), "
            f"got {_short(spec.name)}"
        )
    if not isinstance(spec.options, dict):
        raise ValueError(
            f"surrogate options must be a dict, got {_short(spec.options)}"
        )
    for key, value in spec.options.items():
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise ValueError(
                f"{spec.name}: option names must be letters, digits and _, "
                f"got {_short(key)}"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(
                f"{spec.name}:{key} must be a number or a word, got {_short(value)}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{spec.name}:{key} must be finite, got {value}")
        if isinstance(value, str) and (
            not _TEXT.fullmatch(value) or not isinstance(_value(value), str)
        ):
            raise ValueError(
                f"{spec.name}:{key}: a value is a number or letters, digits "
                f"and _.- only, got {_short(value)}"
            )
    harness = {k: v for k, v in spec.options.items() if k in HARNESS_OPTIONS}
    if harness and spec.name != "AdaLi":
        verb = "applies" if len(harness) == 1 else "apply"
        raise ValueError(
            f"{spec.name}: {', '.join(sorted(harness))} {verb} to AdaLi only "
            f"(AdaLi:calibrate=both,coverage=0.9)"
        )
    if harness.get("output", "host") not in OUTPUTS:
        raise ValueError(
            f"output must be {' or '.join(OUTPUTS)}, got {_short(harness['output'])}"
        )
    calibration = harness.get("calibrate")
    if calibration is not None and calibration not in CALIBRATIONS:
        raise ValueError(
            f"calibrate must be {', '.join(CALIBRATIONS)}, got {_short(calibration)}"
        )
    if "coverage" in harness:
        coverage = harness["coverage"]
        if isinstance(coverage, str) or not 0 < coverage < 1:
            raise ValueError(
                f"coverage must be a number in (0, 1), got {_short(coverage)}"
            )
        if calibration is None:
            raise ValueError(
                "coverage applies with calibrate=mass|window|both; add calibrate"
            )
    if spec.name == "AdaLi":
        params = spec.adali_params
        unknown = set(params) - ADALI_OPTIONS
        if unknown:
            raise ValueError(
                f"unknown AdaLi option(s) {sorted(unknown)}; known: "
                f"{', '.join(sorted(ADALI_OPTIONS | HARNESS_OPTIONS))}"
            )
        try:
            AdaLiParams(**params)
        except (TypeError, ValueError) as exc:
            lines = str(exc).strip().splitlines() or [type(exc).__name__]
            raise ValueError(f"AdaLi: {lines[0][:200]}") from None


def parse_surrogate(text: str) -> SurrogateSpec:
    """Parse ``name`` or ``name:key=value,key=value`` into a checked spec.

    Args:
        text: The surrogate as written on the command line, e.g.
            ``"AdaLi:schedule=sqrt,left=1.0"`` or ``"atan"``.

    Raises:
        ValueError: one line naming what is malformed (``check_spec``), a
            missing ``=``, or an option given twice.
    """
    if not isinstance(text, str):
        raise ValueError(
            f"a surrogate is a string like 'AdaLi:p=1', got {_short(text)}"
        )
    name, _, rest = text.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise ValueError(
                f"surrogate options must look like key=value, got {_short(item)} "
                f"in {_short(text)}"
            )
        if key in options:
            raise ValueError(f"option {_short(key)} given twice in {_short(text)}")
        options[key] = _value(value.strip())
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
        "  harness options: calibrate=mass|window|both, coverage in (0, 1) "
        "(with calibrate)",
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
