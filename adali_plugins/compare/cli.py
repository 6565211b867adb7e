"""``adali-compare``: AdaLi beside the host built-ins, same seeds, data and optimizer.

    adali-compare                                  # quick default, both hosts
    adali-compare --full                           # every built-in, 15 epochs
    adali-compare --surrogates AdaLi "AdaLi:p=1" atan --host snntorch

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
"""

from __future__ import annotations

import argparse
import contextlib
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
from ..fileio import FolderBusyError, atomic_path, atomic_write
from ..hosts import is_installed
from ..stats import HistogramSpec
from . import classes, logs, plots, report, verdict
from .architectures import ARCHS
from .data import DataFormatError
from .data.datasets import (
    ENCODINGS,
    LOADERS,
    NEEDS_DATA_DIR,
    Dataset,
    load_dataset,
    sequence_steps,
)
from .external import run_external
from .hosts import PROFILES
from .progress import Progress, TqdmHandler
from .recipes import LOSSES, RECIPES
from .spec import (
    BUILTINS,
    LABEL_WIDTH,
    SurrogateSpec,
    default_surrogates,
    listing,
    parse_surrogate,
    quick_surrogates,
)
from .train import (
    RUN_DEFAULTS,
    RunConfig,
    build_model,
    check_resumable,
    config_differences,
    run,
)
from .user import CompareError, check_device, check_out_folder, claim_folder

HOSTS = tuple(PROFILES)
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


def _setting(args: argparse.Namespace) -> str:
    """How the runs train, in one phrase: recipe, net, T, batch, lr."""
    net = "reference net" if args.arch == "ref" else args.arch
    if args.width != 1.0:
        net += f" (width x{args.width:g})"
    return (
        f"recipe {args.recipe}, {net}, T={args.time_steps}, batch "
        f"{args.batch_size}, lr {args.lr:g}"
    )


def _default_builtins_help() -> str:
    """Each host's default and best built-in, read from its profile."""
    return "; ".join(
        f"{name}: {', '.join(dict.fromkeys((p.default_builtin, p.best_builtin)))}"
        for name, p in PROFILES.items()
    )


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
READS_DATA_DIR = ("fashion-mnist", *NEEDS_DATA_DIR)
"""The datasets ``--data-dir`` applies to (the others ship or are generated)."""
MAX_WIDTH = 4.0

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
    "model",
    "data",
    "recipe",
    "arch",
    "width",
    "loss",
    "mix_lambda",
    "amp",
)
"""The flags that make a run's numbers; ``--target``, ``--threads``,
``--no-plots`` and ``--out`` do not."""


class UsageError(ValueError):
    """A flag, a combination of flags or the state of ``--out`` is unusable."""


