"""``adali-compare``: AdaLi beside the host built-ins, same seeds, data and optimizer.

    adali-compare                                  # both hosts, bundled digits
    adali-compare --host spikingjelly --seeds 3 --epochs 20
    adali-compare --surrogates AdaLi "AdaLi:p=1" atan --host snntorch

Prints the table, writes ``results.csv``, ``results.json`` and PNG plots to
``--out``, and resumes an interrupted run from its last finished epoch.

Every flag is checked, and every surrogate built for every selected host,
before the first epoch: a user error prints one line
(``adali-compare: error: ...``) and exits with status 2, writing nothing. A run's
identity is every flag that changes its numbers (``IDENTITY``); it is stored in
``--out/config.json`` and a rerun into the same ``--out`` resumes only the
identical configuration. ``--out`` is locked while a run uses it.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import torch

from ..checkpoint import CheckpointError
from ..data import DataFormatError
from ..data.datasets import ENCODINGS, LOADERS, Dataset, load_dataset, sequence_steps
from ..fileio import FolderBusyError, atomic_path, atomic_write, folder_lock
from ..hosts import is_installed
from ..stats import HistogramSpec
from . import plots, report
from .spec import BUILTINS, SurrogateSpec, default_surrogates, parse_surrogate
from .train import (
    RunConfig,
    build_model,
    check_resumable,
    config_differences,
    run,
)

HOSTS = ("snntorch", "spikingjelly")

BUDGET = {
    "seeds": 100,
    "epochs": 1000,
    "time_steps": 256,
    "batch_size": 4096,
    "channels": 1024,
    "train_limit": 10_000_000,
    "test_limit": 10_000_000,
    "threads": 1024,
}
"""Largest accepted value of each count or size flag (all must be at least 1)."""
MAX_STEP_ELEMENTS = 1 << 16
"""Largest ``--batch-size`` x ``--time-steps``: bounds one batch's activations."""
MAX_LR = 10.0
LABEL_WIDTH = 25
"""Characters of a surrogate label the table shows (``report.format_table``)."""

IDENTITY = (
    "host",
    "dataset",
    "data_dir",
    "train_limit",
    "test_limit",
    "surrogates",
    "seeds",
    "epochs",
    "time_steps",
    "batch_size",
    "lr",
    "encoding",
    "channels",
    "device",
)
"""The flags that make a run's numbers; ``--target``, ``--threads``,
``--no-plots`` and ``--out`` do not."""


class UsageError(ValueError):
    """A flag, a combination of flags or the state of ``--out`` is unusable."""


