"""What the starved-units check costs per training step, on both hosts.

The main command's reference conv net (digits 8x8, T=4, batch 64, channels
16/32, Adam, host recipe) with AdaLi on every spiking layer (every layer
tracked: the upper bound; ``--placement default`` as ``attach(model)`` does,
the output layer on the host's surrogate),
one training step = forward, loss, backward, optimizer step. The check on
(``adali_plugins.starvation.check = True``, the default) and off are timed in
one process, interleaved step by step in a rotating order, beside an off/off
control that shows the noise floor; a round's time per mode is the fastest of its
``--steps`` steps (other processes only ever slow a step down). Prints the median
ratio on/off over rounds and its range. One thread.

Run:  OMP_NUM_THREADS=1 python scripts/bench_starvation.py [--rounds 15 --steps 20]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from adali_plugins import attach, starvation
from adali_plugins.compare.data.datasets import load_dataset
from adali_plugins.compare.models import conv_net
from adali_plugins.compare.recipes import RECIPES, recipe_loss
from adali_plugins.compare.spec import HOST_DEFAULT, SurrogateSpec


def _step_fn(host: str, data, batch: int, time_steps: int, placement: str = "all"):
    torch.manual_seed(0)
    every = placement == "all"
    model = conv_net(
        host,
        SurrogateSpec("AdaLi" if every else HOST_DEFAULT[host]).factory(host),
        in_channels=data.channels,
        size=data.size,
        channels=(16, 32),
        classes=data.classes,
    )
    if not every:
        attach(model)  # the default: the spiking output layer keeps its own
    recipe = RECIPES["host"]
    opt = recipe.make_optimizer(model.parameters(), recipe.lr)
    gen = torch.Generator().manual_seed(0)
    x = data.encode(
        data.x_train[:batch], time_steps=time_steps, encoding="direct", generator=gen
    )
    y = data.y_train[:batch]

    def step() -> None:
        loss = recipe_loss(recipe.logits(model(x)), y, loss="ce", mix_lambda=0.05)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return model, step


def _time(step, steps: int, check: bool) -> float:
    starvation.check = check
    began = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - began) / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hosts", nargs="+", default=["snntorch", "spikingjelly"])
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--time-steps", type=int, default=4)
    p.add_argument(
        "--placement",
        choices=["default", "all"],
        default="all",
        help="AdaLi where attach(model) puts it, or on every layer (the default "
        "here: every layer tracked, the upper bound)",
    )
    args = p.parse_args()
    torch.set_num_threads(1)
    data = load_dataset("digits")
    print(
        f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"1 thread; reference conv net, digits, T={args.time_steps}, batch "
        f"{args.batch}, AdaLi placement {args.placement}; {args.rounds} rounds x "
        f"{args.steps} steps per mode"
    )
    for host in args.hosts:
        model, step = _step_fn(host, data, args.batch, args.time_steps, args.placement)
        for _ in range(5):  # warm-up, both modes
            _time(step, 1, True)
            _time(step, 1, False)
        on_off, control, per_step = [], [], []
        modes = [("on", True), ("off", False), ("off2", False)]
        for _ in range(args.rounds):
            t: dict[str, list[float]] = {"on": [], "off": [], "off2": []}
            for i in range(args.steps):  # one step per mode, rotating order
                for name, check in modes[i % 3 :] + modes[: i % 3]:
                    t[name].append(_time(step, 1, check))
            # a round's time per mode is its fastest step: on a shared machine
            # a step is only ever slowed down by other processes, never sped up
            m = {name: min(v) for name, v in t.items()}
            on_off.append(m["on"] / m["off"])
            control.append(m["off2"] / m["off"])
            per_step.append(m["off"])
        starvation.check = True
        found = starvation.starved_units(model, reset=True)
        tracked = ", ".join(f"{k} ({s.units} units)" for k, s in found.items())
        print(
            f"{host:<13} fastest step (off) median "
            f"{statistics.median(per_step) * 1e3:.2f} ms"
            f" | on/off median {statistics.median(on_off):.4f} range "
            f"[{min(on_off):.4f}, {max(on_off):.4f}] | off/off control median "
            f"{statistics.median(control):.4f} range [{min(control):.4f}, "
            f"{max(control):.4f}] | tracked: {tracked}"
        )


if __name__ == "__main__":
    main()