USER_ERRORS = (
    UsageError,
    CheckpointError,
    DataFormatError,
    FolderBusyError,
    CompareError,
)
"""Errors reported as one line with exit status 2 (``main``)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag raises ``UsageError`` (one line, no usage dump)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The ``adali-compare`` parser (types only; ``validate`` checks values)."""
    p = _Parser(
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


def _hosts(choice: str) -> list[str]:
    """The hosts to run; with ``both`` and one host missing, the other, saying so
    on stderr in one line."""
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
    if missing:
        print(
            f"adali-compare: --host both: {', '.join(missing)} not installed, "
            f"running {', '.join(hosts)} only "
            f"(pip install 'adali_plugins[{missing[0]}]')",
            file=sys.stderr,
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
    """Refuse a file, an unwritable place, the filesystem root, or a folder
    holding other files and no comparison (``user.check_out_folder``)."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder; use another --out")
    try:
        check_out_folder(out, flag="--out ")
    except CompareError as exc:
        raise UsageError(str(exc)) from None
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
    """The same check as ``compare(device=...)``, naming ``--device``."""
    try:
        check_device(device)
    except CompareError as exc:
        raise UsageError(f"--{_one_line(exc)}") from None


def validate(args: argparse.Namespace) -> None:
    """Check every flag's value (no I/O but looking at ``--out``/``--data-dir``).

    Raises:
        UsageError: with a one-line message naming the flag.
    """
    recipe = RECIPES[args.recipe]
    if args.batch_size is None:
        args.batch_size = recipe.batch_size
    if args.lr is None:
        args.lr = recipe.lr
    for name in ("seeds", "epochs", "time_steps", "batch_size"):
        _check_count(name, getattr(args, name))
    if not (math.isfinite(args.width) and 0 < args.width <= MAX_WIDTH):
        raise UsageError(
            f"--width must be a finite number in (0, {MAX_WIDTH:g}], got {args.width}"
        )
    if not (math.isfinite(args.mix_lambda) and 0 <= args.mix_lambda <= 1):
        raise UsageError(f"--mix-lambda must be in [0, 1], got {args.mix_lambda}")
    chose_net = (args.recipe, args.arch) != (
        RUN_DEFAULTS["recipe"],
        RUN_DEFAULTS["arch"],
    )
    if (args.model or args.data) and chose_net:
        raise UsageError(
            "--recipe and --arch apply to the harness's own nets; with --model "
            "your factory builds the net and the run trains it with Adam"
        )
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
    if args.data_dir is not None and (args.model or args.data):
        raise UsageError(
            "--data-dir applies to the harness's datasets; with --data your "
            "loaders read the data"
        )
    if args.data_dir is not None and args.dataset not in READS_DATA_DIR:
        raise UsageError(
            f"--data-dir applies to {', '.join(READS_DATA_DIR)}; --dataset "
            f"{args.dataset} is bundled or generated: drop --data-dir"
        )
    _check_device(args.device)
    _check_out(args.out)


def select_specs(
    hosts: list[str], surrogates: list[str] | None, *, full: bool = False
) -> dict[str, list[SurrogateSpec]]:
    """The surrogates to run on each host, each built once to prove it works.

    A host's built-in runs on that host only; a name no selected host knows,
    a name given twice, an option a constructor refuses, or two labels the
    table would show alike are usage errors.
    """
    if not surrogates:
        pick = default_surrogates if full else quick_surrogates
        chosen = {h: pick(h) for h in hosts}
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
    differ = config_differences(saved, ident, RUN_DEFAULTS)
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
        recipe=args.recipe,
        arch=args.arch,
        width=args.width,
        loss=args.loss,
        mix_lambda=args.mix_lambda,
        amp=args.amp,
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
    _check_identity(out, ident)  # refuse early, before loading any data
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
    with _claimed(out, ident, plan):
        return _train_and_report(args, plan, data, out, log)


@contextlib.contextmanager
def _claimed(
    out: Path, ident: dict[str, Any], plan: list[RunConfig] | None = None
) -> Iterator[None]:
    """``--out`` created, locked for this run, every checkpoint of ``plan`` found
    resumable, and only then ``config.json`` written with this run's identity
    (a refused run leaves it as it was). Without ``plan`` (``--model``:
    ``compare()`` checks its own runs first) it is written once the body
    succeeded."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: {_one_line(exc)}") from None
    with claim_folder(out):
        known = _check_identity(out, ident)
        for cfg in plan or ():
            check_resumable(cfg, out)
        if not known and plan is not None:
            atomic_write(out / "config.json", json.dumps(ident, indent=1) + "\n")
        yield
        if not known and plan is None:
            atomic_write(out / "config.json", json.dumps(ident, indent=1) + "\n")


def _main_external(
    args: argparse.Namespace, out: Path, ident: dict[str, Any]
) -> dict[str, Any]:
    """``--model`` / ``--data``: the user's network and data through ``compare()``."""
    if not (args.model and args.data):
        raise UsageError("--model and --data go together: give both")
    _check_identity(out, ident)
    if args.threads:
        torch.set_num_threads(args.threads)
    with _claimed(out, ident):
        return run_external(args, out)


def _train_and_report(
    args: argparse.Namespace,
    plan: list[RunConfig],
    data: Dataset,
    out: Path,
    log: logs.LogSetup,
) -> dict[str, Any]:
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    if not args.quiet:
        print(
            f"{data.name}: {data.description}; "
            f"{len(data.y_train)} train / {len(data.y_test)} test; "
            f"{len(plan)} runs x {args.epochs} epochs; {_setting(args)} -> {out}",
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
        for name, draw in _plots(results):
            with atomic_path(out / name) as tmp:
                draw(tmp)
            written.append(out / name)
    summary = out / "summary.md"
    with atomic_path(summary) as tmp:
        report.write_summary(
            tmp,
            title=f"adali-compare on {data.name}: {len(plan)} runs x "
            f"{args.epochs} epochs; {_setting(args)}",
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


def _plots(results: dict[tuple[str, str, int], list[dict[str, Any]]]) -> Iterator:
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


def entry_point(argv: list[str] | None = None) -> int:
    """The ``adali-compare`` console script: 0 on success, 2 on a user error."""
    try:
        main(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0