USER_ERRORS = (UsageError, CheckpointError, DataFormatError, FolderBusyError)
"""Errors reported as one line with exit status 2 (``main``)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag raises ``UsageError`` (one line, no usage dump)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The ``adali-compare`` parser (types only; ``validate`` checks values)."""
    p = _Parser(
        prog="adali-compare",
        description=__doc__.split("\n")[0],
        epilog="A rerun into an existing --out resumes it only if every flag of "
        f"{', '.join('--' + f.replace('_', '-') for f in IDENTITY)} is the same; "
        "otherwise it stops, naming the flags that differ (use another --out). "
        f"Budget: counts and sizes from 1 to {BUDGET}; --batch-size x --time-steps "
        f"at most {MAX_STEP_ELEMENTS}; --lr finite in (0, {MAX_LR}].",
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
        "re-implementations of adaptive baselines (IM-Loss / MPD-AGL style); "
        "a host's built-in runs on that host only",
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
    p.add_argument(
        "--out",
        type=Path,
        default=Path("runs/compare"),
        help="results folder (created; locked while in use; resumed only with "
        "identical flags)",
    )
    p.add_argument("--no-plots", action="store_true")
    return p


def _hosts(choice: str) -> list[str]:
    wanted = list(HOSTS) if choice == "both" else [choice]
    missing = [h for h in wanted if not is_installed(h)]
    if missing and choice != "both":
        raise UsageError(
            f"{choice} is not installed: pip install 'adali_plugins[{choice}]'"
        )
    hosts = [h for h in wanted if h not in missing]
    if not hosts:
        raise UsageError(
            "neither snntorch nor spikingjelly is installed: "
            "pip install 'adali_plugins[all]'"
        )
    return hosts


def _check_count(name: str, value: int | None, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    flag = "--" + name.replace("_", "-")
    top = BUDGET[name]
    if value is None or not 1 <= value <= top:
        raise UsageError(f"{flag} must be from 1 to {top}, got {value}")


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder; use another --out")
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise UsageError(f"--out {out}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: {probe} is not writable; use another --out")


def _check_device(device: str) -> None:
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise UsageError(f"--device {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {device}: CUDA is not available here")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise UsageError(f"--device {device}: only cpu, cuda and mps are supported")


def validate(args: argparse.Namespace) -> None:
    """Check every flag's value (no I/O but looking at ``--out``/``--data-dir``).

    Raises:
        UsageError: with a one-line message naming the flag.
    """
    for name in ("seeds", "epochs", "time_steps", "batch_size"):
        _check_count(name, getattr(args, name))
    for name in ("train_limit", "test_limit", "threads"):
        _check_count(name, getattr(args, name), optional=True)
    for c in args.channels:
        if not 1 <= c <= BUDGET["channels"]:
            raise UsageError(
                f"--channels must be from 1 to {BUDGET['channels']}, "
                f"got {list(args.channels)}"
            )
    if args.batch_size * args.time_steps > MAX_STEP_ELEMENTS:
        raise UsageError(
            f"--batch-size x --time-steps must be at most {MAX_STEP_ELEMENTS}, got "
            f"{args.batch_size} x {args.time_steps}"
        )
    if not (math.isfinite(args.lr) and 0 < args.lr <= MAX_LR):
        raise UsageError(
            f"--lr must be a finite number in (0, {MAX_LR}], got {args.lr}"
        )
    if not (math.isfinite(args.target) and 0 < args.target <= 1):
        raise UsageError(f"--target must be in (0, 1], got {args.target}")
    if args.data_dir is not None and not args.data_dir.is_dir():
        raise UsageError(f"--data-dir {args.data_dir} is not a folder")
    _check_device(args.device)
    _check_out(args.out)


def select_specs(
    hosts: list[str], surrogates: list[str] | None
) -> dict[str, list[SurrogateSpec]]:
    """The surrogates to run on each host, each built once to prove it works.

    A host's built-in runs on that host only; a name no selected host knows,
    a name given twice, an option a constructor refuses, or two labels the
    table would show alike are usage errors.
    """
    if not surrogates:
        chosen = {h: default_surrogates(h) for h in hosts}
    else:
        specs = []
        for text in surrogates:
            try:
                specs.append(parse_surrogate(text))
            except ValueError as exc:
                raise UsageError(f"--surrogates {text!r}: {exc}") from None
        labels = [s.label for s in specs]
        twice = sorted({x for x in labels if labels.count(x) > 1})
        if twice:
            raise UsageError(f"--surrogates: {', '.join(twice)} given twice")
        chosen = {h: [] for h in hosts}
        for spec in specs:
            on = [
                h
                for h in hosts
                if spec.is_adali or spec.is_baseline or spec.name in BUILTINS[h]
            ]
            if not on:
                lacking = ", ".join(f"{h} lacks it" for h in hosts)
                elsewhere = [h for h in HOSTS if spec.name in BUILTINS[h]]
                where = (
                    f" (a {elsewhere[0]} built-in)"
                    if elsewhere
                    else f"; known: AdaLi, ESG, MPD, {dict(BUILTINS)}"
                )
                raise UsageError(
                    f"--surrogates: unknown surrogate {spec.name!r}: {lacking}{where}"
                )
            for h in on:
                chosen[h].append(spec)
    for host, specs in chosen.items():
        for spec in specs:
            try:
                spec.factory(host)()
            except Exception as exc:  # any constructor's refusal is a user error
                raise UsageError(
                    f"--surrogates {spec.label!r} on {host}: {_one_line(exc)}"
                ) from None
    shown: dict[str, str] = {}
    for spec in {s.label: s for specs in chosen.values() for s in specs}.values():
        short = spec.label[:LABEL_WIDTH]
        if shown.setdefault(short, spec.label) != spec.label:
            raise UsageError(
                f"--surrogates {shown[short]!r} and {spec.label!r} look the same in "
                f"the table (first {LABEL_WIDTH} characters); shorten one"
            )
    return chosen


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]


def identity(args: argparse.Namespace) -> dict[str, Any]:
    """The run's identity: every ``IDENTITY`` flag, as plain JSON values."""
    ident = {}
    for name in IDENTITY:
        value = getattr(args, name)
        if isinstance(value, Path):
            value = str(value.resolve())
        elif isinstance(value, tuple):
            value = list(value)
        ident[name] = value
    return ident


def _check_identity(out: Path, ident: dict[str, Any]) -> bool:
    """True if ``out`` holds a run of ``ident``; False if it holds none yet."""
    path = out / "config.json"
    if not path.exists():
        return False
    try:
        saved = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(
            f"{path}: unreadable ({_one_line(exc)}); delete it or use another --out"
        ) from None
    differ = config_differences(saved, ident)
    if differ:
        flags = ", ".join("--" + f.replace("_", "-") for f in differ)
        raise UsageError(
            f"--out {out} holds a run with different {flags}; rerun with the same "
            "flags to resume it, or use another --out"
        )
    return True


def _dry_run(
    plan: dict[str, list[SurrogateSpec]], data: Dataset, args: argparse.Namespace
) -> None:
    """Build each host's model with each surrogate and push two samples through."""
    x = data.x_train[:2]
    for host, specs in plan.items():
        for spec in specs:
            cfg = _run_config(args, host, spec, 0)
            try:
                model = build_model(cfg, data, spec)
                inputs = data.encode(
                    x, time_steps=cfg.time_steps, encoding=cfg.encoding
                )
                model(inputs.to(cfg.device)).sum().backward()
            except (
                Exception
            ) as exc:  # surfaced before the first epoch, as a usage error
                raise UsageError(
                    f"--surrogates {spec.label!r} on {host} fails on {data.name}: "
                    f"{_one_line(exc)}"
                ) from None


def _run_config(
    args: argparse.Namespace, host: str, spec: SurrogateSpec, seed: int
) -> RunConfig:
    return RunConfig(
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
        data_dir=None if args.data_dir is None else str(args.data_dir.resolve()),
        train_limit=args.train_limit,
        test_limit=args.test_limit,
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the comparison; returns the JSON payload it wrote.

    A user error (bad flag, unknown surrogate, damaged checkpoint or data file,
    ``--out`` busy or holding another configuration) prints one line
    ``adali-compare: error: ...`` on stderr and raises ``SystemExit(2)``; an
    ``OSError`` (disk full) prints one line and raises ``SystemExit(1)``.
    """
    try:
        return _main(argv)
    except USER_ERRORS as exc:
        print(f"adali-compare: error: {_one_line(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as exc:  # disk full, permissions changed mid-run: not a bug here
        print(f"adali-compare: error: {_one_line(exc)}", file=sys.stderr)
        raise SystemExit(1) from None


def _load(args: argparse.Namespace) -> Dataset:
    try:
        data = load_dataset(
            args.dataset,
            data_dir=args.data_dir,
            train_limit=args.train_limit,
            test_limit=args.test_limit,
            time_steps=args.time_steps,
        )
    except (FileNotFoundError, ImportError, ValueError) as err:
        raise UsageError(f"{args.dataset}: {_one_line(err)}") from None
    if data.sequence:
        try:
            sequence_steps(data.x_train[:1], args.time_steps)
        except ValueError as err:
            raise UsageError(f"{data.name}: {_one_line(err)}") from None
    return data


def _main(argv: list[str] | None) -> dict[str, Any]:
    args = build_parser().parse_args(argv)
    validate(args)
    hosts = _hosts(args.host)
    specs = select_specs(hosts, args.surrogates)
    out: Path = args.out
    ident = identity(args)
    _check_identity(out, ident)  # refuse early, before loading any data
    logging.basicConfig(
        level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    data = _load(args)
    if data.time_major_frames:
        frames = int(data.x_train.shape[1])
        if args.time_steps != frames:
            print(
                f"{data.name} has {frames} frames per sample: --time-steps {frames}",
                file=sys.stderr,
            )
            args.time_steps = frames
    _dry_run(specs, data, args)
    plan = [
        _run_config(args, host, spec, seed)
        for host in hosts
        for spec in specs[host]
        for seed in range(args.seeds)
    ]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: {_one_line(exc)}") from None
    with folder_lock(out):
        if not _check_identity(out, ident):
            atomic_write(out / "config.json", json.dumps(ident, indent=1) + "\n")
        for cfg in plan:
            check_resumable(cfg, out)
        return _train_and_report(args, plan, data, out)


def _train_and_report(
    args: argparse.Namespace, plan: list[RunConfig], data: Dataset, out: Path
) -> dict[str, Any]:
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
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
    atomic_write(out / "table.txt", table + "\n")
    with atomic_path(out / "results.csv") as tmp:
        report.write_csv(results, tmp)
    with atomic_path(out / "results.json") as tmp:
        report.write_json(config, results, rows, tmp)
    if not args.no_plots:
        for name, draw in _plots(results):
            with atomic_path(out / name) as tmp:
                draw(tmp)
    return json.loads((out / "results.json").read_text())


def _plots(results: dict[tuple[str, str, int], list[dict[str, Any]]]) -> Iterator:
    """(file name, writer) of each plot, each written atomically by the caller."""
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


def entry_point(argv: list[str] | None = None) -> int:
    """The ``adali-compare`` console script: 0 on success, 2 on a user error."""
    try:
        main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0
