"""Render every results table of the docs and the README from stored runs.

Numbers are built, not typed: each run lives in ``docs/results/<name>/`` as the
``results.json`` that ``adali-compare --out`` wrote and the exact command in
``command.txt``. This script renders

* ``docs/results/<name>.md``: the command, the table (the harness's columns),
  the verdict and the runs that never predicted a class;
* ``docs/results/index.md``: the list of those pages;
* every block between ``<!-- results:<name> -->`` and ``<!-- /results:<name> -->``
  in README.md and docs/*.md: that run's table and verdict;
* every block between ``<!-- placement -->`` and ``<!-- /placement -->``: AdaLi
  on the hidden layers (the default) beside AdaLi on every layer and the host
  default, from every stored run that has them.

Usage: ``python docs/render_results.py`` (write) or ``--check`` (exit 1 and
name each file that differs from what its JSON renders to; the test suite runs
the same comparison).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import re
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "docs" / "results"
ORDER = ("main", "digits", "dvs-digits", "mnist1d", "fashion-mnist")
"""Pages listed first, in this order; any other stored run follows by name."""

HOST_DEFAULT = {"snntorch": "atan", "spikingjelly": "Sigmoid"}
"""The host's default built-in (as in ``adali_plugins.compare.hosts.PROFILES``)."""

ALL_LAYERS = "AdaLi:output=adali"
"""The harness's name for AdaLi on every spiking layer, the output one included."""

NO_TEST = "<!-- no-test: the command that produced this page; a training run -->"

BLOCK = re.compile(
    r"(?P<open><!-- (?P<kind>results|placement)(?::(?P<name>[\w.-]+))? -->\n)"
    r"(?P<body>.*?)"
    r"(?P<close><!-- /(?P=kind)(?::(?P=name))? -->)",
    re.S,
)


def _pm(pair: list[float] | tuple[float, float]) -> str:
    mean, std = pair
    return f"{100 * mean:.2f} ± {100 * std:.2f}"


def _fmt_share(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.1%}"


def _mean_density(record: dict[str, Any]) -> float:
    """Computational density of an epoch record, averaged over layers."""
    per_layer = record.get("density", record.get("in_window")) or {}
    values = list(per_layer.values())
    return statistics.fmean(values) if values else math.nan


def _runs_of(payload: dict[str, Any], host: str, surrogate: str) -> list[list[dict]]:
    return [
        r["epochs"]
        for r in payload["runs"]
        if r["host"] == host and r["surrogate"] == surrogate and r["epochs"]
    ]


def _first_density(runs: list[list[dict]]) -> float:
    values = [_mean_density(r[0]) for r in runs]
    values = [v for v in values if not math.isnan(v)]
    return statistics.fmean(values) if values else math.nan


def _never_predicted(runs: list[list[dict]]) -> int:
    """Runs whose last evaluation left some class with no prediction."""
    return sum(any(n == 0 for n in (r[-1].get("predicted") or [])) for r in runs)


def table(payload: dict[str, Any]) -> str:
    """The harness's table as Markdown: one row per (host, surrogate)."""
    target = payload["config"].get("target", 0.9)
    head = (
        "| host | surrogate | final acc % | best acc % | "
        f"ep→{target:.0%} | s/epoch | density first→last | never-predicted runs |"
    )
    lines = [head, "|" + " --- |" * 8]
    for row in payload["table"]:
        runs = _runs_of(payload, row["host"], row["surrogate"])
        reached, seeds = row["reached"], row["seeds"]
        to_target = (
            f"{row['epochs_to_target']:.1f} ({reached}/{seeds})"
            if reached
            else f"– (0/{seeds})"
        )
        density = f"{_fmt_share(_first_density(runs))} → {_fmt_share(row['density'])}"
        lines.append(
            f"| {row['host']} | `{row['surrogate']}` | {_pm(row['final_acc'])} | "
            f"{_pm(row['best_acc'])} | {to_target} | "
            f"{row['seconds_per_epoch']:.2f} | {density} | "
            f"{_never_predicted(runs)}/{len(runs)} |"
        )
    return "\n".join(lines)


