"""``adali-compare merge``: one table from rows trained as separate jobs.

    adali-compare merge job-a/results.json job-b/ job-c/results.json.gz --out all

The rows of a long grid are often trained apart: one host or one surrogate per
job, on other machines or days. ``merge`` reads the ``results.json`` that each
job's ``--out`` holds (plain or gzipped), checks that the jobs are parts of one
comparison (the same value of every flag in ``IDENTITY`` except ``--host`` and
``--surrogates``; every run finished every epoch; every row has every seed; no
run twice), and writes the table, verdict, plots, ``results.json`` and
``summary.md`` of the union to a new ``--out``, exactly as one command that
trained them all would have. Nothing trains. (Ours: harness tooling, nothing
of it comes from the authors' code.)

The inputs are data, never code: each is read as JSON, capped at
:data:`MAX_RESULTS_BYTES` before and after decompression, and checked before
anything is written. ``--out`` must not exist yet (or be empty), so nothing a
user saved is overwritten, and a merge that fails part-way leaves it as it was.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import zlib
from pathlib import Path
from typing import Any

from . import logs
from .data.errors import DataFormatError
from .data.safe_open import read_bytes
from .flags import IDENTITY, LineParser, UsageError, check_target, one_line
from .outputs import write_outputs
from .progress import TqdmHandler
from .train import RUN_DEFAULTS, config_differences

MAX_RESULTS_BYTES = 512 << 20
"""The largest ``results.json`` read, compressed or not (512 MiB; a 9-run,
4-epoch Fashion-MNIST grid writes about 11 MB, so about 400 such grids)."""

_CHUNK = 16 << 20
"""Bytes inflated per step, so a gzip bomb is stopped near the limit."""

SPLIT = ("host", "surrogates")
"""The identity flags in which merged jobs may differ: the rows themselves."""

Key = tuple[str, str, int]


class MergeError(UsageError):
    """The inputs cannot be merged into one comparison."""


def build_parser() -> argparse.ArgumentParser:
    """The ``adali-compare merge`` parser."""
    p = LineParser(
        prog="adali-compare merge",
        description="One table, verdict and plots from comparisons trained as "
        "separate jobs with the same settings (nothing trains).",
    )
    p.add_argument(
        "inputs",
        nargs="+",
        type=Path,
        metavar="RESULTS",
        help="a results.json or results.json.gz that adali-compare wrote, or the "
        "--out folder holding it",
    )
    p.add_argument(
        "--out", type=Path, required=True, help="a new folder for the merged outputs"
    )
    p.add_argument(
        "--target",
        type=float,
        default=None,
        help="accuracy for the epochs-to-target column (default: the inputs')",
    )
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("-q", "--quiet", action="store_true", help="errors only")
    return p


def _results_file(path: Path) -> Path:
    if path.is_dir():
        for name in ("results.json", "results.json.gz"):
            if (path / name).exists():
                return path / name
        raise MergeError(f"{path}: holds no results.json; give a finished --out")
    return path


def _decompress(path: Path, packed: bytes, limit: int) -> bytes:
    """``packed`` gunzipped in chunks, refused once it passes ``limit`` bytes."""
    inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    parts: list[bytes] = []
    total, pending = 0, packed
    try:
        while not inflate.eof:
            part = inflate.decompress(pending, _CHUNK)
            pending = inflate.unconsumed_tail
            total += len(part)
            if total > limit:
                raise MergeError(
                    f"{path}: decompresses to more than {limit} bytes; "
                    f"results.json files up to {limit} bytes are read"
                )
            parts.append(part)
            if not part and not pending:
                break
    except zlib.error as exc:
        raise MergeError(f"{path}: corrupt gzip stream ({exc})") from None
    if not inflate.eof:
        raise MergeError(f"{path}: truncated gzip stream")
    return b"".join(parts)


def read_results(path: Path, *, limit: int = MAX_RESULTS_BYTES) -> dict[str, Any]:
    """The payload of one ``results.json`` (or ``.json.gz``), its shape checked.

    Raises MergeError (one line naming the file) for anything else: a missing or
    special file, one above ``limit`` bytes, bad gzip or JSON, or runs that are
    not per-epoch records of (host, surrogate, seed).
    """
    path = _results_file(path)
    try:
        raw = read_bytes(path, max_bytes=limit)
    except DataFormatError as exc:
        raise MergeError(one_line(exc)) from None
    if raw[:2] == b"\x1f\x8b":
        raw = _decompress(path, raw, limit)
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MergeError(f"{path}: not JSON ({one_line(exc)})") from None
    _check_shape(path, payload)
    return payload


def _check_shape(path: Path, payload: Any) -> None:
    bad = f"{path}: not a results.json that adali-compare wrote"
    if not isinstance(payload, dict):
        raise MergeError(f"{bad} (not a JSON object)")
    config, runs = payload.get("config"), payload.get("runs")
    if not isinstance(config, dict) or not isinstance(runs, list):
        raise MergeError(f"{bad} (no 'config' object and 'runs' list)")
    if config.get("model") or config.get("data"):
        raise MergeError(
            f"{path}: a --model/--data comparison; only the reference grids merge"
        )
    epochs = config.get("epochs")
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise MergeError(f"{bad} (config 'epochs' is not a positive integer)")
    for i, run in enumerate(runs):
        where = f"{path}: runs[{i}]"
        if not (
            isinstance(run, dict)
            and isinstance(run.get("host"), str)
            and isinstance(run.get("surrogate"), str)
            and isinstance(run.get("seed"), int)
            and isinstance(run.get("epochs"), list)
        ):
            raise MergeError(f"{where}: needs host, surrogate, seed and epochs")
        records = run["epochs"]
        if [r.get("epoch") if isinstance(r, dict) else None for r in records] != list(
            range(epochs)
        ):
            raise MergeError(
                f"{where} ({run['host']} {run['surrogate']} seed {run['seed']}): "
                f"holds {len(records)} of {epochs} epochs; merge finished runs only"
            )


def merge_payloads(
    payloads: list[tuple[Path, dict[str, Any]]],
) -> tuple[dict[str, Any], dict[Key, list[dict[str, Any]]]]:
    """The merged configuration and runs, after checking the jobs agree.

    Rows come host by host, AdaLi's first, each in the order the inputs first
    name it (the order one command's table would have)."""
    (first, base), *rest = payloads
    for path, payload in rest:
        differ = config_differences(
            _identity(payload["config"]), _identity(base["config"])
        )
        if differ:
            flags = ", ".join("--" + f.replace("_", "-") for f in differ)
            raise MergeError(
                f"{path} and {first} were trained with different {flags}; "
                "only runs of the same settings merge"
            )
    results: dict[Key, list[dict[str, Any]]] = {}
    source: dict[Key, Path] = {}
    surrogates: list[str] = []
    for path, payload in payloads:
        for run in payload["runs"]:
            key = (run["host"], run["surrogate"], run["seed"])
            if key in results:
                raise MergeError(
                    f"{key[0]} {key[1]} seed {key[2]} is in both {source[key]} and "
                    f"{path}; give each run once"
                )
            results[key], source[key] = run["epochs"], path
            if run["surrogate"] not in surrogates:
                surrogates.append(run["surrogate"])
    seeds = base["config"].get("seeds")
    for host, surrogate in {(h, s) for h, s, _ in results}:
        have = sorted(seed for h, s, seed in results if (h, s) == (host, surrogate))
        if isinstance(seeds, int) and have != list(range(seeds)):
            raise MergeError(
                f"{host} {surrogate}: seeds {have}, not the {seeds} seeds "
                f"0..{seeds - 1} of its configuration; merge finished comparisons only"
            )
    hosts = sorted({h for h, _, _ in results})
    config = dict(base["config"])
    config["host"] = hosts[0] if len(hosts) == 1 else "both"
    config["surrogates"] = surrogates
    config["merged_from"] = [str(p) for p, _ in payloads]

    def order(key: Key) -> tuple[str, bool, int, int]:
        host, surrogate, seed = key
        return (
            host,
            not surrogate.startswith("AdaLi"),
            surrogates.index(surrogate),
            seed,
        )

    return config, {k: results[k] for k in sorted(results, key=order)}


def _identity(config: dict[str, Any]) -> dict[str, Any]:
    return {k: config.get(k, RUN_DEFAULTS.get(k)) for k in IDENTITY if k not in SPLIT}


def _new_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise MergeError(f"--out {out} exists and is not empty: give a new folder")


def merge(
    inputs: list[Path],
    out: Path,
    *,
    target: float | None = None,
    plots: bool = True,
    quiet: bool = False,
) -> dict[str, Any]:
    """Merge finished comparisons into ``out``; the merged ``results.json`` payload.

    Every input is read and checked, and ``out`` checked to be new, before
    anything is written.
    """
    _new_out(out)
    if target is not None:
        check_target(target)
    payloads = [(Path(p), read_results(Path(p))) for p in inputs]
    config, results = merge_payloads(payloads)
    if target is not None:
        config["target"] = target
    config["out"] = str(out)
    config["no_plots"] = not plots
    config["quiet"] = quiet
    args = argparse.Namespace(**config)
    _check_setting(args)
    existed = out.exists()
    out.mkdir(parents=True, exist_ok=True)
    log = logs.setup(-1 if quiet else 0, handler=TqdmHandler(sys.stderr))
    done = False
    try:
        payload = write_outputs(
            args, out, log, results, data_name=str(config.get("dataset"))
        )
        done = True
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise MergeError(
            f"the runs' records are not what adali-compare writes ({one_line(exc)})"
        ) from None
    finally:
        log.close()
        if not done:  # --out was new or empty: leave it as it was
            shutil.rmtree(out, ignore_errors=True)
            if existed:
                out.mkdir()
    return payload


def _check_setting(args: argparse.Namespace) -> None:
    """The fields the title and table format, with the types they need."""
    numbers = ("time_steps", "batch_size", "lr", "width", "target")
    for name in numbers:
        value = getattr(args, name, None)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise MergeError(f"config {name!r} is not a number: {value!r}")
    for name in ("recipe", "arch", "dataset"):
        if not isinstance(getattr(args, name, None), str):
            raise MergeError(f"config {name!r} is not a string")


def main(argv: list[str]) -> dict[str, Any]:
    """``adali-compare merge ...``: parse, merge, return the merged payload."""
    args = build_parser().parse_args(argv)
    return merge(
        args.inputs,
        args.out,
        target=args.target,
        plots=not args.no_plots,
        quiet=args.quiet,
    )
