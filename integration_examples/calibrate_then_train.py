"""Calibrate AdaLi from membrane statistics, then train, in a plain PyTorch loop.

Run:  python integration_examples/calibrate_then_train.py [--epochs 6] [--plots DIR]

Before the first epoch (and again at every epoch start) a CalibrationCallback
watches 4 batches, sets each layer's window to cover 90% of its potentials on
each side of threshold and splits the gradient mass like the potentials inside
it ("both"; our reading of the paper's automatic hyperparameters). The values it
chose are printed per layer and saved in the checkpoint with the model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from spikingjelly.activation_based import functional, layer, neuron
from torch import nn

import adali_plugins as ap
from adali_plugins.compare.data import direct_encode, load_digits_split
from adali_plugins.spikingjelly import AdaLi

T = 4


def build() -> nn.Sequential:
    net = nn.Sequential(
        layer.Conv2d(1, 16, 3, padding=1, bias=False),
        layer.BatchNorm2d(16),
        neuron.LIFNode(surrogate_function=AdaLi()),
        layer.MaxPool2d(2),
        layer.Flatten(),
        layer.Linear(16 * 4 * 4, 10),
        neuron.LIFNode(surrogate_function=AdaLi()),
    )
    functional.set_step_mode(net, "m")
    return net


def run_batch(
    model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
) -> torch.Tensor:
    functional.reset_net(model)
    return model(direct_encode(batch[0], T)).sum(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--plots", type=Path, default=None, help="write PNG plots here")
    parser.add_argument("--checkpoint", type=Path, default=None, help="save model here")
    args = parser.parse_args()
    torch.manual_seed(0)
    data = load_digits_split(seed=0)
    net = build()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    scheduler = ap.AdaLiScheduler(net, total_epochs=args.epochs)
    calib = ap.CalibrationCallback(
        net, run_batch, batches=4, mode="both", every_epoch=True, time_steps=T
    )

    def loader() -> list[tuple[torch.Tensor, torch.Tensor]]:
        idx = torch.randperm(len(data.y_train)).split(64)
        return [(data.x_train[i], data.y_train[i]) for i in idx]

    calib.on_train_start(loader())
    for epoch in range(args.epochs):
        calib.on_epoch_start(epoch, loader())
        for chosen in calib.history[-1]["results"].values():
            print(
                f"  epoch {epoch} layer {chosen.layer}: alpha {chosen.alpha:.3f} "
                f"beta {chosen.beta:.3f} [-{chosen.left:.3f}, {chosen.right:.3f}]"
            )
        for batch in loader():
            loss = nn.functional.cross_entropy(run_batch(net, batch), batch[1])
            opt.zero_grad()
            loss.backward()
            opt.step()
        scheduler.step()
        with torch.no_grad():
            pred = run_batch(net, (data.x_test, data.y_test)).argmax(1)
        print(
            f"epoch {epoch}: test accuracy {(pred == data.y_test).float().mean():.3f}"
        )
    if args.checkpoint is not None:
        state = {"model": net.state_dict(), "scheduler": scheduler.state_dict()}
        torch.save(state, args.checkpoint)
    if args.plots is not None:
        from adali_plugins.plots import plot_window_history

        args.plots.mkdir(parents=True, exist_ok=True)
        history = [(h["epoch"], h["summary"]) for h in calib.history]
        print("wrote", plot_window_history(history, args.plots / "window_history.png"))


if __name__ == "__main__":
    main()
