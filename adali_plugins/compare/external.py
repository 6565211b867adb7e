"""``adali-compare --model pkg.module:factory --data pkg.module:loaders``.

The user's own network and data, named by import path, compared through
:func:`adali_plugins.compare.user.compare` with the CLI's table, verdict,
plots, checkpoints and resume. ``factory(seed)`` returns an ``nn.Module``;
``loaders()`` returns ``(train, test)``, two re-iterable sources of
``(inputs, labels)`` batches. The current folder is importable, as with
``python -m``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..fileio import atomic_path, atomic_write
from . import report, verdict
from .user import CompareError, compare


def load_callable(text: str, flag: str) -> Callable[..., Any]:
    """The callable ``module.path:name`` names; a ``CompareError`` naming ``flag``."""
    module_name, colon, name = text.partition(":")
    if not (colon and module_name and name):
        raise CompareError(
            f"{flag} must look like package.module:function, got {text!r}"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the user's module failed to import
        raise CompareError(
            f"{flag} {text}: cannot import {module_name} ({type(exc).__name__}: {exc})"
        ) from None
    obj = module
    for part in name.split("."):
        if not hasattr(obj, part):
            raise CompareError(f"{flag} {text}: {module_name} has no {name!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise CompareError(
            f"{flag} {text}: {name} is {type(obj).__name__}, not callable"
        )
    return obj


def load_data(text: str) -> tuple[Any, Any]:
    """Call the ``--data`` function and check it returned ``(train, test)``."""
    loaders = load_callable(text, "--data")
    got = loaders()
    if not (isinstance(got, (tuple, list)) and len(got) == 2):
        raise CompareError(
            f"--data {text} must return (train, test), got {type(got).__name__}"
        )
    for part, name in zip(got, ("train", "test"), strict=True):
        if not hasattr(part, "__iter__"):
            raise CompareError(
                f"--data {text}: {name} is {type(part).__name__}, not iterable"
            )
    return got[0], got[1]


def run_external(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Compare on the user's model and data; write and print like the harness."""
    factory = load_callable(args.model, "--model")
    train, test = load_data(args.data)
    lr = args.lr
    result = compare(
        model=factory,
        train=train,
        test=test,
        surrogates=args.surrogates,
        epochs=args.epochs,
        seeds=args.seeds,
        optimizer=lambda params: torch.optim.Adam(params, lr=lr),
        device=args.device,
        out=out,
    )
    table = result.table()
    judged = verdict.format_verdicts(result.verdicts())
    print(table)
    if judged:
        print(f"\n{judged}")
    atomic_write(out / "table.txt", table + "\n")
    written = []
    if not args.no_plots:
        with atomic_path(out / "accuracy.png") as tmp:
            result.plot(tmp)
        written.append(out / "accuracy.png")
    summary = out / "summary.md"
    with atomic_path(summary) as tmp:
        report.write_summary(
            tmp,
            title=f"adali-compare on {args.model} with {args.data}",
            table=table,
            verdict=judged,
            plots=written,
        )
    print(f"\nsummary: {summary}")
    return {"host": result.host, "verdict": [v.as_dict() for v in result.verdicts()]}
