"""A training run that checkpoints often; test_checkpoint.py kills and resumes it.

Usage: python resume_worker.py HOST CHECKPOINT LOSSES_OUT [--delay SECONDS]

It calibrates AdaLi on 4 batches (checkpointing between batches, monitor state
included), then trains 2 epochs with a per-iteration AdaLiScheduler,
checkpointing after every iteration. With an existing checkpoint it resumes from
it. At the end it writes every training loss, as exact float hex, to LOSSES_OUT.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
from torch import nn

import adali_plugins as ap
from adali_plugins.checkpoint import (
    load_checkpoint,
    restore_training_state,
    save_checkpoint,
    training_state,
)
from adali_plugins.compare.data.datasets import load_dataset
from adali_plugins.compare.models import conv_net

T, BATCH, EPOCHS, CALIB = 3, 128, 2, 4


def main() -> None:
    host, ckpt, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    delay = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = load_dataset("digits")
    if host == "snntorch":
        from adali_plugins.snntorch import adali as factory
    else:
        from adali_plugins.spikingjelly import AdaLi as factory
    model = conv_net(host, factory, size=8, channels=(4, 8))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    steps = -(-len(data.y_train) // BATCH)
    sched = ap.AdaLiScheduler(model, EPOCHS, steps_per_epoch=steps)
    mon = ap.MembraneMonitor(model)
    state = {"phase": "calibrate", "batch": 0, "losses": []}
    if ckpt.exists():
        state = restore_training_state(
            load_checkpoint(ckpt),
            model=model,
            optimizer=opt,
            scheduler=sched,
            monitor=mon,
        )
    order = [
        torch.randperm(len(data.y_train), generator=torch.Generator().manual_seed(e))
        for e in range(EPOCHS)
    ]

    def batch(i: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = order[i // steps][(i % steps) * BATCH : (i % steps + 1) * BATCH]
        x = data.encode(
            data.x_train[idx],
            time_steps=T,
            encoding="rate",
            generator=torch.Generator().manual_seed(1000 + i),
        )
        return x, data.y_train[idx]

    def checkpoint() -> None:
        save_checkpoint(
            ckpt,
            training_state(
                model=model, optimizer=opt, scheduler=sched, monitor=mon, **state
            ),
        )
        time.sleep(delay)

    while state["phase"] == "calibrate":
        if state["batch"] < CALIB:
            with torch.no_grad():
                model(batch(state["batch"])[0])
            state["batch"] += 1
        else:
            mon.remove()
            ap.calibrate(model, mon, mode="both")
            state = {"phase": "train", "batch": 0, "losses": []}
        checkpoint()
    mon.remove()
    while state["batch"] < EPOCHS * steps:
        x, y = batch(state["batch"])
        loss = nn.functional.cross_entropy(model(x).sum(0), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        state["losses"].append(float(loss.detach()).hex())
        state["batch"] += 1
        checkpoint()
    out.write_text("\n".join(state["losses"]) + "\n")


if __name__ == "__main__":
    main()
