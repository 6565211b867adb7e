"""Which AdaLi values calibration picks per layer, for each mode, on the digits.

Run:  python integration_examples/calibrated_values_digits.py [--batches 8]

Builds the reference conv SNN of each installed host at initialisation, watches
``--batches`` batches of 64 digits (T = 4, direct encoding) and prints the alpha,
beta, left (L0) and right (R0) that ``mass``, ``window`` and ``both`` choose.
"""

from __future__ import annotations

import argparse

import torch

import adali_plugins as ap
from adali_plugins.compare.data.datasets import load_dataset
from adali_plugins.compare.models import conv_net
from adali_plugins.hosts import adapter, installed_hosts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, default=8)
    args = parser.parse_args()
    data = load_dataset("digits")
    order = torch.randperm(
        len(data.y_train), generator=torch.Generator().manual_seed(0)
    )
    batches = [
        data.encode(data.x_train[i], time_steps=4, encoding="direct")
        for i in order.split(64)
    ]
    for host in installed_hosts():
        module = adapter(host)
        factory = module.adali if host == "snntorch" else module.AdaLi
        for mode in ("mass", "window", "both"):
            torch.manual_seed(0)
            net = conv_net(host, factory, size=8)
            chosen, _ = ap.calibrate_on(
                net, batches, lambda m, x: m(x), num_batches=args.batches, mode=mode
            )
            for r in chosen.values():
                print(
                    f"{host:<13}{mode:<7}{r.layer:<12} alpha {r.alpha:.3f} "
                    f"beta {r.beta:.3f} L0 {r.left:.3f} R0 {r.right:.3f} "
                    f"(in window: {r.n_below:.0f} below, {r.n_above:.0f} above)"
                )


if __name__ == "__main__":
    main()
