"""Training recipes: how the harness trains, apart from the surrogate and the net.

``host`` is the recipe of the hosts' tutorials, the harness's default since its
first release (ours): LIF neurons with a hard reset, a spiking output layer,
cross-entropy on output spike counts, Adam at 2e-3, batch 64, no LR schedule.

``paper`` is the recipe of the authors' released code (``paran-ia/AdaLi``:
``train.py``, ``modules/neuron.py``): IF neurons with threshold 1 and a soft
reset whose spike is not detached, a non-spiking linear head whose outputs are
averaged over time, cross-entropy (or their ``mix`` loss), SGD with momentum 0.9
and weight decay 1e-4 at lr 0.1, batch 128, cosine annealing to 0 over all
epochs stepped once per epoch. The authors also report the best test accuracy
over all epochs; the harness records both the final and the best.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

NeuronKind = Literal["lif", "if"]


@dataclass(frozen=True)
class Recipe:
    """One way of training a spiking net, the surrogate aside."""

    name: str
    neuron: NeuronKind
    """``lif``: the host's LIF with a hard reset; ``if``: IF with a soft reset."""
    spiking_output: bool
    """Whether the last layer spikes (then the readout counts spikes)."""
    readout: Literal["sum", "mean"]
    """How the output is reduced over time before the loss."""
    optimizer: Literal["adam", "sgd"]
    lr: float
    batch_size: int
    momentum: float = 0.0
    weight_decay: float = 0.0
    cosine: bool = False
    """Cosine annealing of the LR to 0 over all epochs, stepped per epoch."""
    source: str = ""

    def make_optimizer(
        self, params: object, lr: float | None = None
    ) -> torch.optim.Optimizer:
        """The recipe's optimizer over ``params`` (at ``lr`` if given)."""
        rate = self.lr if lr is None else lr
        if self.optimizer == "sgd":
            return torch.optim.SGD(
                params,  # type: ignore[arg-type]
                lr=rate,
                momentum=self.momentum,
                weight_decay=self.weight_decay,
            )
        return torch.optim.Adam(params, lr=rate)  # type: ignore[arg-type]

    def make_schedule(
        self, optimizer: torch.optim.Optimizer, epochs: int
    ) -> torch.optim.lr_scheduler.LRScheduler | None:
        """The per-epoch LR schedule, or None for a constant LR."""
        if not self.cosine:
            return None
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=epochs, eta_min=0.0
        )

    def logits(self, output: torch.Tensor) -> torch.Tensor:
        """``(T, B, classes)`` network output reduced over time."""
        return output.mean(0) if self.readout == "mean" else output.sum(0)


LOSSES = ("ce", "mix")


def recipe_loss(
    logits: torch.Tensor, labels: torch.Tensor, *, loss: str, mix_lambda: float
) -> torch.Tensor:
    """Cross-entropy, or the authors' ``mix``: ``lambda * MSE(logits, one-hot) +
    (1 - lambda) * CE`` (their ``train.py``; lambda 0.05 for CIFAR10-DVS, 0.2 for
    DVS Gesture)."""
    ce = nn.functional.cross_entropy(logits, labels)
    if loss == "ce":
        return ce
    one_hot = nn.functional.one_hot(labels, logits.shape[-1]).to(logits.dtype)
    mse = nn.functional.mse_loss(logits, one_hot)
    return mix_lambda * mse + (1.0 - mix_lambda) * ce


RECIPES: dict[str, Recipe] = {
    "host": Recipe(
        name="host",
        neuron="lif",
        spiking_output=True,
        readout="sum",
        optimizer="adam",
        lr=2e-3,
        batch_size=64,
        source="ours: the hosts' tutorial recipe",
    ),
    "paper": Recipe(
        name="paper",
        neuron="if",
        spiking_output=False,
        readout="mean",
        optimizer="sgd",
        lr=0.1,
        batch_size=128,
        momentum=0.9,
        weight_decay=1e-4,
        cosine=True,
        source="the authors' released train.py and modules/neuron.py",
    ),
}
"""Recipe name -> :class:`Recipe`; ``host`` is the default."""
