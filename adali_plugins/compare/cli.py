"""``adali-compare``: AdaLi beside the host built-ins, same seeds, data and optimizer.

    adali-compare                                  # quick default, both hosts
    adali-compare --full                           # every built-in, 15 epochs
    adali-compare --surrogates AdaLi "AdaLi:p=1" atan --host snntorch

Prints the table and a verdict (AdaLi against the best built-in, paired by
seed, with a 95% interval), writes ``results.csv``, ``results.json``,
``summary.md`` and PNG plots to ``--out``, and resumes an interrupted run from
its last finished epoch.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import torch

from ..data.datasets import ENCODINGS, LOADERS, load_dataset, sequence_steps
from ..hosts import is_installed
from ..stats import HistogramSpec
from . import logs, plots, report, verdict
from .progress import Progress, TqdmHandler
from .spec import (
    BUILTINS,
    default_surrogates,
    listing,
    parse_surrogate,
    quick_surrogates,
)
from .train import RunConfig, run

HOSTS = ("snntorch", "spikingjelly")
QUICK_EPOCHS, FULL_EPOCHS = 8, 15
logger = logging.getLogger(__name__)

EPILOG = """examples:
  adali-compare                                  quick default: AdaLi, each host's
                                                 default and best built-in, 3 seeds
  adali-compare --full                           every built-in, AdaLi calibrated,
                                                 15 epochs
  adali-compare --host spikingjelly --surrogates "AdaLi:schedule=sqrt" ATan \\
      --seeds 5 --epochs 10

adali-compare --list prints every surrogate name and AdaLi option.
"""


class _HelpFormatter(
    argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter
):
    """Defaults shown (where there is one), epilog kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False):
            return action.help
        return super()._get_help_string(action)


def _builtins_help() -> str:
    return "; ".join(f"{host}: {', '.join(names)}" for host, names in BUILTINS.items())


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="adali-compare",
        description=__doc__.split("\n")[0].replace("``", ""),
        epilog=EPILOG,
        formatter_class=_HelpFormatter,
    )
    p.add_argument("--host", choices=[*HOSTS, "both"], default="both")
    p.add_argument("--dataset", choices=sorted(LOADERS), default="digits")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="fashion-mnist: folder with the four IDX files (default: Debian's); "
        "nmnist, dvs-gesture, cifar10-dvs: your copy in its published layout "
        "(needs the [neuromorphic] extra)",
    )
    p.add_argument(
        "--train-limit", type=int, default=None, help="stratified subset size"
    )
    p.add_argument(
        "--test-limit", type=int, default=None, help="stratified subset size"
    )
    p.add_argument(
        "--surrogates",
        nargs="+",
        default=None,
        help="e.g. AdaLi 'AdaLi:calibrate=both' atan ESG MPD (see --list); "
        "default: AdaLi, the host's default built-in and its best one "
        "(snntorch: atan; spikingjelly: Sigmoid, ATan); with --full: AdaLi, "
        f"AdaLi:calibrate=both and the built-ins ({_builtins_help()}); ESG and "
        "MPD are our re-implementations of adaptive baselines",
    )
    p.add_argument(
        "--full",
        action="store_true",
        help=f"the full sweep: every built-in, AdaLi calibrated, {FULL_EPOCHS} "
        "epochs (unless --surrogates/--epochs say otherwise)",
    )
    p.add_argument(
        "--list",
        action="store_true",
        help="print every surrogate name and AdaLi option, then exit",
    )
    p.add_argument("--seeds", type=int, default=3, help="number of seeds (0..N-1)")
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help=f"{QUICK_EPOCHS}, or {FULL_EPOCHS} with --full",
    )
    p.add_argument("--time-steps", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--encoding", choices=ENCODINGS, default="direct")
    p.add_argument("--channels", type=int, nargs=2, default=(16, 32))
    p.add_argument(
        "--target", type=float, default=0.9, help="accuracy for epochs-to-target"
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", type=Path, default=Path("runs/compare"))
    p.add_argument("--no-plots", action="store_true")
    p.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more log output: -v info and one line per run, -vv debug and "
        "third-party messages",
    )
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="errors only and no progress bars: the table and the verdict",
    )
    return p


