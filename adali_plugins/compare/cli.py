"""``adali-compare``: AdaLi beside the host built-ins, same seeds, data and optimizer.

    adali-compare                                  # quick default, both hosts
    adali-compare --full                           # every built-in, 15 epochs
    adali-compare --surrogates AdaLi "AdaLi:p=1" atan --host snntorch
    adali-compare merge job-a/ job-b/ --out all     # rows trained apart, one table

Prints the table and a verdict (AdaLi against the best built-in, paired by
seed, with a 95% interval), writes ``results.csv``, ``results.json``,
``summary.md`` and PNG plots to ``--out``, and resumes an interrupted run from
its last finished epoch.

Every flag is checked, and every surrogate built for every selected host,
before the first epoch: a user error prints one line
(``adali-compare: error: ...``) and exits with status 2, writing nothing. A run's
identity is every flag that changes its numbers (``IDENTITY``); it is stored in
``--out/config.json`` and a rerun into the same ``--out`` resumes only the
identical configuration. ``--out`` is locked while a run uses it.

This module is the command: the parser, ``main`` and the order of the steps.
What a flag may be is in ``flags``, the runs in ``grid``, what is printed and
written in ``outputs``; ``--model`` / ``--data`` go through ``external``, and
``adali-compare merge`` (rows trained as separate jobs) through ``merge``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import CheckpointError
from ..fileio import FolderBusyError
from ..hosts import is_installed
from . import logs, merge
from .architectures import ARCHS
from .data import DataFormatError
from .data.datasets import ENCODINGS, LOADERS, Dataset
from .external import run_external
from .flags import (
    BUDGET,
    FULL_EPOCHS,
    HOSTS,
    IDENTITY,
    MAX_LR,
    MAX_STEP_ELEMENTS,
    MAX_WIDTH,
    QUICK_EPOCHS,
    LineParser,
    UsageError,
    check_identity,
    identity,
    one_line,
    select_specs,
    validate,
)
from .flags import select_hosts as _hosts
from .grid import claimed, dry_run, load_grid_data, plan_runs, train_runs
from .hosts import PROFILES
from .outputs import announce, write_outputs
from .progress import TqdmHandler
from .recipes import LOSSES, RECIPES
from .spec import BUILTINS, listing
from .train import RUN_DEFAULTS, RunConfig
from .user import CompareError

__all__ = [
    "BUDGET",
    "IDENTITY",
    "USER_ERRORS",
    "UsageError",
    "build_parser",
    "entry_point",
    "identity",
    "main",
    "select_specs",
    "validate",
]

EPILOG = """examples:
  adali-compare                                  quick default: AdaLi, each host's
                                                 default and best built-in, 3 seeds
  adali-compare --full                           every built-in, AdaLi calibrated,
                                                 15 epochs
  adali-compare --host spikingjelly --surrogates "AdaLi:schedule=sqrt" ATan \\
      --seeds 5 --epochs 10

adali-compare --list prints every surrogate name and AdaLi option.
adali-compare merge JOB_OUT [JOB_OUT ...] --out DIR joins rows trained as
separate jobs with the same settings into one table (nothing trains).
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


def _default_builtins_help() -> str:
    """Each host's default and best built-in, read from its profile."""
    return "; ".join(
        f"{name}: {', '.join(dict.fromkeys((p.default_builtin, p.best_builtin)))}"
        for name, p in PROFILES.items()
    )


USER_ERRORS = (
    UsageError,
    CheckpointError,
    DataFormatError,
    FolderBusyError,
    CompareError,
)
"""Errors reported as one line with exit status 2 (``main``)."""


