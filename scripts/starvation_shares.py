"""Measure the share of starved units per AdaLi layer per epoch on healthy nets.

The main command's configuration (``python -m adali_plugins.compare``: digits,
host recipe, reference conv net, 8 epochs, T=4) trained through the harness's
``train.run``: its ``AdaLi`` row (AdaLi on the hidden layers, the output layer
on the host's default surrogate, as ``attach`` does by default), or
``AdaLi:output=adali`` (every layer, ``--placement all``). Every epoch
boundary's per-layer share is recorded from ``adali_plugins.starvation``
(threshold-free), so ``HIDDEN_THRESHOLD`` can be set above what healthy nets
show.

    OMP_NUM_THREADS=1 python scripts/starvation_shares.py --seeds 0 1 2 3
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from adali_plugins import StarvedUnitsWarning, starvation
from adali_plugins.compare import train
from adali_plugins.compare.data.datasets import load_dataset
from adali_plugins.compare.recipes import RECIPES


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hosts", nargs="+", default=["snntorch", "spikingjelly"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3])
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--placement", choices=["hidden", "all"], default="hidden")
    p.add_argument("--out", type=Path, default=None, help="JSON of every share")
    args = p.parse_args()
    torch.set_num_threads(1)
    data = load_dataset("digits")
    recipe = RECIPES["host"]
    seen: list[dict[str, Any]] = []
    original_end = starvation.end_epoch
    surrogate = "AdaLi" if args.placement == "hidden" else "AdaLi:output=adali"

    def recording_end(model: torch.nn.Module, **kw: Any) -> Any:
        found = original_end(model, **kw)
        if found:
            current["epoch"] = current.get("epoch", -1) + 1
        for s in found.values():
            seen.append(
                {
                    **current,
                    "layer": s.layer,
                    "output": s.output,
                    "units": s.units,
                    "starved": s.starved,
                }
            )
        return found

    starvation.end_epoch = recording_end  # type: ignore[assignment]
    current: dict[str, Any] = {}
    for host in args.hosts:
        for seed in args.seeds:
            current = {"host": host, "seed": seed}
            cfg = train.RunConfig(
                host=host,
                dataset="digits",
                surrogate=surrogate,
                seed=seed,
                epochs=args.epochs,
                time_steps=4,
                batch_size=recipe.batch_size,
                lr=recipe.lr,
                encoding="direct",
                channels=(16, 32),
            )
            began = time.perf_counter()
            with (
                tempfile.TemporaryDirectory() as tmp,
                warnings.catch_warnings(record=True) as caught,
            ):
                warnings.simplefilter("always", StarvedUnitsWarning)
                records = train.run(cfg, data, Path(tmp))
            starved = [
                str(w.message).split(":")[0]
                for w in caught
                if w.category is StarvedUnitsWarning
            ]
            print(
                f"{host} seed {seed}: acc {records[-1]['test_acc']:.4f} "
                f"({time.perf_counter() - began:.0f} s); StarvedUnitsWarning: "
                f"{len(starved)} {sorted(set(starved))}",
                flush=True,
            )
    print(
        f"\nplacement={args.placement}: share of starved units per layer "
        "and epoch (max over epochs, per seed; then max over seeds)"
    )
    for host in args.hosts:
        layers = sorted({r["layer"] for r in seen if r["host"] == host})
        for layer in layers:
            rows = [r for r in seen if r["host"] == host and r["layer"] == layer]
            by_seed = {}
            for r in rows:
                share = r["starved"] / r["units"]
                by_seed[r["seed"]] = max(by_seed.get(r["seed"], 0.0), share)
            per_epoch = {}
            for r in rows:
                per_epoch.setdefault(r["epoch"], []).append(r["starved"] / r["units"])
            role = "output" if rows[0]["output"] else "hidden"
            print(
                f"{host:<13}{layer:<8}{role:<7}units {rows[0]['units']:>5}  "
                f"max/seed {[round(v, 4) for v in by_seed.values()]}  "
                f"max {max(by_seed.values()):.4f}  per epoch (max over seeds) "
                f"{[round(max(v), 4) for _, v in sorted(per_epoch.items())]}"
            )
    if args.out is not None:
        args.out.write_text(json.dumps(seen, indent=1))


if __name__ == "__main__":
    main()
