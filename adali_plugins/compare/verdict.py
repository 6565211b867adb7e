"""The comparison's verdict: AdaLi against the best built-in, paired by seed.

Per host, the default AdaLi row (``AdaLi`` when it was run) is set against the
built-in with the highest mean final accuracy in the same run, on the seeds
both ran. The per-seed differences of final test accuracy (in points) give a
mean with a 95% paired-t confidence interval, the seeds won, lost and tied, and
one plain reading: ``within noise`` when the interval contains 0, else
``AdaLi ahead`` or ``AdaLi behind``.

The Student-t quantile is computed here (no scipy): bisection on the t CDF,
which is written with the regularized incomplete beta function evaluated by
its continued fraction.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Any

from .spec import BUILTINS

Results = dict[tuple[str, str, int], list[dict[str, Any]]]

WITHIN, AHEAD, BEHIND, TOO_FEW = (
    "within noise",
    "AdaLi ahead",
    "AdaLi behind",
    "too few seeds for an interval",
)


def _beta_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta (modified Lentz)."""
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        for num in (
            m * (b - m) * x / ((a + m2 - 1.0) * (a + m2)),
            -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), 0 <= x <= 1."""
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x must lie in [0, 1], got {x}")
    if x in (0.0, 1.0):
        return x
    log_front = (
        math.lgamma(a + b)
        - math.lgamma(a)
        - math.lgamma(b)
        + a * math.log(x)
        + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` > 0 degrees of freedom."""
    if not 0.0 < p < 1.0 or df <= 0:
        raise ValueError(f"need 0 < p < 1 and df > 0, got p={p}, df={df}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, 2.0 * hi
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class PairedInterval:
    """Mean of paired differences with its two-sided confidence interval."""

    n: int
    mean: float
    low: float
    high: float
    won: int
    lost: int
    tied: int

    @property
    def reading(self) -> str:
        if self.n < 2:
            return TOO_FEW
        if self.low <= 0.0 <= self.high:
            return WITHIN
        return AHEAD if self.mean > 0 else BEHIND


def paired_interval(
    ours: list[float], theirs: list[float], *, level: float = 0.95
) -> PairedInterval:
    """Paired-t interval of ``mean(ours - theirs)`` (the lists are matched by seed)."""
    if len(ours) != len(theirs) or not ours:
        raise ValueError("need two non-empty lists of the same length")
    diffs = [a - b for a, b in zip(ours, theirs, strict=True)]
    n, mean = len(diffs), statistics.fmean(diffs)
    if n < 2:
        low = high = math.nan
    else:
        half = t_quantile(0.5 + level / 2.0, n - 1) * statistics.stdev(diffs)
        half /= math.sqrt(n)
        low, high = mean - half, mean + half
    return PairedInterval(
        n=n,
        mean=mean,
        low=low,
        high=high,
        won=sum(d > 0 for d in diffs),
        lost=sum(d < 0 for d in diffs),
        tied=sum(d == 0 for d in diffs),
    )


@dataclass(frozen=True)
class Verdict:
    """One host's verdict; accuracies and differences in percentage points."""

    host: str
    adali: str
    builtin: str
    seeds: list[int]
    adali_acc: list[float]
    builtin_acc: list[float]
    mean_diff: float
    ci_low: float
    ci_high: float
    won: int
    lost: int
    tied: int
    reading: str

    def line(self) -> str:
        """The verdict in one line of plain text."""
        n = len(self.seeds)
        if math.isnan(self.ci_low):
            ci = "no interval from one seed"
        else:
            ci = f"95% CI {self.ci_low:+.2f} to {self.ci_high:+.2f}"
        tied = f", tied {self.tied}" if self.tied else ""
        return (
            f"{self.host}: {self.adali} - {self.builtin} = {self.mean_diff:+.2f} "
            f"points ({ci}, paired over {n} seed{'s' * (n != 1)}); "
            f"seeds won {self.won}, lost {self.lost}{tied} -> {self.reading}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "line": self.line()}


def _final(records: list[dict[str, Any]]) -> float:
    return 100.0 * records[-1]["test_acc"]


def verdicts(results: Results) -> list[Verdict]:
    """Per host: the default AdaLi against the best built-in of ``results``."""
    out = []
    for host in sorted({h for h, _, _ in results}):
        runs: dict[str, dict[int, float]] = {}
        for (h, surrogate, seed), records in results.items():
            if h == host and records:
                runs.setdefault(surrogate, {})[seed] = _final(records)
        adali = "AdaLi" if "AdaLi" in runs else None
        if adali is None:
            adali = next((s for s in sorted(runs) if s.startswith("AdaLi")), None)
        builtins = [s for s in runs if s in BUILTINS.get(host, ())]
        if adali is None or not builtins:
            continue
        best = max(builtins, key=lambda s: (statistics.fmean(runs[s].values()), s))
        seeds = sorted(set(runs[adali]) & set(runs[best]))
        if not seeds:
            continue
        ours = [runs[adali][s] for s in seeds]
        theirs = [runs[best][s] for s in seeds]
        ci = paired_interval(ours, theirs)
        out.append(
            Verdict(
                host=host,
                adali=adali,
                builtin=best,
                seeds=seeds,
                adali_acc=ours,
                builtin_acc=theirs,
                mean_diff=ci.mean,
                ci_low=ci.low,
                ci_high=ci.high,
                won=ci.won,
                lost=ci.lost,
                tied=ci.tied,
                reading=ci.reading,
            )
        )
    return out


def format_verdicts(found: list[Verdict]) -> str:
    """The printed verdict block (empty when nothing could be compared)."""
    if not found:
        return ""
    head = (
        "Verdict: AdaLi against the best built-in of this run, final test "
        "accuracy, paired by seed"
    )
    return "\n".join([head, *(f"  {v.line()}" for v in found)])