def build_parser() -> argparse.ArgumentParser:
    """The ``adali-compare`` parser (types only; ``validate`` checks values)."""
    p = LineParser(
        prog="adali-compare",
        description=__doc__.split("\n")[0].replace("``", ""),
        epilog=EPILOG
        + "\nA rerun into an existing --out resumes it only if every flag of "
        f"{', '.join('--' + f.replace('_', '-') for f in IDENTITY)} is the same; "
        "otherwise it stops, naming the flags that differ (use another --out).\n"
        "Budget: counts and sizes from 1 to "
        + ", ".join(f"{v} (--{k.replace('_', '-')})" for k, v in BUDGET.items())
        + f"; --batch-size x --time-steps "
        f"at most {MAX_STEP_ELEMENTS}; --lr finite in (0, {MAX_LR}].",
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
        f"({_default_builtins_help()}); with --full: AdaLi, "
        f"AdaLi:calibrate=both and the built-ins ({_builtins_help()}); ESG and "
        "MPD are our re-implementations of adaptive baselines; a host's built-in "
        "runs on that host only",
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
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="default: the recipe's (host 64, paper 128)",
    )
    p.add_argument(
        "--lr",
        type=float,
        default=None,
        help="default: the recipe's (host 2e-3, paper 0.1)",
    )
    p.add_argument(
        "--recipe",
        choices=tuple(RECIPES),
        default=RUN_DEFAULTS["recipe"],
        help="host: LIF, hard reset, spiking output, spike-count CE, Adam (the "
        "hosts' tutorials); paper: the authors' IF soft reset, linear head "
        "averaged over T, SGD 0.9 / 1e-4 with cosine annealing",
    )
    p.add_argument(
        "--arch",
        choices=ARCHS,
        default=RUN_DEFAULTS["arch"],
        help="ref: the reference conv net; resnet18 / vgg11: the authors' "
        "CIFAR-style spiking ResNet-18 and VGG-11-BN",
    )
    p.add_argument(
        "--width",
        type=float,
        default=RUN_DEFAULTS["width"],
        help=f"channel multiplier of --arch, in (0, {MAX_WIDTH:g}] (0.25 fits a CPU)",
    )
    p.add_argument(
        "--loss",
        choices=LOSSES,
        default=RUN_DEFAULTS["loss"],
        help="ce, or the authors' mix: lambda * MSE(one-hot) + (1 - lambda) * CE",
    )
    p.add_argument(
        "--mix-lambda",
        type=float,
        default=RUN_DEFAULTS["mix_lambda"],
        help="lambda of --loss mix, in [0, 1] (theirs: 0.05 CIFAR10-DVS, 0.2 "
        "DVS Gesture)",
    )
    p.add_argument(
        "--amp",
        choices=("none", "bf16"),
        default=RUN_DEFAULTS["amp"],
        help="bf16 autocast of the training forward (for --device cuda)",
    )
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
    p.add_argument(
        "--model",
        default=None,
        metavar="MODULE:FACTORY",
        help="your own network: factory(seed) -> nn.Module (snnTorch or "
        "SpikingJelly neurons), by import path; needs --data",
    )
    p.add_argument(
        "--data",
        default=None,
        metavar="MODULE:LOADERS",
        help="your own data: loaders() -> (train, test) iterables of "
        "(inputs, labels) batches, by import path; needs --model",
    )
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


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the comparison; returns the JSON payload it wrote.

    A user error (bad flag, unknown surrogate, damaged checkpoint or data file,
    ``--out`` busy or holding another configuration) prints one line
    ``adali-compare: error: ...`` on stderr and raises ``SystemExit(2)``; an
    ``OSError`` (disk full) prints one line and raises ``SystemExit(1)``.

    Args:
        argv: The command-line arguments (``adali-compare --help``); None
            reads ``sys.argv[1:]``.
    """
    try:
        return _main(argv)
    except USER_ERRORS as exc:
        print(f"adali-compare: error: {one_line(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as exc:  # disk full, permissions changed mid-run: not a bug here
        print(f"adali-compare: error: {one_line(exc)}", file=sys.stderr)
        raise SystemExit(1) from None


def _main(argv: list[str] | None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["merge"]:
        return merge.main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.list:
        print(listing({h: is_installed(h) for h in HOSTS}))
        return {}
    # Logging first: importing a host (building its surrogates) can log notices
    # that the set-up filters.
    verbosity = -1 if args.quiet else args.verbose
    log = logs.setup(verbosity, handler=TqdmHandler(sys.stderr))
    try:
        return _compare(args, log)
    finally:
        log.close()


def _compare(args: argparse.Namespace, log: logs.LogSetup) -> dict[str, Any]:
    if args.epochs is None:
        args.epochs = FULL_EPOCHS if args.full else QUICK_EPOCHS
    validate(args)
    out: Path = args.out
    ident = identity(args)
    if args.model or args.data:
        return _main_external(args, out, ident)
    hosts = _hosts(args.host)
    specs = select_specs(hosts, args.surrogates, full=args.full)
    check_identity(out, ident)  # refuse early, before loading any data
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    data = load_grid_data(args)
    if data.time_major_frames:
        frames = int(data.x_train.shape[1])
        if args.time_steps != frames:
            print(
                f"{data.name} has {frames} frames per sample: --time-steps {frames}",
                file=sys.stderr,
            )
            args.time_steps = frames
    dry_run(specs, data, args)
    plan = plan_runs(args, hosts, specs)
    with claimed(out, ident, plan):
        return _train_and_report(args, plan, data, out, log)


def _main_external(
    args: argparse.Namespace, out: Path, ident: dict[str, Any]
) -> dict[str, Any]:
    """``--model`` / ``--data``: the user's network and data through ``compare()``."""
    if not (args.model and args.data):
        raise UsageError("--model and --data go together: give both")
    check_identity(out, ident)
    if args.threads:
        torch.set_num_threads(args.threads)
    with claimed(out, ident):
        return run_external(args, out)


def _train_and_report(
    args: argparse.Namespace,
    plan: list[RunConfig],
    data: Dataset,
    out: Path,
    log: logs.LogSetup,
) -> dict[str, Any]:
    """Train the grid, then print and write the outputs; the JSON payload."""
    announce(args, plan, data, out)
    results = train_runs(args, plan, data, out, log)
    return write_outputs(args, out, log, results, data_name=data.name)


def entry_point(argv: list[str] | None = None) -> int:
    """The ``adali-compare`` console script: 0 on success, 2 on a user error."""
    try:
        main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0
