"""What each ``adali-compare`` flag may be, and what a run is.

The budget of every count and size flag, ``validate`` (one ``UsageError`` line
naming the flag), the hosts to run, the candidates per host
(``select_specs``, every surrogate built once before anything trains), and the
run identity (``IDENTITY``) stored in ``--out/config.json`` and compared on a
rerun. No I/O but looking at ``--out``, ``--data-dir`` and ``config.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from ..hosts import is_installed
from .data.datasets import NEEDS_DATA_DIR
from .hosts import PROFILES
from .recipes import RECIPES
from .spec import (
    BUILTINS,
    LABEL_WIDTH,
    SurrogateSpec,
    default_surrogates,
    parse_surrogate,
    quick_surrogates,
)
from .train import RUN_DEFAULTS, config_differences
from .user import MAX_COUNTS, CompareError, check_device, check_out_folder

HOSTS = tuple(PROFILES)
QUICK_EPOCHS, FULL_EPOCHS = 8, 15
"""Default ``--epochs`` without and with ``--full``."""


BUDGET = {
    "seeds": MAX_COUNTS["seeds"],
    "epochs": MAX_COUNTS["epochs"],
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


class LineParser(argparse.ArgumentParser):
    """argparse, but a bad flag raises ``UsageError`` (one line, no usage dump)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def check_target(target: float) -> None:
    """``--target`` (the accuracy of the epochs-to-target column) is in (0, 1]."""
    if not (math.isfinite(target) and 0 < target <= 1):
        raise UsageError(f"--target must be in (0, 1], got {target}")


def select_hosts(choice: str) -> list[str]:
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
        raise UsageError(f"--{one_line(exc)}") from None


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
    check_target(args.target)
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
                    f"--surrogates {spec.label!r} on {host}: {one_line(exc)}"
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


def one_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message, at most 300 characters."""
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


def check_identity(out: Path, ident: dict[str, Any]) -> bool:
    """True if ``out`` holds a run of ``ident``; False if it holds none yet."""
    path = out / "config.json"
    if not path.exists():
        return False
    try:
        saved = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(
            f"{path}: unreadable ({one_line(exc)}); delete it or use another --out"
        ) from None
    differ = config_differences(saved, ident, RUN_DEFAULTS)
    if differ:
        flags = ", ".join("--" + f.replace("_", "-") for f in differ)
        raise UsageError(
            f"--out {out} holds a run with different {flags}; rerun with the same "
            "flags to resume it, or use another --out"
        )
    return True
