"""DistributedDataParallel training with AdaLi on 2 CPU processes (gloo).

Run:  python integration_examples/ddp_two_processes.py [--epochs 3]

Each rank trains on its half of the digits. Before training, membrane statistics
are all-reduced across the ranks, so both calibrate to the same values, and the
AdaLi schedule moves identically on every rank. Buffers are synced once when
DDP wraps the model (the ranks start identical) but not before every forward:
snnTorch keeps each neuron's hidden state in a buffer whose shape follows the
batch, which must not be broadcast between ranks.
"""

from __future__ import annotations

import argparse
import inspect
import os
import tempfile

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

import adali_plugins as ap
from adali_plugins.compare.data.datasets import load_dataset
from adali_plugins.compare.models import conv_net
from adali_plugins.snntorch import adali

T = 4


def no_forward_buffer_sync() -> dict[str, bool]:
    """DDP's option for not broadcasting buffers before each forward: named
    ``forward_sync_buffers`` since torch 2.13 (``broadcast_buffers`` warns
    there as deprecated), ``broadcast_buffers`` before."""
    if "forward_sync_buffers" in inspect.signature(DDP.__init__).parameters:
        return {"forward_sync_buffers": False}
    return {"broadcast_buffers": False}


def worker(rank: int, world: int, rendezvous: str, epochs: int) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"file://{rendezvous}", rank=rank, world_size=world
    )
    torch.manual_seed(0)
    data = load_dataset("digits")
    net = conv_net("snntorch", adali, size=8, channels=(8, 16))
    model = DDP(net, **no_forward_buffer_sync())
    n = len(data.y_train) // world * world
    x, y = data.x_train[rank:n:world], data.y_train[rank:n:world]
    batches = [(x[i : i + 64], y[i : i + 64]) for i in range(0, len(y), 64)]

    def forward(m: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return m(batch[0].unsqueeze(0).expand(T, *batch[0].shape)).sum(0)

    chosen, _ = ap.calibrate_on(model, batches, forward, num_batches=4, mode="both")
    if rank == 0:
        for r in chosen.values():
            window = f"[-{r.left:.3f}, {r.right:.3f}]"
            print(f"calibrated {r.layer}: {window} alpha {r.alpha:.3f}")
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    scheduler = ap.AdaLiScheduler(model, total_epochs=epochs)
    for epoch in range(epochs):
        for batch in batches:
            loss = nn.functional.cross_entropy(forward(model, batch), batch[1])
            opt.zero_grad()
            loss.backward()
            opt.step()
        scheduler.step()
        with torch.no_grad():
            acc = forward(model, (data.x_test, data.y_test)).argmax(1) == data.y_test
            acc = acc.float().mean()
        if rank == 0:
            print(f"epoch {epoch}: test accuracy {acc:.3f}")
    del model
    dist.barrier()
    dist.destroy_process_group()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rendezvous = os.path.join(tmp, "rendezvous")
        mp.spawn(worker, args=(2, rendezvous, args.epochs), nprocs=2, join=True)


if __name__ == "__main__":
    main()