def verdict(payload: dict[str, Any]) -> str:
    """The paired verdict, one bullet per host, as the harness wrote it."""
    lines = [f"- {v['line']}" for v in payload.get("verdict", [])]
    if not lines:
        return "No verdict: this run has no AdaLi row beside a built-in."
    return "**Verdict** (AdaLi against the best built-in, paired by seed):\n\n" + (
        "\n".join(lines)
    )


def _setting(payload: dict[str, Any]) -> str:
    c = payload["config"]
    parts = [
        f"dataset `{c.get('dataset')}`",
        f"recipe `{c.get('recipe')}`",
        f"{c.get('seeds')} seeds × {c.get('epochs')} epochs",
        f"T = {c.get('time_steps')}",
    ]
    if c.get("train_limit"):
        parts.append(f"train limit {c['train_limit']}")
    if c.get("test_limit"):
        parts.append(f"test limit {c['test_limit']}")
    return ", ".join(parts)


def block(payload: dict[str, Any], name: str) -> str:
    """A run's table and verdict, as embedded between the results markers."""
    return (
        f"{_setting(payload)} ([full page](results/{name}.md)).\n\n"
        f"{table(payload)}\n\n{verdict(payload)}\n"
    )


def _placement_legend(payload: dict[str, Any]) -> str:
    """Under the host recipe, where the AdaLi rows put AdaLi."""
    if payload["config"].get("recipe", "host") != "host":
        return ""
    return (
        " `AdaLi` is what `attach(model)` gives: AdaLi on the hidden spiking "
        "layers, the spiking output layer on the host's default surrogate; "
        f"`{ALL_LAYERS}` puts AdaLi on every spiking layer."
    )


def page(name: str, payload: dict[str, Any], command: str) -> str:
    """The whole results page of one stored run."""
    return (
        f"# Results: {name}\n\n"
        "<!-- Generated by docs/render_results.py from "
        f"docs/results/{name}/results.json(.gz); do not edit. -->\n\n"
        f"{_setting(payload)}. Produced by:\n\n{NO_TEST}\n\n"
        f"```bash\n{command.strip()}\n```\n\n"
        "Mean ± std (divisor n) over seeds; *density* is the share of membrane "
        "potentials inside the surrogate's window, averaged over layers, at the "
        "first and the last epoch; a *never-predicted run* ended with some class "
        "that no test sample was assigned to."
        f"{_placement_legend(payload)}\n\n"
        f"{table(payload)}\n\n{verdict(payload)}\n"
    )


def stored(results: Path = RESULTS) -> dict[str, tuple[dict[str, Any], str]]:
    """Every stored run under ``results``: name -> (results.json payload, command).

    A run is stored as the ``results.json`` the harness wrote, or that same
    file gzipped (``results.json.gz``, preferred: the per-epoch histograms make
    the plain file 1.5 to 11 MB, and git, the sdist and a reader all gain)."""
    found = {}
    for folder in sorted(results.glob("*/")):
        packed, plain = folder / "results.json.gz", folder / "results.json"
        cmd = folder / "command.txt"
        if packed.is_file():
            payload = json.loads(gzip.decompress(packed.read_bytes()))
        elif plain.is_file():
            payload = json.loads(plain.read_text())
        else:
            continue
        command = cmd.read_text() if cmd.is_file() else "(command not recorded)"
        found[folder.name] = (payload, command)
    return dict(
        sorted(
            found.items(),
            key=lambda kv: (ORDER.index(kv[0]) if kv[0] in ORDER else 99, kv[0]),
        )
    )


def index(runs: dict[str, tuple[dict[str, Any], str]]) -> str:
    """``docs/results/index.md``: a toctree of the rendered pages."""
    head = (
        "# Results\n\n<!-- Generated by docs/render_results.py; do not edit. -->\n\n"
        "Every page here is rendered from the `results.json` (stored gzipped) "
        "that `adali-compare` "
        "wrote for that run, with the command beside it; a test re-renders them "
        "and fails when a page and its JSON disagree.\n\n"
    )
    if not runs:
        return head + "No run is stored yet.\n"
    toc = "\n".join(runs)
    return head + f"```{{toctree}}\n:maxdepth: 1\n\n{toc}\n```\n"


