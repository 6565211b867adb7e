"""The run grid of ``adali-compare``: every (host, surrogate, seed) as a run.

Loads the dataset, builds and steps each host's model once per surrogate
(``dry_run``) before any epoch, claims ``--out`` (locked, every checkpoint
found resumable, only then ``config.json`` written), and trains the runs in
order, each resumable (``train.run``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..fileio import atomic_write
from . import logs
from .data.datasets import Dataset, load_dataset, sequence_steps
from .flags import UsageError, check_identity, one_line
from .progress import Progress
from .spec import SurrogateSpec
from .train import RunConfig, build_model, check_resumable, run
from .user import claim_folder

logger = logging.getLogger(__name__)


def load_grid_data(args: argparse.Namespace) -> Dataset:
    """The ``--dataset`` the flags name; a reader's refusal as a ``UsageError``."""
    try:
        data = load_dataset(
            args.dataset,
            data_dir=args.data_dir,
            train_limit=args.train_limit,
            test_limit=args.test_limit,
            time_steps=args.time_steps,
        )
    except (FileNotFoundError, ImportError, ValueError) as err:
        raise UsageError(f"{args.dataset}: {one_line(err)}") from None
    if data.sequence:
        try:
            sequence_steps(data.x_train[:1], args.time_steps)
        except ValueError as err:
            raise UsageError(f"{data.name}: {one_line(err)}") from None
    return data


def dry_run(
    plan: dict[str, list[SurrogateSpec]], data: Dataset, args: argparse.Namespace
) -> None:
    """Build each host's model with each surrogate and push two samples through."""
    x = data.x_train[:2]
    for host, specs in plan.items():
        for spec in specs:
            cfg = run_config(args, host, spec, 0)
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
                    f"{one_line(exc)}"
                ) from None


def run_config(
    args: argparse.Namespace, host: str, spec: SurrogateSpec, seed: int
) -> RunConfig:
    """The ``RunConfig`` of one (host, surrogate, seed) under ``args``."""
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


def plan_runs(
    args: argparse.Namespace, hosts: list[str], specs: dict[str, list[SurrogateSpec]]
) -> list[RunConfig]:
    """Every run of the grid, host by host, surrogate by surrogate, seed by seed."""
    return [
        run_config(args, host, spec, seed)
        for host in hosts
        for spec in specs[host]
        for seed in range(args.seeds)
    ]


@contextlib.contextmanager
def claimed(
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
        raise UsageError(f"--out {out}: {one_line(exc)}") from None
    with claim_folder(out):
        known = check_identity(out, ident)
        for cfg in plan or ():
            check_resumable(cfg, out)
        if not known and plan is not None:
            atomic_write(out / "config.json", json.dumps(ident, indent=1) + "\n")
        yield
        if not known and plan is None:
            atomic_write(out / "config.json", json.dumps(ident, indent=1) + "\n")


def train_runs(
    args: argparse.Namespace,
    plan: list[RunConfig],
    data: Dataset,
    out: Path,
    log: logs.LogSetup,
) -> dict[tuple[str, str, int], list[dict[str, Any]]]:
    """Train (or resume) every run of ``plan``; their per-epoch records."""
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
    return results
