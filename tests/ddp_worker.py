"""One rank of the distributed calibration test (run by test_distributed.py).

Usage: python ddp_worker.py RANK WORLD_SIZE RENDEZVOUS_FILE OUT_JSON [STATE_IN]

With WORLD_SIZE 2 each rank trains a SpikingJelly conv SNN with AdaLi under
DistributedDataParallel on its shard of the digits, saves the trained weights
(rank 0), then collects membrane statistics on its shard and calibrates. With
WORLD_SIZE 1 and STATE_IN the single process loads those weights and does the
same on the union of the shards.
"""

from __future__ import annotations

import gc
import json
import sys

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

import adali_plugins as ap
from adali_plugins.compare.data import direct_encode, load_digits_split

T, N = 4, 128


def build() -> nn.Module:
    from spikingjelly.activation_based import functional, layer, neuron

    from adali_plugins.spikingjelly import AdaLi

    torch.manual_seed(0)
    net = nn.Sequential(
        layer.Conv2d(1, 8, 3, padding=1),
        neuron.LIFNode(surrogate_function=AdaLi()),
        layer.Flatten(),
        layer.Linear(8 * 8 * 8, 10),
        neuron.LIFNode(surrogate_function=AdaLi()),
    )
    nn.init.normal_(net[3].weight, std=3.0 / net[3].in_features ** 0.5)
    functional.set_step_mode(net, "m")
    return net


def forward(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    from spikingjelly.activation_based import functional

    functional.reset_net(model)
    return model(direct_encode(x * 2, T)).mean(0)


def main() -> None:
    rank, world, rendezvous, out = (
        int(sys.argv[1]),
        int(sys.argv[2]),
        sys.argv[3],
        sys.argv[4],
    )
    state_in = sys.argv[5] if len(sys.argv) > 5 else None
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world
    )
    data = load_digits_split(seed=0)
    x_all, y_all = data.x_train[:N], data.y_train[:N]
    net = build()
    if state_in is None:
        model = DDP(net)
        try:
            ap.attach(model)
            refused = ""
        except ap.WrappedModelError as err:
            refused = str(err)
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        x, y = x_all[rank::world], y_all[rank::world]
        for i in range(0, len(y), 16):
            rates = forward(model, x[i : i + 16])
            loss = nn.functional.mse_loss(
                rates, nn.functional.one_hot(y[i : i + 16], 10).float()
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
        if rank == 0:
            torch.save(net.state_dict(), out + ".weights.pt")
    else:
        net.load_state_dict(torch.load(state_in, weights_only=True))
        model = net
        refused = None
    x = x_all if world == 1 else x_all[rank::world]
    with torch.no_grad(), ap.MembraneMonitor(model, time_steps=T) as mon:
        for i in range(0, len(x), 16):
            forward(model, x[i : i + 16])
    summary = mon.summary()
    results = ap.calibrate(model, mon, mode="both", coverage=0.8)
    with open(out, "w") as fh:
        json.dump(
            {
                "summary": [
                    {**r.flat(), "layer": r.layer.removeprefix("module.")}
                    for r in summary
                ],
                "hist": {
                    p.removeprefix("module."): mon.state(p)["hist"].tolist()
                    for p in mon.layers
                },
                "calibrated": {
                    p.removeprefix("module."): r.as_dict()
                    | {"layer": p.removeprefix("module.")}
                    for p, r in results.items()
                },
                "attach_refused": refused,
                "weights_sum": float(
                    sum(p.detach().double().sum() for p in net.parameters())
                ),
            },
            fh,
        )
    del model, mon
    gc.collect()
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
