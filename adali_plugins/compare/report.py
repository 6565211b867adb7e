"""Aggregate runs into the comparison table, CSV and JSON."""

from __future__ import annotations

import csv
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Row:
    """One line of the table: a host's surrogate, aggregated over seeds."""

    host: str
    surrogate: str
    seeds: int
    final_acc: tuple[float, float]
    best_acc: tuple[float, float]
    epochs_to_target: float
    reached: int
    seconds_per_epoch: float
    """Median over every epoch of every seed (robust to a paused or shared core)."""
    grad_ratio: float
    density: float


def _mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and population std (divisor n) over seeds, as every table prints."""
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.pstdev(values) if len(
        values
    ) > 1 else 0.0


def density_of(record: dict[str, Any]) -> dict[str, float]:
    """Per-layer computational density of an epoch record: the share of membrane
    potentials inside the surrogate's window [θ−L, θ+R] (the authors' name).
    Records written before the rename keep it under ``in_window``."""
    if "density" in record:
        return record["density"]
    return record.get("in_window", {})


def mean_density(record: dict[str, Any]) -> float:
    """Computational density averaged over layers (nan without layers)."""
    values = list(density_of(record).values())
    return statistics.fmean(values) if values else math.nan


def _to_target(records: list[dict[str, Any]], target: float) -> int | None:
    for r in records:
        if r["test_acc"] >= target:
            return r["epoch"] + 1
    return None


def aggregate(
    results: dict[tuple[str, str, int], list[dict[str, Any]]], target: float
) -> list[Row]:
    """``results`` maps (host, surrogate, seed) to that run's epoch records."""
    groups: dict[tuple[str, str], list[list[dict[str, Any]]]] = {}
    for (host, surrogate, _), records in results.items():
        if records:
            groups.setdefault((host, surrogate), []).append(records)
    rows = []
    for (host, surrogate), runs in groups.items():
        reached = [e for e in (_to_target(r, target) for r in runs) if e is not None]
        last = [r[-1] for r in runs]
        density = [mean_density(rec) for rec in last if density_of(rec)]
        rows.append(
            Row(
                host=host,
                surrogate=surrogate,
                seeds=len(runs),
                final_acc=_mean_std([rec["test_acc"] for rec in last]),
                best_acc=_mean_std([max(e["test_acc"] for e in r) for r in runs]),
                epochs_to_target=statistics.fmean(reached) if reached else math.nan,
                reached=len(reached),
                seconds_per_epoch=statistics.median(
                    e["train_seconds"] for r in runs for e in r
                ),
                grad_ratio=statistics.fmean(
                    rec["grad_norm_first_last_ratio"] for rec in last
                ),
                density=statistics.fmean(density) if density else math.nan,
            )
        )
    return rows


def format_table(rows: list[Row], target: float) -> str:
    """The printed table: mean ± std over seeds."""
    head = (
        f"{'host':<13}{'surrogate':<26}{'final acc %':>14}{'best acc %':>14}"
        f"{f'ep->{target:.0%}':>10}{'s/epoch':>9}{'grad 1st/last':>15}{'density':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        to_target = (
            f"{r.epochs_to_target:.1f} ({r.reached}/{r.seeds})"
            if r.reached
            else f"- (0/{r.seeds})"
        )
        lines.append(
            f"{r.host:<13}{r.surrogate[:25]:<26}"
            f"{100 * r.final_acc[0]:>8.2f}±{100 * r.final_acc[1]:<5.2f}"
            f"{100 * r.best_acc[0]:>8.2f}±{100 * r.best_acc[1]:<5.2f}"
            f"{to_target:>10}{r.seconds_per_epoch:>9.2f}{r.grad_ratio:>15.3g}"
            f"{r.density:>9.1%}"
        )
    return "\n".join(lines)


SCALARS = (
    "epoch",
    "train_loss",
    "test_acc",
    "train_seconds",
    "grad_norm_first_last_ratio",
)


def write_csv(
    results: dict[tuple[str, str, int], list[dict[str, Any]]], path: Path
) -> None:
    """One row per (host, surrogate, seed, epoch): scalars and per-layer means."""
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "host",
                "surrogate",
                "seed",
                *SCALARS,
                "mean_firing_rate",
                "mean_density",
            ]
        )
        for (host, surrogate, seed), records in sorted(results.items()):
            for rec in records:
                rates = list(rec["firing_rate"].values())
                shares = list(density_of(rec).values())
                writer.writerow(
                    [
                        host,
                        surrogate,
                        seed,
                        *(rec[k] for k in SCALARS),
                        statistics.fmean(rates) if rates else "",
                        statistics.fmean(shares) if shares else "",
                    ]
                )


def write_json(
    config: dict[str, Any],
    results: dict[tuple[str, str, int], list[dict[str, Any]]],
    rows: list[Row],
    path: Path,
    *,
    verdict: list[dict[str, Any]] | None = None,
) -> None:
    """Everything: the configuration, every epoch record of every run, the
    table and the verdict."""
    payload = {
        "config": config,
        "table": [r.__dict__ for r in rows],
        "verdict": verdict or [],
        "runs": [
            {"host": h, "surrogate": s, "seed": seed, "epochs": records}
            for (h, s, seed), records in sorted(results.items())
        ],
    }
    path.write_text(json.dumps(payload, indent=1))


def write_summary(
    path: Path,
    *,
    title: str,
    table: str,
    verdict: str,
    plots: list[Path],
    notes: list[str] | None = None,
) -> Path:
    """``summary.md``: the table, the verdict and the plots, side by side."""
    lines = [f"# {title}", "", "```", table, "```", ""]
    if verdict:
        head, *rest = verdict.splitlines()
        lines += [f"**{head}**", "", *(f"- {r.strip()}" for r in rest), ""]
    lines += [f"- {n}" for n in notes or []]
    if notes:
        lines.append("")
    for plot in plots:
        inside = plot.is_relative_to(path.parent)
        rel = plot.relative_to(path.parent) if inside else plot
        lines += [f"![{plot.stem}]({rel})", ""]
    path.write_text("\n".join(lines))
    return path


def placement_legend(labels: list[tuple[str, str]], recipe: str = "host") -> str:
    """Where each AdaLi row put AdaLi, for the lines under the table.

    ``labels`` are the (host, surrogate label) pairs of the table. Under the
    host recipe the plain ``AdaLi`` row is what ``attach(model)`` gives: AdaLi
    on the hidden spiking layers, the spiking output layer on the host's
    default surrogate; ``AdaLi:output=adali`` puts it on every layer. The
    paper recipe's head does not spike, so there is nothing to say.
    """
    from .spec import HOST_DEFAULT, parse_surrogate

    if recipe != "host":
        return ""
    lines = []
    for host, label in dict.fromkeys(labels):
        spec = parse_surrogate(label)
        if spec.output == "host":
            lines.append(
                f"{host} {label}: AdaLi on the hidden spiking layers, the output "
                f"layer on {HOST_DEFAULT[host]} (host default), as attach(model) does"
            )
        elif spec.output == "adali":
            lines.append(f"{host} {label}: AdaLi on every spiking layer")
    return "\n".join(lines)
