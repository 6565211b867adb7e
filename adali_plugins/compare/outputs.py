"""What ``adali-compare`` prints and writes once the runs are done.

The table, the verdict and the classes never predicted on stdout; ``table.txt``,
``results.csv``, ``results.json``, the PNG plots and ``summary.md`` in
``--out``, each written atomically.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..fileio import atomic_path, atomic_write
from ..stats import HistogramSpec
from . import classes, logs, plots, report, verdict
from .data.datasets import Dataset
from .train import RunConfig

logger = logging.getLogger(__name__)


def setting(args: argparse.Namespace) -> str:
    """How the runs train, in one phrase: recipe, net, T, batch, lr."""
    net = "reference net" if args.arch == "ref" else args.arch
    if args.width != 1.0:
        net += f" (width x{args.width:g})"
    return (
        f"recipe {args.recipe}, {net}, T={args.time_steps}, batch "
        f"{args.batch_size}, lr {args.lr:g}"
    )


def announce(
    args: argparse.Namespace, plan: list[RunConfig], data: Dataset, out: Path
) -> None:
    """One line on stderr (unless ``-q``): the data, the grid and the setting."""
    if not args.quiet:
        print(
            f"{data.name}: {data.description}; "
            f"{len(data.y_train)} train / {len(data.y_test)} test; "
            f"{len(plan)} runs x {args.epochs} epochs; {setting(args)} -> {out}",
            file=sys.stderr,
        )


def write_outputs(
    args: argparse.Namespace,
    out: Path,
    log: logs.LogSetup,
    results: dict[tuple[str, str, int], list[dict[str, Any]]],
    *,
    data_name: str,
) -> dict[str, Any]:
    """Print the table and verdict, write every output file; the JSON payload."""
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    rows = report.aggregate(results, args.target)
    table = report.format_table(rows, args.target)
    print(table)
    legend = report.placement_legend([(h, s) for h, s, _ in results], args.recipe)
    if legend:
        print(f"\n{legend}")
    found = verdict.verdicts(results)
    judged = verdict.format_verdicts(found)
    if judged:
        print(f"\n{judged}")
    missing = classes.never_predicted(results)
    if missing:
        print(f"\n{classes.format_never_predicted(missing)}")
    atomic_write(out / "table.txt", table + "\n")
    with atomic_path(out / "results.csv") as tmp:
        report.write_csv(results, tmp)
    with atomic_path(out / "results.json") as tmp:
        report.write_json(
            config, results, rows, tmp, verdict=[v.as_dict() for v in found]
        )
    written: list[Path] = []
    if not args.no_plots:
        for name, draw in plot_writers(results):
            with atomic_path(out / name) as tmp:
                draw(tmp)
            written.append(out / name)
    summary = out / "summary.md"
    with atomic_path(summary) as tmp:
        report.write_summary(
            tmp,
            title=f"adali-compare on {data_name}: {len(results)} runs x "
            f"{args.epochs} epochs; {setting(args)}",
            table=table,
            verdict=judged,
            plots=written,
            notes=[*legend.splitlines(), *missing],
        )
    repeats = log.dedupe.report()
    if repeats:
        logger.warning(repeats)
    print(f"\nsummary: {summary}")
    if written:
        print("plots: " + ", ".join(str(p) for p in written))
    return json.loads((out / "results.json").read_text())


def plot_writers(results: dict[tuple[str, str, int], list[dict[str, Any]]]) -> Iterator:
    """(file name, writer) of each plot, each written atomically by the caller."""
    for host in sorted({h for h, _, _ in results}):
        yield (
            f"curves_{host}.png",
            lambda p, host=host: plots.plot_curves(results, host, p),
        )
    yield "accuracy.png", lambda p: plots.plot_accuracy(results, p)
    yield "gradients.png", lambda p: plots.plot_gradients(results, p)
    yield "window_share.png", lambda p: plots.plot_window_share(results, p)
    adali = next((s for (_, s, _) in results if s.startswith("AdaLi")), None)
    if adali is not None:
        yield (
            "membrane_adali.png",
            lambda p: plots.plot_membranes(
                results, p, surrogate=adali, spec=HistogramSpec()
            ),
        )