def placement(runs: dict[str, tuple[dict[str, Any], str]]) -> str:
    """AdaLi on the hidden layers vs on every layer vs the host default."""
    lines = [
        "| run | host | AdaLi, hidden layers (default) | AdaLi, every layer | "
        "host default | never-predicted runs (hidden · every layer) |",
        "|" + " --- |" * 6,
    ]
    for name, (payload, _) in runs.items():
        rows = {(r["host"], r["surrogate"]): r for r in payload["table"]}
        for host, default in HOST_DEFAULT.items():
            ours, every = rows.get((host, "AdaLi")), rows.get((host, ALL_LAYERS))
            base = rows.get((host, default))
            if ours is None or every is None or base is None:
                continue
            dead = " · ".join(
                f"{_never_predicted(runs)}/{len(runs)}"
                for runs in (
                    _runs_of(payload, host, "AdaLi"),
                    _runs_of(payload, host, ALL_LAYERS),
                )
            )
            lines.append(
                f"| [{name}](results/{name}.md) | {host} | {_pm(ours['final_acc'])} | "
                f"{_pm(every['final_acc'])} | `{default}` {_pm(base['final_acc'])} "
                f"| {dead} |"
            )
    if len(lines) == 2:
        return (
            "*Not measured yet: no stored run in `docs/results/` has both `AdaLi` "
            f"and `{ALL_LAYERS}` rows. This block is filled by "
            "`docs/render_results.py` when one is added.*\n"
        )
    return (
        "Final test accuracy %, mean ± std over seeds, from the stored runs:\n\n"
        + "\n".join(lines)
        + "\n"
    )


def _fill(text: str, runs: dict[str, tuple[dict[str, Any], str]]) -> str:
    def body(m: re.Match[str]) -> str:
        if m["kind"] == "placement":
            return placement(runs)
        name = m["name"]
        if name not in runs:
            return (
                f"*Not measured yet: `docs/results/{name}/results.json` is not "
                "stored. This block is filled by `docs/render_results.py`.*\n"
            )
        return block(runs[name][0], name)

    return BLOCK.sub(lambda m: m["open"] + body(m) + m["close"], text)


def _with_readme_links(text: str) -> str:
    """README sits one folder up: its links to results pages point into docs/."""
    return text.replace("](results/", "](docs/results/")


def expected(root: Path = ROOT) -> dict[Path, str]:
    """Every file this script owns or fills under the checkout ``root``, with
    the text it should have."""
    docs = root / "docs"
    runs = stored(docs / "results")
    out: dict[Path, str] = {docs / "results" / "index.md": index(runs)}
    for name, (payload, command) in runs.items():
        out[docs / "results" / f"{name}.md"] = page(name, payload, command)
    fillers: dict[Path, Callable[[str], str]] = {
        p: (lambda t: _fill(t, runs)) for p in docs.glob("*.md")
    }
    readme = root / "README.md"
    if readme.is_file():
        fillers[readme] = lambda t: _with_readme_links(_fill(t, runs))
    for path, fill in fillers.items():
        text = path.read_text()
        if BLOCK.search(text):
            out[path] = fill(text)
    return out


def stale(root: Path = ROOT) -> list[Path]:
    """The files under ``root`` whose text differs from what their JSON renders to."""
    return [
        path
        for path, text in expected(root).items()
        if not path.is_file() or path.read_text() != text
    ]


def write(root: Path = ROOT) -> list[Path]:
    """Render every stale file under ``root``; return them."""
    changed = stale(root)
    want = expected(root)
    for path in changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(want[path])
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if stale"
    )
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    found = stale(args.root) if args.check else write(args.root)
    verb = "stale" if args.check else "rendered"
    for path in found:
        print(f"{verb}: {path.relative_to(args.root)}")
    return 1 if args.check and found else 0


if __name__ == "__main__":
    sys.exit(main())