def _hosts(choice: str) -> list[str]:
    wanted = list(HOSTS) if choice == "both" else [choice]
    missing = [h for h in wanted if not is_installed(h)]
    if missing and choice != "both":
        raise SystemExit(
            f"{choice} is not installed: pip install 'adali_plugins[{choice}]'"
        )
    return [h for h in wanted if h not in missing]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the comparison; returns the JSON payload it wrote ({} for --list)."""
    args = build_parser().parse_args(argv)
    if args.list:
        print(listing({h: is_installed(h) for h in HOSTS}))
        return {}
    if args.epochs is None:
        args.epochs = FULL_EPOCHS if args.full else QUICK_EPOCHS
    verbosity = -1 if args.quiet else args.verbose
    log = logs.setup(verbosity, handler=TqdmHandler(sys.stderr))
    try:
        return _run(args, log)
    finally:
        log.close()


def _run(args: argparse.Namespace, log: logs.LogSetup) -> dict[str, Any]:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    hosts = _hosts(args.host)
    if not hosts:
        raise SystemExit(
            "neither snntorch nor spikingjelly is installed: "
            "pip install 'adali_plugins[all]'"
        )
    try:
        data = load_dataset(
            args.dataset,
            data_dir=args.data_dir,
            train_limit=args.train_limit,
            test_limit=args.test_limit,
            time_steps=args.time_steps,
        )
    except (FileNotFoundError, ImportError, ValueError) as err:
        raise SystemExit(f"{args.dataset}: {err}") from err
    if data.sequence:
        try:
            sequence_steps(data.x_train[:1], args.time_steps)
        except ValueError as err:
            raise SystemExit(f"{data.name}: {err}") from err
    if data.time_major_frames:
        frames = int(data.x_train.shape[1])
        if args.time_steps != frames:
            print(
                f"{data.name} has {frames} frames per sample: --time-steps {frames}",
                file=sys.stderr,
            )
            args.time_steps = frames
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    plan = []
    for host in hosts:
        specs = (
            [parse_surrogate(s) for s in args.surrogates]
            if args.surrogates
            else (default_surrogates if args.full else quick_surrogates)(host)
        )
        for spec in specs:
            if (
                not (spec.is_adali or spec.is_baseline)
                and spec.name not in BUILTINS[host]
            ):
                continue
            spec.factory(host)
            for seed in range(args.seeds):
                plan.append(
                    RunConfig(
                        host=host,
                        dataset=args.dataset,
                        surrogate=spec.label,
                        seed=seed,
                        epochs=args.epochs,
                        time_steps=args.time_steps,
                        batch_size=args.batch_size,
                        lr=args.lr,
                        encoding=args.encoding,
                        channels=tuple(args.channels),
                        device=args.device,
                    )
                )
    if not args.quiet:
        print(
            f"{data.name}: {data.description}; "
            f"{len(data.y_train)} train / {len(data.y_test)} test; "
            f"{len(plan)} runs x {args.epochs} epochs -> {out}",
            file=sys.stderr,
        )
    results = {}
    progress = Progress(len(plan), quiet=args.quiet)
    for i, cfg in enumerate(plan, 1):
        label = f"{cfg.host} {cfg.surrogate} seed {cfg.seed}"
        log.dedupe.context = cfg.name
        log.refresh()
        progress.start(label, cfg.epochs)
        records = run(cfg, data, out, on_epoch=progress.epoch)
        progress.finish(label, records)
        if records:
            logger.info(
                "[%d/%d] %s: acc %.3f", i, len(plan), label, records[-1]["test_acc"]
            )
        results[(cfg.host, cfg.surrogate, cfg.seed)] = records
    progress.close()
    rows = report.aggregate(results, args.target)
    table = report.format_table(rows, args.target)
    print(table)
    found = verdict.verdicts(results)
    judged = verdict.format_verdicts(found)
    if judged:
        print(f"\n{judged}")
    (out / "table.txt").write_text(table + "\n")
    report.write_csv(results, out / "results.csv")
    report.write_json(
        config,
        results,
        rows,
        out / "results.json",
        verdict=[v.as_dict() for v in found],
    )
    written: list[Path] = []
    if not args.no_plots:
        for host in sorted({h for h, _, _ in results}):
            written.append(plots.plot_curves(results, host, out / f"curves_{host}.png"))
        written.append(plots.plot_accuracy(results, out / "accuracy.png"))
        written.append(plots.plot_gradients(results, out / "gradients.png"))
        written.append(plots.plot_window_share(results, out / "window_share.png"))
        adali = next((s for (_, s, _) in results if s.startswith("AdaLi")), None)
        if adali is not None:
            written.append(
                plots.plot_membranes(
                    results,
                    out / "membrane_adali.png",
                    surrogate=adali,
                    spec=HistogramSpec(),
                )
            )
    summary = report.write_summary(
        out / "summary.md",
        title=f"adali-compare on {data.name}: {len(plan)} runs x {args.epochs} epochs",
        table=table,
        verdict=judged,
        plots=written,
    )
    repeats = log.dedupe.report()
    if repeats:
        logger.warning(repeats)
    print(f"\nsummary: {summary}")
    if written:
        print("plots: " + ", ".join(str(p) for p in written))
    return json.loads((out / "results.json").read_text())


def entry_point() -> int:
    """The ``adali-compare`` console script (exit status 0 on success)."""
    main()
    return 0
