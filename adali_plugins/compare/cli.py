"""``adali-compare``: AdaLi beside the host built-ins, same seeds, data and optimizer.

    adali-compare                                  # both hosts, bundled digits
    adali-compare --host spikingjelly --seeds 3 --epochs 20
    adali-compare --surrogates AdaLi "AdaLi:p=1" atan --host snntorch

Prints the table, writes ``results.csv``, ``results.json`` and PNG plots to
``--out``, and resumes an interrupted run from its last finished epoch.
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
from . import plots, report
from .spec import BUILTINS, default_surrogates, parse_surrogate
from .train import RunConfig, run

HOSTS = ("snntorch", "spikingjelly")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="adali-compare",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
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
        help="e.g. AdaLi 'AdaLi:calibrate=both' atan ESG MPD; default: AdaLi, AdaLi "
        f"calibrated, and the built-ins {dict(BUILTINS)}; ESG and MPD are our "
        "re-implementations of adaptive baselines (IM-Loss / MPD-AGL style)",
    )
    p.add_argument("--seeds", type=int, default=3, help="number of seeds (0..N-1)")
    p.add_argument("--epochs", type=int, default=15)
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
    """Run the comparison; returns the JSON payload it wrote."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
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
            else default_surrogates(host)
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
    print(
        f"{data.name}: {data.description}; "
        f"{len(data.y_train)} train / {len(data.y_test)} test; "
        f"{len(plan)} runs x {args.epochs} epochs -> {out}",
        file=sys.stderr,
    )
    results = {}
    for i, cfg in enumerate(plan, 1):
        bar = _Progress(
            f"[{i}/{len(plan)}] {cfg.host} {cfg.surrogate} seed {cfg.seed}", cfg.epochs
        )
        records = run(cfg, data, out, on_epoch=bar.update)
        bar.close(records)
        results[(cfg.host, cfg.surrogate, cfg.seed)] = records
    rows = report.aggregate(results, args.target)
    table = report.format_table(rows, args.target)
    print(table)
    (out / "table.txt").write_text(table + "\n")
    report.write_csv(results, out / "results.csv")
    report.write_json(config, results, rows, out / "results.json")
    if not args.no_plots:
        plots.plot_accuracy(results, out / "accuracy.png")
        plots.plot_gradients(results, out / "gradients.png")
        plots.plot_window_share(results, out / "window_share.png")
        adali = next((s for (_, s, _) in results if s.startswith("AdaLi")), None)
        if adali is not None:
            plots.plot_membranes(
                results,
                out / "membrane_adali.png",
                surrogate=adali,
                spec=HistogramSpec(),
            )
    return json.loads((out / "results.json").read_text())


class _Progress:
    """A one-line progress bar per run; on a non-terminal, one line at the end."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, total, 0
        self.live = sys.stderr.isatty()
        self._draw("")

    def _draw(self, tail: str, *, final: bool = False) -> None:
        if not (self.live or final):
            return
        filled = int(20 * self.done / max(self.total, 1))
        bar = f"[{'#' * filled}{'.' * (20 - filled)}] {self.done}/{self.total}"
        start = "\r" if self.live else ""
        end = "\n" if final else ""
        print(f"{start}{self.label} {bar} {tail}", end=end, file=sys.stderr, flush=True)

    def update(self, record: dict[str, Any]) -> None:
        self.done = record["epoch"] + 1
        self._draw(f"acc {record['test_acc']:.3f} loss {record['train_loss']:.3f}")

    def close(self, records: list[dict[str, Any]]) -> None:
        self.done = len(records)
        last = records[-1] if records else None
        self._draw(f"acc {last['test_acc']:.3f}" if last else "", final=True)


def entry_point() -> int:
    """The ``adali-compare`` console script (exit status 0 on success)."""
    main()
    return 0
